"""Reading request bodies the way axum's ``Json`` extractor does, and building responses.

axum rejects before the handler runs, with ``text/plain`` bodies: 415 without a JSON
content type, 413 over the payload limit, 400 for bytes that are not JSON, 422 for JSON of the
wrong shape. Responses are serialized with orjson.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from hfgate.sim.validation import ShapeError, Struct, TGIError, check_shape

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


class Rejection(Exception):
    """The request is refused before its handler runs; ``response`` is what the client gets."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, JSON)


def text_response(body: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status, headers, TEXT)


def empty(status: int) -> Response:
    return Response(b"", status)


def error_response(error: TGIError) -> Response:
    return json_response(error.body(), error.status)


def _is_json(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == JSON or (mime.startswith("application/") and mime.endswith("+json"))


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Rejection(too_large())
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejection(too_large())
        chunks.append(chunk)
    return b"".join(chunks)


def too_large() -> Response:
    return text_response("Failed to buffer the request body: length limit exceeded", 413)


async def read_json(request: Request, spec: Struct | None, limit: int) -> Any:
    """The parsed body, or ``Rejection`` with axum's status and text."""
    if not _is_json(request.headers.get("content-type", "")):
        message = "Expected request with `Content-Type: application/json`"
        raise Rejection(text_response(message, 415))
    body = await read_body(request, limit)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        where = f" at line {exc.lineno} column {exc.colno}"
        detail = "EOF while parsing a value" if not body.strip() else exc.msg.lower()
        message = f"Failed to parse the request body as JSON: {detail}{where}"
        raise Rejection(text_response(message, 400)) from None
    if spec is not None:
        conform(data, spec)
    return data


def conform(data: Any, spec: Struct) -> None:
    """``Rejection`` (422 text/plain, serde's message) unless ``data`` deserializes as ``spec``."""
    try:
        check_shape(data, spec)
    except ShapeError as exc:
        message = f"Failed to deserialize the JSON body into the target type: {exc}"
        raise Rejection(text_response(message, 422)) from None
