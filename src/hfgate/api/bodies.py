"""Request bodies: read raw JSON once, with one error for every route that takes an object."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from hfgate.errors import InvalidRequest

# For routes that read the body themselves: OpenAPI still documents that it is an object.
OBJECT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    if b"\\u0000" in raw and _has_nul(body):  # cheap byte search first: almost never true
        raise InvalidRequest("text may not contain NUL characters (\\u0000): remove them")
    return body


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False
