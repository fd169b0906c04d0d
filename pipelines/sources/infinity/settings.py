"""`[sources.infinity]` settings, validated before any request, and the backfill range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dlt.sources.helpers.rest_client.auth import APIKeyAuth, HttpBasicAuth

from pipelines.runtime import settings
from pipelines.runtime.settings import SettingError

ROUTES = (
    "all",
    "calls",
    "goals",
    "transactions",
    "callsGoalsTransactions",
    "users",
    "touchPoints",
    "visits",
    "itemisedCalls",
)


ROW_CAP = 10_000


@dataclass(frozen=True)
class InfinitySettings:
    """Validated `[sources.infinity]` settings."""

    base_url: str
    igrp: str
    routes: tuple[str, ...]
    page_size: int
    default_region: str
    auth: HttpBasicAuth | APIKeyAuth
    pages_per_load: int = 20

    @classmethod
    def from_config(cls) -> InfinitySettings:
        """Read and check every setting; raises `SettingError` naming the key."""
        spec = settings.InfinityConfig
        raw = settings.resolve(spec)
        igrp = settings.required(spec, "igrp", raw.igrp, "your Infinity IGRP id")
        routes = settings.text_list(spec, "routes", raw.routes)
        unknown = [r for r in routes if r not in ROUTES]
        if unknown or not routes:
            raise SettingError(
                "sources.infinity.routes", f"has unknown routes {unknown}; use some of {ROUTES}"
            )
        page_size = settings.bounded(spec, "page_size", raw.page_size, minimum=1, maximum=ROW_CAP)
        pages_per_load = settings.bounded(spec, "pages_per_load", raw.pages_per_load, minimum=1)
        region = raw.default_region.upper()
        base_url = raw.base_url.rstrip("/")
        api_key, username, password = raw.api_key, raw.username, raw.password
        auth: HttpBasicAuth | APIKeyAuth
        if api_key:
            # API keys belong to v2.1; basic auth to v2.
            if base_url.endswith("/reports/v2"):
                base_url += ".1"
            auth = APIKeyAuth(name="Authorization", api_key=f"ApiKey {api_key}")
        elif username and password:
            auth = HttpBasicAuth(str(username), str(password))
        else:
            missing = "sources.infinity.password" if username else "sources.infinity.username"
            raise SettingError(
                missing,
                "is required: set sources.infinity.username and sources.infinity.password "
                "[SOURCES__INFINITY__PASSWORD] (API v2), or sources.infinity.api_key "
                "[SOURCES__INFINITY__API_KEY] (API v2.1)",
            )
        return cls(base_url, igrp, tuple(routes), page_size, region, auth, pages_per_load)


@dataclass(frozen=True)
class Backfill:
    """A bounded re-read of a date range; it never moves the persisted cursors."""

    start_date: date
    end_date: date
    tz: str = "UTC"
