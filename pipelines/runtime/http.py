"""The HTTP session every source uses: dlt's retry rules with a floor and a total bound.

dlt's `Client` retries 429, 5xx, timeouts and dropped connections and honours `Retry-After`,
but takes `Retry-After: 0` literally, which spins through every attempt at once (dlt issue
4036), and bounds retries by count only. The session built here keeps dlt's retry conditions
and wait strategy and adds a minimum wait and a ceiling on the total time spent retrying one
request. Each setting is declared once, in `RetryPolicy`.

When the retries give up without an answer, the session raises `Unreachable`, whose message
names the source or target, the host, why (connection refused, host not found, timed out,
connection dropped) and the attempts made over how long: "infinity: cannot reach
127.0.0.1:1234 (connection refused) after 4 attempts over 7 s". It names the request's path,
never its query string, which can carry a token (Footprints).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import RemoteDisconnected
from typing import Any
from urllib.parse import urlsplit

from dlt.sources.helpers.requests.retry import (
    DEFAULT_RETRY_EXCEPTIONS,
    DEFAULT_RETRY_STATUS,
    retry_if_status,
    wait_exponential_retry_after,
)
from dlt.sources.helpers.requests.session import Session
from requests import PreparedRequest, Response
from requests.exceptions import (
    ChunkedEncodingError,
    ConnectionError,
    ConnectTimeout,
    RequestException,
    SSLError,
    Timeout,
)
from tenacity import (
    RetryCallState,
    Retrying,
    retry_any,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)
from urllib3.exceptions import NameResolutionError, NewConnectionError

from pipelines.runtime import settings
from pipelines.runtime.settings import SyncError

# requests reads a body 10 KiB at a time; for pages of 20 MB that costs more than the
# transfer itself.
BODY_READ_BYTES = 1 << 20
# Where the session notes on an answer how many attempts it took (see `tries`).
_TRIES = "_callsync_tries"
# The failures in which no answer came: the ones `Unreachable` describes.
_NO_ANSWER = (ConnectionError, Timeout, ChunkedEncodingError)


@dataclass(frozen=True)
class RetryPolicy:
    """How one request is retried; read from the `[http]` config section (its defaults too)."""

    timeout: float
    max_attempts: int
    min_delay: float
    max_delay: float
    max_total: float

    @classmethod
    def from_config(cls) -> RetryPolicy:
        spec = settings.HttpConfig
        raw = settings.resolve(spec)

        def seconds(name: str, minimum: float = 0.0) -> float:
            return float(settings.bounded(spec, name, getattr(raw, name), minimum=minimum))

        return cls(
            timeout=seconds("timeout_seconds", minimum=0.1),
            max_attempts=settings.bounded(spec, "max_attempts", raw.max_attempts, minimum=1),
            min_delay=seconds("min_retry_delay_seconds"),
            max_delay=seconds("max_retry_delay_seconds"),
            max_total=seconds("max_retry_total_seconds"),
        )


class _LargeReadSession(Session):
    """dlt's session (timeouts, no raise on status), reading bodies in large pieces.

    The body is still read inside `send`, so a connection dropped mid-body is retried.
    """

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:
        stream = kwargs.pop("stream", False)
        response = super().send(request, stream=True, **kwargs)
        if not stream:
            response._content = b"".join(response.iter_content(BODY_READ_BYTES))
        return response


class Unreachable(SyncError):
    """A request got no answer, after every attempt its session makes; the message says
    who, where, why and how often."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent  # the server may have received the request

    @classmethod
    def of(
        cls,
        name: str,
        request: PreparedRequest,
        error: RequestException,
        attempts: int,
        seconds: float,
        timeout: float,
    ) -> Unreachable:
        sent = not never_sent(error)
        how = "no answer from" if sent else "cannot reach"
        path = urlsplit(request.url or "").path or "/"
        return cls(
            f"{name}: {how} {_host(request.url or '')} ({_reason(error, timeout)}) "
            f"{_tries(attempts, seconds)}, at {request.method} {path}.",
            sent=sent,
        )


def tries(response: Response) -> str:
    """Where an answer came from and after how many attempts, for the message of a failure:
    "127.0.0.1:1234 after 6 attempts over 31 s"."""
    return f"{_host(response.url or '')} {getattr(response, _TRIES, 'after retries')}"


def _tries(attempts: int, seconds: float) -> str:
    return f"after {attempts} attempt{'s' * (attempts != 1)} over {round(seconds, 1):g} s"


