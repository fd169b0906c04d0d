"""The Footprints HTTP client: token auth in a query parameter, one re-fetch on 401, redaction.

Footprints hands out an access token at `POST /api/token` (HTTP basic with the client key and
secret, a form-encoded grant) and expects it as the `access_token` *query parameter*, so every
URL carries it. dlt's OAuth2 classes send a Bearer header and refresh only on expiry, hence
this small client:
- the token is fetched once, shared by all worker threads, renewed shortly before `expires_in`
  runs out, and fetched again once when a request answers 401 (a token revoked early); a
  second 401 fails the run with a message saying so;
- 429, 5xx, timeouts and dropped connections are retried by the shared retrying session
  (`pipelines.runtime.http`: Retry-After with a floor, bounded total);
- every message that could carry a URL goes through `redact()`: the token, key, secret, pin
  and password never reach logs, exceptions or the run summary.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests
from requests.adapters import HTTPAdapter

from pipelines.runtime.http import RetryPolicy, error_excerpt, retrying_session, tries
from pipelines.runtime.settings import SyncError

GRANT_TYPES = ("client_credentials", "password", "pin")
# Renew this long before the announced expiry (at most a tenth of the lifetime), so a
# request never leaves with a dying token.
_EXPIRY_MARGIN_SECONDS = 60.0
_TOKEN_PARAM = re.compile(r"(access_token=)[^&\s'\"]+")
# The reference's list samples end with a trailing comma (`{...},\n]`); tolerated on read.
_TRAILING_COMMA = re.compile(rb",(\s*[\]}])")


class FootprintsError(SyncError):
    """Footprints refused or failed a request after retries; the message is already redacted."""


class FootprintsAuthError(FootprintsError):
    """The credentials or the token were rejected."""


@dataclass(frozen=True)
class Credentials:
    """What `POST /api/token` needs; repr hides the secrets."""

    client_key: str = field(repr=False)
    client_secret: str = field(repr=False)
    grant_type: str = "client_credentials"
    pin: str | None = field(default=None, repr=False)
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    def grant(self) -> dict[str, str]:
        if self.grant_type == "pin":
            return {"grant_type": "pin", "pin": self.pin or ""}
        if self.grant_type == "password":
            return {
                "grant_type": "password",
                "username": self.username or "",
                "password": self.password or "",
            }
        return {"grant_type": "client_credentials"}

    def secrets(self) -> list[str]:
        values = (self.client_key, self.client_secret, self.pin, self.username, self.password)
        return [v for v in values if v]


@dataclass
class Answer:
    """A successful response: its JSON body and headers, or None when it was a 404."""

    body: Any
    headers: dict[str, str]


class FootprintsClient:
    """Thread-safe GETs against one Footprints account."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        max_workers: int = 8,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/api")
        self.credentials = credentials
        self.session = retrying_session(policy, name="footprints")
        # One pooled connection per worker, or threads queue for connections.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(10, max_workers))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # requests re-reads proxy and CA settings from the environment on every request, a
        # good part of its CPU per request here; read them once instead.
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        self.session.verify = (
            requests.utils.extract_zipped_paths(
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or ""
            )
            or True
        )
        self.session.trust_env = False
        self.requests_made = 0
        self.tokens_fetched = 0
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self._old_tokens: list[str] = []

    def redact(self, text: str) -> str:
        """`text` with every secret and token replaced by ***."""
        text = _TOKEN_PARAM.sub(r"\1***", text)
        for secret in [*self.credentials.secrets(), *self._old_tokens, self._token or ""]:
            if secret:
                text = text.replace(secret, "***")
        return text

    def get(self, path: str, params: dict[str, Any] | None = None) -> Answer | None:
        """GET `path` (e.g. `/api/lead`); None when Footprints answers 404.

        Raises:
            FootprintsAuthError: 401 twice in a row, with a freshly fetched token.
            FootprintsError: any other non-2xx answer after retries, or a body that is not JSON.
        """
        token = self._current_token()
        response = self._send(path, params, token)
        if response.status_code == 401:
            token = self._renew(stale=token)
            response = self._send(path, params, token)
            if response.status_code == 401:
                raise FootprintsAuthError(
                    f"Footprints rejected a freshly issued access token on GET {path} "
                    f"(HTTP 401: {self._excerpt(response)}). Check that the client key has "
                    "access to this endpoint."
                )
        if response.status_code == 404:
            return None
        if not response.ok:
            raise FootprintsError(
                f"Footprints answered HTTP {response.status_code} to GET {path} from "
                f"{tries(response)}: {self._excerpt(response)}"
            )
        return Answer(self._json(response, path), dict(response.headers))

    def _send(self, path: str, params: dict[str, Any] | None, token: str) -> requests.Response:
        with self._lock:
            self.requests_made += 1
        try:
            return self.session.get(
                f"{self.base_url}{path}", params={**(params or {}), "access_token": token}
            )
        except requests.RequestException as error:
            raise FootprintsError(
                f"GET {path} failed after retries: {self.redact(str(error))}"
            ) from None

    def _current_token(self) -> str:
        with self._lock:
            if self._token is not None and time.monotonic() < self._renew_at:
                return self._token
        return self._renew(stale=self._token)

    def _renew(self, stale: str | None) -> str:
        """A new token, unless another thread already replaced `stale` with one."""
        with self._lock:
            if self._token is not None and self._token != stale:
                return self._token
            token, lifetime = self._fetch_token()
            if self._token:
                self._old_tokens.append(self._token)
            self._token = token
            margin = min(_EXPIRY_MARGIN_SECONDS, lifetime / 10)
            self._renew_at = time.monotonic() + lifetime - margin
            self.tokens_fetched += 1
            return token

    def _fetch_token(self) -> tuple[str, float]:
        try:
            response = self.session.post(
                f"{self.base_url}/api/token",
                auth=(self.credentials.client_key, self.credentials.client_secret),
                data=self.credentials.grant(),
            )
        except requests.RequestException as error:
            raise FootprintsError(
                f"POST /api/token failed after retries: {self.redact(str(error))}"
            ) from None
        if response.status_code == 401:
            raise FootprintsAuthError(
                "Footprints rejected the client key and secret (sources.footprints.client_key, "
                f"sources.footprints.client_secret): HTTP 401 {self._excerpt(response)}"
            )
        if not response.ok:
            grant = self.credentials.grant_type
            raise FootprintsAuthError(
                f"Footprints refused the {grant} grant at POST /api/token: HTTP "
                f"{response.status_code} {self._excerpt(response)}. Check "
                "sources.footprints.grant_type and its pin or username/password."
            )
        body = self._json(response, "/api/token")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise FootprintsAuthError("POST /api/token answered without an access_token")
        self.requests_made += 1
        try:
            lifetime = float(body.get("expires_in") or 3600)
        except (TypeError, ValueError):
            lifetime = 3600.0
        return str(token), lifetime

    def _json(self, response: requests.Response, path: str) -> Any:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            pass
        try:
            return orjson.loads(_TRAILING_COMMA.sub(rb"\1", response.content))
        except orjson.JSONDecodeError:
            raise FootprintsError(
                f"GET {path} answered a body that is not JSON: {self._excerpt(response)}"
            ) from None

    def _excerpt(self, response: requests.Response) -> str:
        return self.redact(error_excerpt(response))
