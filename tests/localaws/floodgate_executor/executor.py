"""Runs a function's ``bootstrap`` as a host process instead of in a Docker container.

LocalStack creates one ``HostRuntimeExecutor`` per execution environment and calls ``start``
once, ``invoke`` for each event (never two at a time), and ``stop`` when the environment is
retired. The bootstrap is started in its own session (so the whole process group can be killed)
and served the Lambda Runtime API by ``runtime_api.RuntimeApi``.

What this adds over "just run the binary", because LocalStack relies on its own init for it:
- the function timeout is enforced here: a late invocation is answered with the standard
  ``Task timed out`` error and the process is killed (Lambda resets the environment too);
- a process that dies mid-invocation is reported as ``Runtime.ExitError`` instead of leaving the
  invoke waiting, and the next invocation starts a fresh process;
- the bootstrap's stdout and stderr become the invocation's logs, framed by the usual
  START / END / REPORT lines.

Results are handed back in memory as an ``InvocationResult``: the executor runs inside the
LocalStack process, so the HTTP callback endpoints that the Docker init uses are not needed.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import datetime
import json
import logging
import math
import os
import platform
import select
import signal
import subprocess
import threading
import time
from pathlib import Path

from localstack import config
from localstack.aws.api.lambda_ import Architecture, PackageType
from localstack.services.lambda_.invocation.executor_endpoint import StatusErrorException
from localstack.services.lambda_.invocation.lambda_models import (
    FunctionVersion,
    InvocationResult,
)
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from floodgate_executor.runtime_api import Invocation, RuntimeApi

LOG = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Where `scripts/local-aws` wants a record of every process we start, so `down` can kill them
# even when LocalStack died first. Unset when LocalStack was started some other way.
PID_DIR_ENV = "FLOODGATE_LAMBDA_PIDS"
# Enough for get_logs(), which LocalStack only uses to explain failed start-ups.
LOG_TAIL_CHARS = 64 * 1024


class HostRuntimeExecutor(RuntimeExecutor):
    """A LocalStack runtime executor that runs ``provided.*`` functions as host processes."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:  # noqa: A002
        super().__init__(id=id, function_version=function_version)
        # One condition for every event an invoke or start-up waits for: runtime ready,
        # invocation answered, process exited, executor stopped.
        self._changed = threading.Condition()
        self._process: _Process | None = None
        self._stopped = False
        self._env: dict[str, str] = {}
        self._log_tail = ""

    # Version lifecycle (class-level, once per function version)

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        # Raising here marks the function Failed with this message as its StateReason.
        fn = function_version.config
        problems = []
        if fn.package_type != PackageType.Zip:
            problems.append("container images are not supported, only zip packages")
        if not (fn.runtime or "").startswith("provided"):
            problems.append(
                f"runtime {fn.runtime} is not supported, only provided.* (a bootstrap executable)"
            )
        machine = platform.machine()
        if list(fn.architectures) != [Architecture.x86_64] or machine != "x86_64":
            problems.append(
                f"architectures {list(fn.architectures)} cannot run on this {machine} host"
                " (build an x86_64 zip for local use)"
            )
        if fn.layers:
            problems.append("layers are not supported")
        if problems:
            raise LambdaRuntimeException("floodgate host executor: " + "; ".join(problems))
        fn.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        # The unzipped code belongs to LocalStack's code cache, which removes it itself.
        pass

    # Environment lifecycle

    def start(self, env_vars: dict[str, str]) -> None:
        code_dir = self.function_version.config.code.get_unzipped_code_location()
        self._env = {k: str(v) for k, v in env_vars.items() if v is not None}
        # What the Lambda sandbox provides and LocalStack leaves to its (Docker) init.
        self._env.update(
            LAMBDA_TASK_ROOT=str(code_dir),
            PATH=os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            HOME=os.environ.get("HOME", "/tmp"),
        )
        error = self._spawn(config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT)
        if error is not None:
            raise StatusErrorException("Environment startup failed", payload=error)

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            process, self._process = self._process, None
            self._changed.notify_all()
        if process is not None:
            self._retire(process)

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        timeout_s = self.function_version.config.timeout
        started = time.monotonic()
        deadline = started + timeout_s

        with self._changed:
            process = self._process
        if process is not None and process.exit_code is not None:
            self._retire(process)  # it exited between invocations
            process = None
        if process is None:
            # The previous process crashed or timed out: start a fresh one, within this
            # invocation's time, as Lambda does after a reset.
            error = self._spawn(timeout_s)
            if error is not None:
                return self._result(request_id, True, error, "", time.monotonic() - started)
            with self._changed:
                process = self._process
            if process is None:
                return self._result(
                    request_id, True, _stopped_error(), "", time.monotonic() - started
                )

        init_output = process.output.take()
        invocation = Invocation(
            request_id=request_id,
            payload=payload["payload"].encode(),
            function_arn=payload["invoked-function-arn"],
            trace_id=payload.get("trace-id") or "",
            deadline_ms=int((time.time() + deadline - time.monotonic()) * 1000),
        )
        process.api.submit(invocation)
        with self._changed:
            self._changed.wait_for(
                lambda: (
                    invocation.result is not None or process.exit_code is not None or self._stopped
                ),
                timeout=max(0.0, deadline - time.monotonic()),
            )
            answered, exit_code, stopped = invocation.result, process.exit_code, self._stopped
        ended = time.monotonic()

        output = process.output.take()
        if answered is not None:
            is_error, body = answered
        elif stopped:
            is_error, body = True, _stopped_error()
        elif exit_code is not None:
            self._retire(process)
            is_error, body = True, _exit_error(exit_code, request_id)
        else:
            # Lambda resets the environment after a timeout; so do we.
            self._retire(process)
            message = f"Task timed out after {timeout_s:.2f} seconds"
            is_error = True
            body = _error("Sandbox.Timedout", f"RequestId: {request_id} Error: {message}")
            output += f"{_timestamp()} {request_id} {message}\n"
        return self._result(
            request_id, is_error, body, init_output + output, ended - started, process
        )

    # Addresses: everything runs on this host.

    def get_address(self) -> str:
        return HOST

    def get_endpoint_from_executor(self) -> str:
        return HOST

    def get_runtime_endpoint(self) -> str:
        # Only informational (LOCALSTACK_RUNTIME_ENDPOINT): results never travel over HTTP here.
        return f"http://{HOST}:{config.GATEWAY_LISTEN[0].port}/_localstack_lambda/{self.id}"

    def get_logs(self) -> str:
        with self._changed:
            process = self._process
        if process is not None:
            self._keep_tail(process.output.take())
        return self._log_tail

    # Internals

    def _spawn(self, timeout_s: float) -> bytes | None:
        """Starts a bootstrap process and waits until it asks for work.

        Returns None when it is ready, or the error payload to report when it is not (and then
        leaves no process behind).
        """
        code_dir = Path(self._env["LAMBDA_TASK_ROOT"])
        try:
            process = _Process(code_dir, self._env, self._changed)
        except OSError as e:
            return _error("Runtime.InvalidEntrypoint", f"cannot run {code_dir}/bootstrap: {e}")
        LOG.info(
            "floodgate: started %s bootstrap (pid %d)",
            self.function_version.id.function_name,
            process.pid,
        )
        with self._changed:
            self._process = process
            self._changed.wait_for(
                lambda: (
                    process.api.ready
                    or process.api.init_error is not None
                    or process.exit_code is not None
                    or self._stopped
                ),
                timeout=timeout_s,
            )
            if process.api.ready and not self._stopped:
                return None
            self._process = None
            init_error, exit_code, stopped = (
                process.api.init_error,
                process.exit_code,
                self._stopped,
            )
        self._retire(process)
        if init_error is not None:
            return init_error
        if stopped:
            return _stopped_error()
        if exit_code is not None:
            return _exit_error(exit_code)
        return _error("Sandbox.Timedout", f"Runtime did not start within {timeout_s} seconds")

    def _retire(self, process: _Process) -> None:
        process.kill()
        self._keep_tail(process.output.take())
        with self._changed:
            if self._process is process:
                self._process = None

    def _keep_tail(self, text: str) -> None:
        self._log_tail = (self._log_tail + text)[-LOG_TAIL_CHARS:]

    def _result(
        self,
        request_id: str,
        is_error: bool,
        body: bytes,
        output: str,
        duration_s: float,
        process: _Process | None = None,
    ) -> InvocationResult:
        duration_ms = duration_s * 1000
        fn = self.function_version.config
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms"
            f"\tBilled Duration: {math.ceil(duration_ms)} ms\tMemory Size: {fn.memory_size} MB"
        )
        if process is not None and (peak := process.peak_memory_mb()) is not None:
            report += f"\tMax Memory Used: {peak} MB"
        if output and not output.endswith("\n"):
            output += "\n"
        self._keep_tail(output)
        logs = (
            f"START RequestId: {request_id} Version: {self.function_version.id.qualifier}\n"
            f"{output}END RequestId: {request_id}\n{report}\n"
        )
        return InvocationResult(request_id=request_id, payload=body, is_error=is_error, logs=logs)


