"""Secrets out of text: every configured secret's value replaced by `***`.

What a run writes where people read it goes through here: its error and notes (the summary,
`runs.jsonl`, `ops.runs`) and the push's delivery messages (a target may echo a key in an
error body). The secrets are every secret field of the settings specs (`settings.SECTIONS`:
the `TSecretStrValue` ones, a webhook URL among them once it is a setting) and the secret
parts of dlt's BigQuery credentials (`destination.bigquery.credentials`: the service
account's `private_key`, OAuth's `client_secret`, `refresh_token`, `token`, or the whole
service-account JSON in one value).

Each key is looked up on its own through dlt's secret providers (`dlt.secrets`: the
environment and secrets.toml), as the full key and as dlt's shorter form without its first
section (`INFINITY__PASSWORD`), so a run that failed because some other setting was invalid
still has its secrets redacted. `dlt.secrets` records what it reads as a secret: the values
stay out of dlt's trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import dlt
from dlt.common.configuration import is_secret_hint
from dlt.common.configuration.specs import (
    GcpOAuthCredentialsWithoutDefaults,
    GcpServiceAccountCredentialsWithoutDefaults,
)

from pipelines.runtime import settings

MASK = "***"
BIGQUERY_CREDENTIALS = "destination.bigquery.credentials"
log = logging.getLogger(__name__)


def _secret_fields(spec: Any) -> list[str]:
    return [name for name, hint in spec.get_resolvable_fields().items() if is_secret_hint(hint)]


# The secret parts of either kind of BigQuery credentials dlt takes.
_BIGQUERY_SECRET_FIELDS = sorted(
    {
        *_secret_fields(GcpServiceAccountCredentialsWithoutDefaults),
        *_secret_fields(GcpOAuthCredentialsWithoutDefaults),
    }
)


def secret_keys() -> list[str]:
    """Every dotted key whose value is a secret."""
    keys = [spec.key(name) for spec in settings.SECTIONS.values() for name in _secret_fields(spec)]
    keys += [f"{BIGQUERY_CREDENTIALS}.{name}" for name in _BIGQUERY_SECRET_FIELDS]
    return [*keys, BIGQUERY_CREDENTIALS]


def _spellings(key: str) -> list[str]:
    """The key, and dlt's shorter form without its first section."""
    parts = key.split(".")
    return [key, ".".join(parts[1:])] if len(parts) > 2 else [key]


def _values(value: Any) -> Iterator[str]:
    """The secret text in one looked-up value: itself, or a credentials document's secrets."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            yield value
            return
        if not isinstance(value, Mapping):
            yield str(value)
            return
    if isinstance(value, Mapping):
        for name in _BIGQUERY_SECRET_FIELDS:
            yield from _values(value.get(name))
    elif value is not None:
        yield str(value)


def secret_values() -> set[str]:
    """The configured value of every secret key (empty ones left out)."""
    found: set[str] = set()
    for key in secret_keys():
        for spelling in _spellings(key):
            try:
                value: Any = dlt.secrets.get(spelling)
            except Exception:  # an unreadable provider: nothing to find there
                log.debug("secret %s could not be read", spelling, exc_info=True)
                continue
            if isinstance(value, str) and value.strip().startswith("{"):
                found.add(value)  # the whole document, as given
            found |= {text for text in _values(value) if text}
    return found


class Redactor:
    """Replaces a fixed set of secret values, and the escaped forms they take in JSON and
    in Python's repr (a private key's newlines), by `***`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms = set()
        for secret in secrets:
            forms |= {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]}
        # Longest first: one secret may contain another.
        self.forms = sorted((form for form in forms if form), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self.forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self(text)

    def deep(self, value: Any) -> Any:
        """Every text inside `value` (dicts, lists) redacted; other values as they are."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {self.deep(key): self.deep(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.deep(item) for item in value]
        return value


def redactor() -> Redactor:
    """A redactor of the secrets configured now (read once: keep it for many texts)."""
    return Redactor(secret_values())
