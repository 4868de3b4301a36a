"""Fast checks of the Lambda Runtime API server, without LocalStack.

Run: .local-aws/venv/bin/python -m unittest discover -s tests/localaws
(``make test`` does). The executor as a whole is tested through LocalStack by the Rust tests in
``tests/tests/lambda_executor.rs``.
"""

import http.client
import threading
import unittest

from floodgate_executor.runtime_api import PREFIX, Invocation, RuntimeApi


class RuntimeApiTest(unittest.TestCase):
    def setUp(self) -> None:
        self.changed = threading.Condition()
        self.api = RuntimeApi(self.changed)
        self.addCleanup(self.api.close)
        host, port = self.api.address.split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=5)
        self.addCleanup(self.conn.close)

    def request(self, method: str, path: str, body: bytes = b"") -> http.client.HTTPResponse:
        self.conn.request(method, PREFIX + path, body=body)
        response = self.conn.getresponse()
        response.body = response.read()
        return response

    def submit(self, request_id: str, payload: bytes = b'{"n": 1}') -> Invocation:
        invocation = Invocation(
            request_id=request_id,
            payload=payload,
            function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
            trace_id="Root=1-5e1b4151-5ac6c58f5e4e4b4b4b4b4b4b",
            deadline_ms=1_700_000_000_000,
        )
        self.api.submit(invocation)
        return invocation

    def test_next_hands_over_the_event_with_the_lambda_runtime_headers(self) -> None:
        self.submit("req-1", b'{"hello": "world"}')

        response = self.request("GET", "/invocation/next")

        self.assertEqual(response.status, 200)
        self.assertEqual(response.body, b'{"hello": "world"}')
        self.assertEqual(response.getheader("Lambda-Runtime-Aws-Request-Id"), "req-1")
        self.assertEqual(response.getheader("Lambda-Runtime-Deadline-Ms"), "1700000000000")
        self.assertEqual(
            response.getheader("Lambda-Runtime-Invoked-Function-Arn"),
            "arn:aws:lambda:us-east-1:000000000000:function:f",
        )
        self.assertTrue(self.api.ready)

    def park_next(self) -> tuple[threading.Thread, list[http.client.HTTPResponse]]:
        """Starts a ``/next`` request in the background and waits until the server holds it."""
        answers: list[http.client.HTTPResponse] = []
        poller = threading.Thread(
            target=lambda: answers.append(self.request("GET", "/invocation/next"))
        )
        poller.start()
        with self.changed:
            self.assertTrue(self.changed.wait_for(lambda: self.api.ready, timeout=5))
        return poller, answers

    def test_next_waits_until_an_event_is_submitted(self) -> None:
        poller, answers = self.park_next()
        self.assertEqual(answers, [], "answered before any event existed")

        self.submit("req-2")
        poller.join(timeout=5)

        self.assertEqual(answers[0].getheader("Lambda-Runtime-Aws-Request-Id"), "req-2")

    def test_responses_and_errors_are_recorded_on_the_invocation(self) -> None:
        ok = self.submit("req-ok")
        self.request("GET", "/invocation/next")
        self.assertEqual(self.request("POST", "/invocation/req-ok/response", b'"done"').status, 202)
        self.assertEqual(ok.result, (False, b'"done"'))

        failed = self.submit("req-err")
        self.request("GET", "/invocation/next")
        error = b'{"errorType": "Boom", "errorMessage": "no"}'
        self.assertEqual(self.request("POST", "/invocation/req-err/error", error).status, 202)
        self.assertEqual(failed.result, (True, error))

    def test_an_answer_for_an_invocation_not_in_flight_is_rejected(self) -> None:
        self.submit("req-3")
        self.request("GET", "/invocation/next")

        response = self.request("POST", "/invocation/someone-else/response", b"{}")

        self.assertEqual(response.status, 400)
        self.assertIn(b"InvalidRequestID", response.body)

    def test_an_init_error_is_kept_for_the_executor(self) -> None:
        body = b'{"errorType": "Runtime.Config", "errorMessage": "missing env"}'

        self.assertEqual(self.request("POST", "/init/error", body).status, 202)

        self.assertEqual(self.api.init_error, body)

    def test_closing_releases_a_parked_next_request(self) -> None:
        poller, answers = self.park_next()

        self.api.close()
        poller.join(timeout=5)

        self.assertFalse(poller.is_alive())
        self.assertEqual(answers[0].status, 410)


if __name__ == "__main__":
    unittest.main()
