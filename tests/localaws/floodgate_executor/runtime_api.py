"""The Lambda Runtime API (2018-06-01), served to one bootstrap process.

A custom runtime (``provided.*``) pulls its work from this API: ``GET
/2018-06-01/runtime/invocation/next`` long-polls for the next event, and the runtime answers with
``POST .../invocation/<id>/response`` or ``.../invocation/<id>/error``, or reports a failed
start-up with ``POST .../runtime/init/error``. See
https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html.

Each bootstrap process gets its own server on its own port. A killed process may leave a
``/next`` request parked in the server; because the server dies with the process, that request
can never take an invocation meant for its successor.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


@dataclasses.dataclass
class Invocation:
    """One event handed to the runtime, and what it answered."""

    request_id: str
    payload: bytes
    function_arn: str
    trace_id: str
    deadline_ms: int
    # (is_error, body) once the runtime has answered.
    result: tuple[bool, bytes] | None = None


class RuntimeApi:
    """Runtime API state for one bootstrap process.

    All state lives under ``changed``, a condition shared with the executor, which waits on it
    for "ready", "answered", "process exited" and "stopped" alike.
    """

    def __init__(self, changed: threading.Condition) -> None:
        self.changed = changed
        self.ready = False  # the runtime asked for its first event
        self.init_error: bytes | None = None
        self._pending: Invocation | None = None  # queued, not yet fetched
        self._current: Invocation | None = None  # fetched, not yet answered
        self._closed = False
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="floodgate-runtime-api",
            daemon=True,
        )
        self._thread.start()

    @property
    def address(self) -> str:
        """``host:port`` for ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def submit(self, invocation: Invocation) -> None:
        """Queues an event for the runtime's next ``/next`` request."""
        with self.changed:
            self._pending = invocation
            self.changed.notify_all()

    def close(self) -> None:
        """Stops serving and releases any parked ``/next`` request."""
        with self.changed:
            self._closed = True
            self.changed.notify_all()
        self._server.shutdown()
        self._server.server_close()

    # Called from the HTTP handler threads.

    def _next(self) -> Invocation | None:
        with self.changed:
            self.ready = True
            self.changed.notify_all()
            self.changed.wait_for(lambda: self._pending is not None or self._closed)
            if self._closed:
                return None
            self._current, self._pending = self._pending, None
            return self._current

    def _answer(self, request_id: str, is_error: bool, body: bytes) -> bool:
        with self.changed:
            current = self._current
            if current is None or current.request_id != request_id:
                return False
            current.result = (is_error, body)
            self._current = None
            self.changed.notify_all()
            return True

    def _init_failed(self, body: bytes) -> None:
        with self.changed:
            self.init_error = body
            self.changed.notify_all()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a runtime killed mid-request is expected here, not worth a traceback


def _handler_for(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive: the Rust runtime reuses one connection for /next and the answers.
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path != f"{PREFIX}/invocation/next":
                self._reply(HTTPStatus.NOT_FOUND, _error("NotFound", self.path))
                return
            invocation = api._next()
            if invocation is None:
                self._reply(HTTPStatus.GONE, _error("Shutdown", "execution environment stopped"))
                return
            self._reply(
                HTTPStatus.OK,
                invocation.payload,
                {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                    "Lambda-Runtime-Trace-Id": invocation.trace_id,
                },
            )

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = self.path.removeprefix(PREFIX).strip("/").split("/")
            match parts:
                case ["init", "error"]:
                    api._init_failed(body)
                    self._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')
                case ["invocation", request_id, ("response" | "error") as outcome]:
                    if api._answer(request_id, outcome == "error", body):
                        self._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')
                    else:
                        self._reply(
                            HTTPStatus.BAD_REQUEST,
                            _error("InvalidRequestID", f"no invocation {request_id} in flight"),
                        )
                case _:
                    self._reply(HTTPStatus.NOT_FOUND, _error("NotFound", self.path))

        def _reply(self, status: HTTPStatus, body: bytes, headers: dict[str, str] | None = None):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # one line per request would drown LocalStack's log

    return Handler


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()
