"""`[sources.footprints]` settings, validated before any request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pipelines.runtime import settings
from pipelines.runtime.settings import SettingError
from pipelines.sources.footprints.client import (
    GRANT_TYPES,
    Credentials,
    FootprintsClient,
)


@dataclass(frozen=True)
class FootprintsSettings:
    """Validated `[sources.footprints]` settings."""

    base_url: str
    credentials: Credentials
    start_date: date | None
    lookback_days: int
    page_size: int
    max_workers: int
    default_region: str
    days_per_load: int

    @classmethod
    def from_config(cls) -> FootprintsSettings:
        """Read and check every setting; raises `SettingError` naming the key."""
        spec = settings.FootprintsConfig
        raw = settings.resolve(spec)
        base_url = settings.required(spec, "base_url", raw.base_url, "your Footprints API address")
        key = settings.required(spec, "client_key", raw.client_key, "a secret")
        secret = settings.required(spec, "client_secret", raw.client_secret, "a secret")
        grant = raw.grant_type
        if grant not in GRANT_TYPES:
            raise SettingError("sources.footprints.grant_type", f"must be one of {GRANT_TYPES}")
        pin, username, password = raw.pin, raw.username, raw.password
        if grant == "pin" and not pin:
            raise SettingError("sources.footprints.pin", "is required with grant_type pin")
        if grant == "password":
            for name, value in (("username", username), ("password", password)):
                if not value:
                    raise SettingError(
                        f"sources.footprints.{name}", "is required with grant_type password"
                    )
        credentials = Credentials(
            key,
            secret,
            grant,
            str(pin) if pin else None,
            str(username) if username else None,
            str(password) if password else None,
        )
        try:
            start = date.fromisoformat(raw.start_date) if raw.start_date else None
        except ValueError:
            raise SettingError(
                "sources.footprints.start_date", f"must be a date as Y-m-d, got {raw.start_date!r}"
            ) from None
        return cls(
            base_url=base_url,
            credentials=credentials,
            start_date=start,
            lookback_days=settings.bounded(spec, "lookback_days", raw.lookback_days, minimum=0),
            page_size=settings.bounded(spec, "page_size", raw.page_size, minimum=1),
            max_workers=settings.bounded(
                spec, "max_workers", raw.max_workers, minimum=1, maximum=64
            ),
            default_region=raw.default_region.upper(),
            days_per_load=settings.bounded(spec, "days_per_load", raw.days_per_load, minimum=1),
        )

    def client(self) -> FootprintsClient:
        return FootprintsClient(self.base_url, self.credentials, max_workers=self.max_workers)

    def first_day(self, complete_through: date | None, today: date) -> date:
        """Where this run starts: after the last complete day, or the lookback, if earlier."""
        lookback = today - timedelta(days=self.lookback_days)
        if complete_through is None:
            return self.start_date or lookback
        first = min(complete_through + timedelta(days=1), lookback)
        return max(first, self.start_date) if self.start_date else first
