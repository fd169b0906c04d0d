"""What one delivery attempt ended as, and what a push target is: shared by the three targets.

An answer falls into one of three kinds, because each calls for a different next step:

- sent: the target took it. Measurement Protocol answers 2xx to every hit, valid or not, so
  an OWOX delivery is `sent` with `confirmed` false: delivered, never confirmed.
- transient failure: trying later may work (a 429, a 5xx, a timeout, a refused connection,
  Qubit's 500-style body). Retried on later runs, up to `push.max_attempts`.
- permanent failure: the target refused this payload (a 4xx, a Qubit event `failed`, a local
  check). Recorded with its reason; sent again only once the payload changes.

Some answers are about the configuration rather than the payload (401, 403, an unknown
tracking id): every request would fail the same way, so the push to that target stops
(`TargetRefused`) instead of burning one attempt of every conversion.

When a request to a target that does not de-duplicate may have arrived but no answer came
back (a read timeout, a connection dropped after sending), the delivery is unknown: it is a
failure with `confirmed` false that is never retried automatically, because sending it again
could count the conversion twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Protocol, Self

from requests import Response, Session

from pipelines.runtime.http import Unreachable, error_excerpt, never_sent
from pipelines.runtime.settings import SyncError

SENT, FAILED, SKIPPED = "sent", "failed", "skipped"
# Written before a request to a target that does not de-duplicate leaves; still there at the
# next run, it means the run stopped between sending and recording.
SENDING = "sending"
# Longest target message kept in the ledger.
MESSAGE_CHARS = 1000
# requests names the URL in its errors; an OWOX hit's URL carries the caller's phone number.
_URL_IN_ERROR = re.compile(r"(with url: )\S+")


@dataclass(frozen=True)
class Outcome:
    """How one outbound row's delivery attempt ended."""

    status: str
    retryable: bool = False
    http_status: int | None = None
    message: str | None = None
    confirmed: bool = True

    @classmethod
    def sent(
        cls, http_status: int, message: str | None = None, *, confirmed: bool = True
    ) -> Outcome:
        return cls(SENT, False, http_status, message and message[:MESSAGE_CHARS], confirmed)

    @classmethod
    def transient(cls, message: str, http_status: int | None = None) -> Outcome:
        return cls(FAILED, True, http_status, message[:MESSAGE_CHARS])

    @classmethod
    def permanent(cls, message: str, http_status: int | None = None) -> Outcome:
        return cls(FAILED, False, http_status, message[:MESSAGE_CHARS])

    @classmethod
    def unknown(cls, message: str) -> Outcome:
        return cls(FAILED, False, None, message[:MESSAGE_CHARS], confirmed=False)


class TargetRefused(SyncError):
    """The target refused the configuration (credentials, tracking id): the push stops."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


@dataclass
class Pending:
    """One outbound row about to be sent: its id, its payload and the row it came from."""

    outbound_id: str
    lead_id: str | None
    payload: dict[str, Any]
    payload_hash: str
    row: dict[str, Any]


class Target(Protocol):
    """A push target: how its rows become payloads and how a batch of them is sent.

    `push` reads `required_keys` off the class (`push.TARGETS`) before making one with
    `from_config`; everything else off the instance.
    """

    name: ClassVar[str]
    table: ClassVar[str]  # the outbound model it reads
    id_column: ClassVar[str]  # that model's deterministic id
    deduplicates: ClassVar[bool]  # the target drops repeats itself: send first, record after
    # Its dotted setting keys: none of them set means the target is not configured (skipped).
    required_keys: ClassVar[tuple[str, ...]]

    @classmethod
    def from_config(cls) -> Self:
        """Read and check its settings; raises `SettingError` naming the key."""
        ...

    @property
    def batch_size(self) -> int:
        """Rows per request (a setting for some targets, fixed at 1 for others)."""
        ...

    def payload(self, row: dict[str, Any]) -> dict[str, Any]: ...

    def check(self, payload: dict[str, Any]) -> str | None:
        """Why the payload cannot be sent (a permanent failure), or None."""
        ...

    def session(self) -> Session: ...

    def preview(self, pending: Pending) -> dict[str, Any]:
        """The request that would carry this row, for a dry run (secrets left out)."""
        ...

    def send(self, session: Session, batch: list[Pending]) -> list[Outcome]:
        """One request; one outcome per row, in order. May raise `TargetRefused`."""
        ...


def json_value(value: Any) -> Any:
    """A warehouse value as JSON has it: decimals as numbers, timestamps as ISO text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def payload_hash(payload: dict[str, Any]) -> str:
    """A fingerprint of what is sent, independent of key order."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def failure_of(
    response: Response, target: str, *, refused: tuple[int, ...] = (401, 403)
) -> Outcome:
    """A non-2xx answer as an outcome; raises `TargetRefused` for a configuration problem."""
    status = response.status_code
    text = f"HTTP {status}: {error_excerpt(response, limit=200)}"
    if status in refused:
        raise TargetRefused(f"{target} refused the request ({text}); check its settings", status)
    if status == 429 or status >= 500:
        return Outcome.transient(text, status)
    return Outcome.permanent(text, status)


def failure_of_error(error: Exception, *, deduplicates: bool) -> Outcome:
    """A request that got no answer: transient if it cannot have arrived or may be repeated.

    The session's `Unreachable` names the target, host and attempts already; anything else
    is named by its type, with any URL in it left out.
    """
    detail = _URL_IN_ERROR.sub(r"\1<url>", str(error))
    text = detail if isinstance(error, Unreachable) else f"{type(error).__name__}: {detail}"
    if deduplicates or never_sent(error):
        return Outcome.transient(text)
    return Outcome.unknown(
        f"no answer after sending ({text}): delivery unknown; not sent again automatically "
        "because this target does not de-duplicate"
    )
