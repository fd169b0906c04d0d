"""Local receiver of a Slack-style incoming webhook, for the alert tests.

Slack's incoming webhooks take `POST https://hooks.slack.com/services/T.../B.../<token>` with
a JSON body holding a `text`, and answer 200 with the body `ok`. The token in the path is
the secret: anyone with the URL can post. What it reproduces:

- `POST <path>` with `Content-Type: application/json` and a JSON object with a non-empty
  `text`: 200 `ok`, the body kept in `received`. Other fields are kept as they came.
- Another path 404 `no_service`; another method 405; a body that is not a JSON object
  400 `invalid_payload`; no `text` 400 `no_text` (Slack's error strings, as plain text).
- Faults (500, dropped connections, delays) come from `EmulatorServer`; a receiver that is
  down is one that was stopped.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from emulators.server import EmulatorServer, Request, Response


def _text(status: int, body: str) -> Response:
    return Response(status, body.encode(), {"Content-Type": "text/plain; charset=utf-8"})


class WebhookReceiver(EmulatorServer):
    """An incoming webhook whose URL (`webhook_url`) carries a random token."""

    def __init__(self, *, port: int = 0, token: str | None = None) -> None:
        super().__init__(port=port)
        self.path = f"/services/T0CALLSYNC/B0ALERTS/{token or secrets.token_hex(12)}"
        # list.append is atomic: handler threads append, tests read.
        self.received: list[dict[str, Any]] = []

    @property
    def webhook_url(self) -> str:
        return self.url + self.path

    def handle(self, request: Request) -> Response:
        if request.path != self.path:
            return _text(404, "no_service")
        if request.method != "POST":
            return _text(405, "invalid_method")
        if "application/json" not in (request.headers.get("Content-Type") or ""):
            return _text(400, "invalid_payload")
        try:
            body = json.loads(request.body)
        except ValueError:
            return _text(400, "invalid_payload")
        if not isinstance(body, dict):
            return _text(400, "invalid_payload")
        if not isinstance(body.get("text"), str) or not body["text"].strip():
            return _text(400, "no_text")
        self.received.append(body)
        return _text(200, "ok")
