"""Start and stop the `local-bigquery` BigQuery emulator as a child process, for tests.

BigQuery has no official local emulator; `local-bigquery` (PyPI, 0.4.0) serves BigQuery's REST
API on top of DuckDB, and dlt's `bigquery` destination loads, merges and queries through it
(FINDINGS, "BigQuery without the cloud"). The recipe, and why each step is there:

- It needs Python >= 3.13 while this project runs on 3.11, so it lives in its own virtualenv,
  `.bqenv`, built by `make bigquery-emulator` from `bigquery-emulator.lock`.
- It runs offline: local-bigquery 0.4.0 asks for duckdb >= 2.0, but the lock holds duckdb 1.5.5
  because DuckDB's extensions are on PyPI for 1.5.5 (`duckdb-extension-ducklake`, `-icu`,
  `-spatial`). The make target copies them to `.bqenv/home/.duckdb/extensions/v1.5.5/linux_amd64/`
  and the emulator runs with `HOME=.bqenv/home`, so DuckDB finds them there and never tries to
  download one. Without spatial (which the FINDINGS recipe lacked) every request fails with
  HTTP 400 "Failed to download extension "spatial"".
- `local-bigquery serve` binds 0.0.0.0 and writes to /data unless told, so `start()` passes
  `--host 127.0.0.1`, two free ports (REST and gRPC) and a temporary `--data-dir`. It is ready in
  about 3 s, once `GET /bigquery/v2/projects/<project>/datasets` answers 200 (an HTTP error there
  means it started but cannot work, and `start()` fails at once with the answer and the log).
- Clients reach it through `BIGQUERY_EMULATOR_HOST=http://127.0.0.1:<port>` (google-cloud-bigquery
  reads it when a client is created; the `http://` is required), and dlt must not gzip its load
  files (`DATA_WRITER__DISABLE_COMPRESSION=true`): the emulator cannot read gzipped uploads. dlt
  rejects `AnonymousCredentials`, so `destination()` gives it an OAuth token nobody checks.

Its SQL is DuckDB underneath and more lenient than BigQuery: a pass on the emulator is
necessary, not sufficient (see `pipelines.runtime.transpile.bigquery_problems`). One gap runs the
other way: dlt's
`sql_client.begin_transaction()` fails at commit, because dlt sends `COMMIT TRANSACTION;CALL
BQ.ABORT_SESSION()` and the emulator knows that CALL only as a query of its own; a one-query
script `BEGIN TRANSACTION; ...; COMMIT TRANSACTION;` works and is atomic
(tests/emulators/test_bigquery_emulator.py shows both).

    with LocalBigQuery() as bigquery:
        os.environ.update(bigquery.client_env())
        pipeline = dlt.pipeline(destination=bigquery.destination(), dataset_name="raw")
        pipeline.run(rows, table_name="calls")
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any, Self

ROOT = Path(__file__).resolve().parents[1]
BQENV = ROOT / ".bqenv"
EXECUTABLE = BQENV / "bin" / "local-bigquery"
HOME = BQENV / "home"
STAMP = BQENV / ".installed"
PROJECT = "test-project"
LOCATION = "US"
MISSING = (
    f"the local-bigquery emulator is not installed in {BQENV}: run `make bigquery-emulator` "
    "(it needs Python 3.13, through pyenv or on PATH)"
)

_POLL_INTERVAL = 0.1
_STOP_TIMEOUT = 10.0
_LOG_TAIL_CHARS = 4000


class EmulatorNotInstalled(RuntimeError):
    """`.bqenv` is missing or incomplete; `make bigquery-emulator` builds it."""


class EmulatorFailed(RuntimeError):
    """The emulator exited, answered with an error or did not answer in time while starting."""


def available() -> bool:
    """Whether `make bigquery-emulator` has built the emulator's virtualenv."""
    return STAMP.is_file() and os.access(EXECUTABLE, os.X_OK)


def require() -> None:
    """Raise `EmulatorNotInstalled`, naming `make bigquery-emulator`, unless `available()`."""
    if not available():
        raise EmulatorNotInstalled(MISSING)