class _Process:
    """One running bootstrap: the child process, its Runtime API and its output."""

    def __init__(self, code_dir: Path, env: dict[str, str], changed: threading.Condition):
        self._changed = changed
        self.api = RuntimeApi(changed)
        self.exit_code: int | None = None
        try:
            self._popen = subprocess.Popen(
                [str(code_dir / "bootstrap")],
                cwd=code_dir,
                env={**env, "AWS_LAMBDA_RUNTIME_API": self.api.address},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one
            )
        except OSError:
            self.api.close()
            raise
        self.pid = self._popen.pid
        self._peak_mb: int | None = None
        self.output = _Output(self._popen.stdout)
        self._record = _record_pid(self.pid)
        threading.Thread(target=self._reap, name=f"floodgate-reap-{self.pid}", daemon=True).start()

    def _reap(self) -> None:
        code = self._popen.wait()
        with self._changed:
            self.exit_code = code
            self._changed.notify_all()

    def peak_memory_mb(self) -> int | None:
        """The process's peak resident memory (VmHWM), remembered once it is gone."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return math.ceil(int(line.split()[1]) / 1024)
        except (OSError, ValueError):
            pass
        return self._peak_mb

    def kill(self) -> None:
        """Kills the whole process group, waits for the bootstrap, and stops its API."""
        self._peak_mb = self.peak_memory_mb()
        with contextlib.suppress(ProcessLookupError):  # already gone, children included
            os.killpg(self.pid, signal.SIGKILL)
        self._popen.wait()
        self.api.close()
        if self._record is not None:
            self._record.unlink(missing_ok=True)


class _Output:
    """Collects a process's combined stdout/stderr; ``take`` returns what arrived since last time.

    ``take`` also reads whatever is already in the pipe, so a line the function printed just
    before it answered is never left behind for the next invocation.
    """

    def __init__(self, pipe) -> None:
        self._pipe = pipe
        self._fd = pipe.fileno()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lock = threading.Lock()
        self._chunks: collections.deque[str] = collections.deque()
        self._eof = False
        threading.Thread(target=self._pump, name="floodgate-output", daemon=True).start()

    def take(self) -> str:
        with self._lock:
            self._read_available()
            text = "".join(self._chunks)
            self._chunks.clear()
            return text

    def _pump(self) -> None:
        while True:
            select.select([self._fd], [], [], 1.0)
            with self._lock:
                if not self._read_available():
                    self._pipe.close()
                    return

    def _read_available(self) -> bool:
        """Reads without blocking; False once the pipe is at end of file. Caller holds the lock."""
        while not self._eof and select.select([self._fd], [], [], 0)[0]:
            data = os.read(self._fd, 65536)
            if not data:
                self._eof = True
            self._chunks.append(self._decoder.decode(data, final=not data))
        return not self._eof


def _record_pid(pid: int) -> Path | None:
    directory = os.environ.get(PID_DIR_ENV)
    if not directory:
        return None
    record = Path(directory) / str(pid)
    try:
        # The start time guards `down` against killing an unrelated process that reused the PID.
        stat = Path(f"/proc/{pid}/stat").read_text()
        started = stat.rsplit(")", 1)[1].split()[19]
        record.write_text(f"{pid} {started}\n")
    except OSError as e:
        LOG.warning("floodgate: cannot record lambda pid %d in %s: %s", pid, directory, e)
        return None
    return record


def _exit_error(code: int, request_id: str | None = None) -> bytes:
    # Lambda describes exits the way Go's os/exec does: "exit status 1", "signal: aborted".
    if code >= 0:
        how = f"exit status {code}"
    else:
        how = f"signal: {(signal.strsignal(-code) or str(-code)).lower()}"
    message = f"Runtime exited with error: {how}"
    if request_id is not None:
        message = f"RequestId: {request_id} Error: {message}"
    return _error("Runtime.ExitError", message)


def _stopped_error() -> bytes:
    return _error("Runtime.Stopped", "the execution environment was stopped")


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def _timestamp() -> str:
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
