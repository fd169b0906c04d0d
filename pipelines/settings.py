"""Settings read through dlt's config providers, with errors that name the key and its variable.

Every setting has a dotted key (`sources.infinity.igrp`) that lives in `.dlt/config.toml`,
`.dlt/secrets.toml` or the environment (`SOURCES__INFINITY__IGRP`). An operator reading a
failed run needs both spellings, so every error raised here carries them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt


class SettingError(Exception):
    """A setting is missing or invalid; raised before any request is made."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        super().__init__(f"Setting {key} [{env_name(key)}] {problem}")


class SyncError(Exception):
    """A run failed for a reason the operator can act on; the message says what to do."""


def env_name(key: str) -> str:
    """The environment variable dlt reads for a dotted config key."""
    return key.upper().replace(".", "__")


def get(key: str, default: Any = None) -> Any:
    """A config or secret value by dotted key, or `default` when no provider has it."""
    value = dlt.config.get(key)
    if value is None:
        value = dlt.secrets.get(key)
    return default if value is None else value


def get_int(
    key: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """An integer setting, checked against its bounds."""
    raw = get(key, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise SettingError(key, f"must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise SettingError(key, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SettingError(key, f"must be at most {maximum}, got {value}")
    return value


def get_float(key: str, default: float, *, minimum: float = 0.0) -> float:
    """A non-negative number setting."""
    raw = get(key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise SettingError(key, f"must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingError(key, f"must be at least {minimum}, got {value}")
    return value


def get_path(key: str, default: str) -> Path:
    """A filesystem path setting, relative to the working directory."""
    return Path(str(get(key, default))).expanduser()


def require_text(key: str) -> str:
    """A setting that has no default: its text, or `SettingError` naming it."""
    value = get(key)
    if value is None or not str(value).strip():
        raise SettingError(key, "is required")
    return str(value).strip()