class LocalBigQuery:
    """One `local-bigquery serve` process on 127.0.0.1, with its own data directory.

    Args:
        workdir: Where the data directory and the log go. None means a new temporary directory,
            removed by `stop()`; a given one is left in place.
        project: The emulator's default project, which clients name as their project id.
        timeout: Seconds `start()` waits for the emulator to answer.
    """

    def __init__(
        self, workdir: Path | None = None, *, project: str = PROJECT, timeout: float = 30.0
    ) -> None:
        self._workdir = workdir
        self._owns_workdir = workdir is None
        self._project = project
        self._timeout = timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._port = 0
        self._grpc_port = 0

    @property
    def project(self) -> str:
        return self._project

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The REST endpoint, as `BIGQUERY_EMULATOR_HOST` wants it (scheme included)."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def pid(self) -> int | None:
        """The process id while the emulator runs, else None."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("the emulator has not been started")
        return self._workdir / "local-bigquery.log"

    def start(self) -> Self:
        """Start the emulator and return once it answers, or raise with the tail of its log.

        Raises:
            EmulatorNotInstalled: `.bqenv` is missing; run `make bigquery-emulator`.
            EmulatorFailed: It exited, answered with an HTTP error or did not answer in time.
        """
        require()
        if self._process is not None:
            raise RuntimeError("the emulator is already running")
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="local-bigquery-"))
        data_dir = self._workdir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        self._port, self._grpc_port = _free_ports(2)
        # The 3.11 project venv must not leak into the emulator's 3.13 interpreter.
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
        }
        env["HOME"] = str(HOME)
        # Open for the life of the process, not a with-block: stop() closes it.
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        # A session of its own: a Ctrl-C at the test runner is the runner's to handle, and stop()
        # then ends the emulator by its pid.
        self._process = subprocess.Popen(
            [
                str(EXECUTABLE),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self._port),
                "--grpc-port",
                str(self._grpc_port),
                "--project",
                self._project,
                "--data-dir",
                str(data_dir),
            ],
            cwd=self._workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop(remove_workdir=False)
            raise
        return self

    def stop(self, *, remove_workdir: bool | None = None) -> None:
        """Terminate the process by its pid, kill it if it lingers, and wait for it. Idempotent.

        Args:
            remove_workdir: Remove the data and log too; by default only a temporary directory
                that `start()` created.
        """
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        if remove_workdir is None:
            remove_workdir = self._owns_workdir
        if remove_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            if self._owns_workdir:
                self._workdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def client_env(self) -> dict[str, str]:
        """The environment variables a client process (google-cloud-bigquery, dlt) needs."""
        return {
            "BIGQUERY_EMULATOR_HOST": self.url,
            "DATA_WRITER__DISABLE_COMPRESSION": "true",
        }

    def destination(self, **kwargs: Any) -> Any:
        """dlt's bigquery destination for this emulator; set `client_env()` before using it.

        Args:
            kwargs: More arguments for `dlt.destinations.bigquery`.
        """
        import dlt
        from google.oauth2.credentials import Credentials

        credentials = Credentials(token="emulator", quota_project_id=self._project)
        return dlt.destinations.bigquery(
            credentials=credentials, project_id=self._project, location=LOCATION, **kwargs
        )

    def log_tail(self, chars: int = _LOG_TAIL_CHARS) -> str:
        """The end of the emulator's output, for error messages."""
        if self._log is not None:
            self._log.flush()
        try:
            text = self.log_path.read_bytes()[-chars:].decode(errors="replace")
        except (OSError, RuntimeError):
            return "(no log)"
        return text or "(empty log)"

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        url = f"{self.url}/bigquery/v2/projects/{self._project}/datasets"
        deadline = time.monotonic() + self._timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise EmulatorFailed(
                    f"local-bigquery exited with code {code} while starting; its log "
                    f"({self.log_path}) ends with:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as error:
                # It listens but cannot serve, e.g. a DuckDB extension it would have to download.
                body = error.read(_LOG_TAIL_CHARS).decode(errors="replace")
                raise EmulatorFailed(
                    f"local-bigquery answered HTTP {error.code} to {url}: {body}\n"
                    f"its log ({self.log_path}) ends with:\n{self.log_tail()}"
                ) from None
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() >= deadline:
                raise EmulatorFailed(
                    f"local-bigquery did not answer {url} within {self._timeout:g} s; its log "
                    f"({self.log_path}) ends with:\n{self.log_tail()}"
                )
            time.sleep(_POLL_INTERVAL)


def _free_ports(count: int) -> list[int]:
    """Ports free right now, all different (sockets held open together until all are chosen)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