def _host(url: str) -> str:
    """host:port of a URL, without the user name and password it may carry."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port}" if parts.port else host


def _reason(error: RequestException, timeout: float) -> str:
    """Why a request got no answer, in the words of the operator's trade."""
    if isinstance(error, ConnectTimeout):
        return f"connecting timed out after {timeout:g} s"
    if isinstance(error, Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(error, SSLError):
        return "TLS handshake failed"
    if isinstance(error, ChunkedEncodingError):
        return "connection dropped in the middle of the answer"
    causes = list(_causes(error))
    if any(isinstance(c, NameResolutionError | socket.gaierror) for c in causes):
        return "host name not found"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    # RemoteDisconnected is a ConnectionResetError: the server closed it before answering.
    if any(isinstance(c, RemoteDisconnected) for c in causes):
        return "connection closed without an answer"
    if any(isinstance(c, ConnectionResetError) for c in causes):
        return "connection reset"
    os_words = [c.strerror for c in causes if isinstance(c, OSError) and c.strerror]
    return os_words[-1].lower() if os_words else type(causes[-1]).__name__


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The exceptions requests and urllib3 nest in `args`, `reason` and the chain."""
    pending: list[Any] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [getattr(current, "reason", None), current.__cause__, current.__context__]
        pending += list(current.args)


def never_sent(error: BaseException) -> bool:
    """True when the request cannot have reached the server: it failed while connecting."""
    if isinstance(error, Unreachable):
        return not error.sent
    if isinstance(error, ConnectTimeout):
        return True
    if not isinstance(error, ConnectionError):
        return False
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, NewConnectionError):
            return True
        cause = getattr(cause, "reason", None) or (cause.args[0] if cause.args else None)
        if not isinstance(cause, BaseException):
            return False
    return False


def _last_outcome(state: RetryCallState) -> Any:
    """Once the retries give up, the last attempt's answer (or its exception, raised)."""
    assert state.outcome is not None  # tenacity sets it before calling back
    return state.outcome.result()


def retrying_session(
    policy: RetryPolicy | None = None, *, name: str, idempotent: bool = True
) -> Session:
    """A `requests` session that retries as the policy (or `[http]` config) says.

    Args:
        name: The source or target it talks to, for the message of `Unreachable`.
        idempotent: False for requests that must not be repeated once the server may have
            seen them (a target that does not de-duplicate): then only a 429 or a failure to
            connect is retried, never a timeout, a dropped connection or a 5xx.
    """
    policy = policy or RetryPolicy.from_config()
    session = _LargeReadSession(timeout=policy.timeout, raise_for_status=False)
    if idempotent:
        retry = retry_any(
            retry_if_status(DEFAULT_RETRY_STATUS),
            retry_if_exception_type(tuple(DEFAULT_RETRY_EXCEPTIONS)),
        )
    else:
        retry = retry_any(retry_if_status((429,)), retry_if_exception(never_sent))
    retrying = Retrying(
        wait=wait_exponential_retry_after(
            multiplier=policy.min_delay,
            min=policy.min_delay,
            max=max(policy.max_delay, policy.min_delay),
        ),
        retry=retry,
        stop=stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.max_total),
        reraise=True,
        retry_error_callback=_last_outcome,
    )
    send = session.send

    def send_with_retries(request: PreparedRequest, **kwargs: Any) -> Response:
        attempts, started = 0, time.monotonic()

        def attempt() -> Response:
            nonlocal attempts
            attempts += 1
            return send(request, **kwargs)

        try:
            # A copy per request: tenacity keeps its statistics on the object.
            response: Response = retrying.copy()(attempt)
        except _NO_ANSWER as error:
            seconds = time.monotonic() - started
            raise Unreachable.of(name, request, error, attempts, seconds, policy.timeout) from error
        setattr(response, _TRIES, _tries(attempts, time.monotonic() - started))
        return response

    # Wrapping one session's bound `send` in place; mypy refuses any assignment to a method.
    session.send = send_with_retries  # type: ignore[method-assign]
    return session


def error_excerpt(response: Response, limit: int = 300) -> str:
    """What an error answer says, short enough for one line of a summary or the ledger.

    A bare JSON string (Infinity's simple errors) as it is; an object's `message` when it
    has one (Gameball, OWOX); else the start of the body as compact JSON or text, and the
    reason phrase when the body is empty.
    """
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
    else:
        if isinstance(body, str):
            text = body
        elif isinstance(body, dict) and body.get("message"):
            text = str(body["message"])
        else:
            text = json.dumps(body, separators=(",", ":"))
    return text[:limit] or response.reason or "(empty body)"
