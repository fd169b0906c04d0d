"""Where a run's words go: one-line log records on stderr, tracebacks in a debug log.

A scheduled run's output is read by a person (cron's mail, a log viewer): it holds log lines
and the closing summary, never a traceback. Every record, with its traceback, also goes to
`debug.log` in the pipelines folder, rotated (`DEBUG_LOG_BYTES`, `DEBUG_LOG_BACKUPS`) so it
cannot grow without bound; a failed command names it ("Details in ..."). When that folder
cannot be written (read-only, full, a file in the way), the debug log moves to the
temporary folder, and the command names that one. URL tokens, passwords in URLs and the
configured secrets are masked in it, as everywhere else.

Tracebacks reach stderr through five doors, each closed here: dlt's logger (its own stderr
handler; dlt logs a failed load job with its traceback, and its retry warning quotes the
whole traceback), logging's `lastResort` (a record no handler takes), `threading.excepthook`
(a thread that dies), `sys.excepthook` (an exception nobody caught) and
`sys.unraisablehook` ("Exception ignored in ..."). Python's warnings become log records too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType
from typing import Any

from dlt.common.configuration.specs.base_configuration import is_secret_hint

from pipelines.runtime import settings

DEBUG_LOG = "debug.log"
DEBUG_LOG_BYTES = 5 << 20
DEBUG_LOG_BACKUPS = 2
TRACEBACK = "Traceback (most recent call last):"
# Shorter values are not masked: every "p" of every word would be.
MIN_SECRET_CHARS = 4
# Longest line a record becomes on stderr.
LINE_CHARS = 1000
_TOKEN = re.compile(r"((?:access_token|api_key|apikey|password)=)[^&\s'\"]+", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)[^/\s@]+@")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%SZ"
log = logging.getLogger("pipelines")
_debug_log: DebugLog | None = None


def configure() -> None:
    """Send records to stderr as one line each and, with tracebacks, to the debug log.

    Safe to call again (the tests run the CLI many times in one process): the handlers of
    an earlier call are replaced, and stderr is looked up at each record. The process-wide
    hooks are `install_hooks`'.
    """
    global _debug_log, _SECRETS
    _SECRETS = None  # read again: the settings may have changed since an earlier call
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrLines | DebugLog)]:
        root.removeHandler(old)
        old.close()
    _debug_log = DebugLog([p for p in (_pipelines_debug_log(), _fallback_debug_log()) if p])
    root.addHandler(_StderrLines(logging.INFO))
    root.addHandler(_debug_log)
    root.setLevel(logging.INFO)
    log.setLevel(logging.DEBUG)  # our debug records (e.g. a failed run's traceback) too
    dlt_logger = logging.getLogger("dlt")
    for earlier in list(dlt_logger.handlers):
        dlt_logger.removeHandler(earlier)
    dlt_logger.addHandler(_ToRoot())
    dlt_logger.propagate = False
    dlt_logger.setLevel(logging.WARNING)


def install_hooks() -> None:
    """Make the process's last-resort outputs log records too: an exception nobody caught,
    one that ends a thread, one Python could not raise, a record no handler takes, and
    warnings. For the CLI's own process only: in a test run they are pytest's."""
    logging.lastResort = _StderrLines(logging.WARNING)
    logging.captureWarnings(True)
    sys.excepthook = _uncaught
    threading.excepthook = _thread_died
    sys.unraisablehook = _unraisable


def details() -> str:
    """' Details in <debug log>.' once a traceback is in it; '' when none was written."""
    if _debug_log is None or _debug_log.traceback_in is None:
        return ""
    return f" Details in {_debug_log.traceback_in.absolute()}."


def record(error: BaseException, what: str) -> None:
    """Put `error`'s traceback in the debug log (not on stderr)."""
    log.debug("%s", what, exc_info=error)


class _StderrLines(logging.Handler):
    """Each record as one line on the stderr of the moment, without its traceback."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stamp = time.strftime(_TIME_FORMAT, time.gmtime(record.created))
            ours = record.name.split(".")[0] in ("pipelines", "root")
            source = "" if ours else f"{record.name}: "
            line = f"{stamp} {record.levelname} {source}{one_line(record)}"
            sys.stderr.write(_redact(line) + "\n")
            sys.stderr.flush()
        except Exception:  # a closed stderr must not turn into a traceback on it
            pass


def one_line(record: logging.LogRecord) -> str:
    """The record's message on one line: a quoted traceback becomes its last line, and an
    attached exception its type and first line."""
    message = record.getMessage()
    head, marker, trace = message.partition(TRACEBACK)
    words = " ".join(line.strip() for line in head.splitlines() if line.strip())
    if marker:
        words = f"{words} {_exception_line(trace)}".strip()
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        first = next(iter(str(error).splitlines()), "")
        words = f"{words} ({type(error).__name__}: {first})"
    return words if len(words) <= LINE_CHARS else words[: LINE_CHARS - 3] + "..."


def _exception_line(trace: str) -> str:
    """The 'Type: message' line that ends a traceback's text."""
    lines = [line for line in trace.splitlines() if line.strip()]
    unindented = [line for line in lines if not line.startswith(" ")]
    return (unindented or lines or [""])[-1].strip()


