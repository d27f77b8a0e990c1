"""Request body size limit (``HFGATE_MAX_BODY_BYTES``), enforced before the body is buffered."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hfgate.api.errors import openai_error


class BodyTooLarge(Exception):
    """Raised inside ``receive`` once a chunked body passes the limit."""


class BodySizeLimit:
    """Refuses a declared Content-Length over the limit at once, and counts chunked bodies."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = (
            f"the request body is larger than the limit of {self.max_bytes:,} bytes"
            " (HFGATE_MAX_BODY_BYTES)"
        )
        response = openai_error(413, message, "invalid_request_error", "payload_too_large")
        await response(scope, receive, send)
