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
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