class DebugLog(logging.Handler):
    """Every record, with its traceback and masked, into the first of `paths` that can be
    written, rotated; the next path when one fails (a full or read-only folder)."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__(logging.DEBUG)
        self.paths = paths
        self.file: _RotatingFile | None = None
        self.traceback_in: Path | None = None  # the file holding this process's traceback
        self.setFormatter(_DebugFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        while self.paths:
            try:
                if self.file is None:
                    self.paths[0].parent.mkdir(parents=True, exist_ok=True)
                    self.file = _RotatingFile(self.paths[0])
                    self.file.setFormatter(self.formatter)
                self.file.emit(record)
            except OSError:
                self._drop_file()
                self.paths.pop(0)
                continue
            if record.exc_info or TRACEBACK in record.getMessage():
                self.traceback_in = self.paths[0]
            return

    def close(self) -> None:
        self._drop_file()
        super().close()

    def _drop_file(self) -> None:
        if self.file is not None:
            with contextlib.suppress(OSError):  # a full disk fails the last flush too
                self.file.close()
            self.file = None


class _RotatingFile(RotatingFileHandler):
    """A rotating file whose write errors reach `DebugLog`, which moves on to the next path."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            path, maxBytes=DEBUG_LOG_BYTES, backupCount=DEBUG_LOG_BACKUPS, encoding="utf-8"
        )

    def handleError(self, record: logging.LogRecord) -> None:
        raise  # called inside `emit`'s except: the OSError goes on to `DebugLog`


class _DebugFormatter(logging.Formatter):
    """A record with its process, thread, logger and traceback; secrets masked."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(process)d %(threadName)s %(name)s %(levelname)s %(message)s",
            _TIME_FORMAT,
        )
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        return _redact(super().format(record))


class _ToRoot(logging.Handler):
    """dlt's logger does not propagate, and dlt sets its own format on the logger's first
    handler: this one keeps ours and hands every record to the root's handlers."""

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        pass  # dlt's format, with its tracebacks, is not the one wanted here

    def emit(self, record: logging.LogRecord) -> None:
        for handler in logging.getLogger().handlers:
            if record.levelno >= handler.level:
                handler.handle(record)


def _uncaught(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    what = "interrupted" if issubclass(kind, KeyboardInterrupt) else "stopped by an error"
    log.critical("python -m pipelines %s", what, exc_info=(kind, error, trace))
    if details():
        sys.stderr.write(details().strip() + "\n")


def _thread_died(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread else "a thread"
    log.error(
        "thread %s stopped", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
    )


def _unraisable(unraisable: Any) -> None:
    if unraisable.exc_value is None:
        return
    log.warning(
        "%s %r",
        unraisable.err_msg or "Exception ignored in",
        unraisable.object,
        exc_info=(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback),
    )


def _pipelines_debug_log() -> Path | None:
    """debug.log in the pipelines folder (not created here); None when that setting is bad."""
    try:
        folder = settings.resolve(settings.SyncConfig).pipelines_dir
    except settings.SettingError:
        return None
    return Path(folder).expanduser() / DEBUG_LOG


def _fallback_debug_log() -> Path:
    return Path(tempfile.gettempdir()) / f"callsync-{os.getuid()}-{DEBUG_LOG}"


def _redact(text: str) -> str:
    text = _URL_PASSWORD.sub(r"\1***@", _TOKEN.sub(r"\1***", text))
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text


_SECRETS: list[str] | None = None
_SECRETS_LOCK = threading.RLock()


def _secrets() -> list[str]:
    """The configured secrets' values, read once per process (on the first record)."""
    global _SECRETS
    with _SECRETS_LOCK:
        if _SECRETS is None:
            _SECRETS = []  # set first: resolving may log, which lands here again
            _SECRETS = _configured_secrets()
        return _SECRETS


def _configured_secrets() -> list[str]:
    found = []
    for spec in settings.SECTIONS.values():
        try:
            values = settings.resolve(spec)
        except Exception:  # an invalid section: the run reports it; nothing to mask
            continue
        for name, hint in spec.get_resolvable_fields().items():
            value = getattr(values, name, None)
            if is_secret_hint(hint) and value and len(str(value)) >= MIN_SECRET_CHARS:
                found.append(str(value))
    return sorted(set(found), key=len, reverse=True)  # longest first: no partial masks
