"""Calling Hugging Face's management API and the Hub's whoami, through hfgate's one transport.

The token goes only into the ``Authorization`` header; no message built here contains it.
Both hosts are subject to the same SSRF rules as endpoints (``HFGATE_ALLOW_HOSTS`` to lift).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from hfgate.errors import UpstreamProtocolError, UpstreamUnreachable
from hfgate.upstream import hf_api
from hfgate.upstream.hf_api import EndpointRecord, Prices, Whoami
from hfgate.upstream.transport import Transport

TIMEOUT = 15.0
ACTIONS = ("resume", "pause", "scale-to-zero")


class ManagementClient:
    def __init__(self, transport: Transport, api_url: str, hub_url: str) -> None:
        self.transport, self.api_url, self.hub_url = transport, api_url, hub_url

    async def whoami(self, token: str) -> Whoami:
        body = await self._call("GET", f"{self.hub_url}/api/whoami-v2", token, "read whoami")
        return hf_api.parse_whoami(body)

    async def endpoints(self, token: str, namespace: str) -> list[EndpointRecord]:
        url = f"{self.api_url}/endpoint/{quote(namespace, safe='')}"
        body = await self._call("GET", url, token, f"list the endpoints of {namespace!r}")
        return hf_api.parse_records(body, namespace)

    async def endpoint(self, token: str, namespace: str, name: str) -> EndpointRecord:
        body = await self._call(
            "GET", self._url(namespace, name), token, f"read {namespace}/{name}"
        )
        return hf_api.parse_record(body, namespace)

    async def act(self, token: str, namespace: str, name: str, action: str) -> EndpointRecord:
        """``resume``, ``pause`` or ``scale-to-zero``; the record as it is afterwards."""
        url = f"{self._url(namespace, name)}/{action}"
        body = await self._call("POST", url, token, f"{action} {namespace}/{name}")
        return hf_api.parse_record(body, namespace)

    async def update(
        self, token: str, namespace: str, name: str, changes: dict[str, Any]
    ) -> EndpointRecord:
        url, what = self._url(namespace, name), f"update {namespace}/{name}"
        return hf_api.parse_record(await self._call("PUT", url, token, what, changes), namespace)

    async def prices(self, token: str, namespace: str) -> Prices:
        url = f"{self.api_url}/provider/{quote(namespace, safe='')}"
        body = await self._call("GET", url, token, f"read the price list of {namespace!r}")
        return hf_api.parse_prices(body)

    async def context_window(self, url: str, token: str) -> int | None:
        """A running endpoint's window: TGI's ``/info`` ``max_total_tokens``, else llama.cpp's
        ``/props`` ``n_ctx``; None if it cannot say."""
        info = await self._get_json(f"{url}/info", token)
        total = info.get("max_total_tokens") if isinstance(info, dict) else None
        if not isinstance(total, int):
            props = await self._get_json(f"{url}/props", token)
            settings = props.get("default_generation_settings") if isinstance(props, dict) else None
            total = settings.get("n_ctx") if isinstance(settings, dict) else None
        return total if isinstance(total, int) and total > 0 else None

    async def _get_json(self, url: str, token: str) -> Any:
        try:
            reply = await self.transport.request("GET", url, token=token, timeout=10)
            return orjson.loads(reply.body) if reply.status == 200 else None
        except (UpstreamUnreachable, orjson.JSONDecodeError):
            return None

    def _url(self, namespace: str, name: str) -> str:
        return f"{self.api_url}/endpoint/{quote(namespace, safe='')}/{quote(name, safe='')}"

    async def _call(self, method: str, url: str, token: str, what: str, body: Any = None) -> Any:
        host = urlsplit(url).hostname or url
        try:
            reply = await self.transport.request(
                method, url, token=token, json_body=body, timeout=TIMEOUT
            )
        except UpstreamUnreachable as exc:
            raise UpstreamUnreachable(
                f"could not {what}: {exc.message}", code="hugging_face_unavailable"
            ) from None
        if reply.status >= 400:
            raise hf_api.error_from_reply(reply.status, reply.body, what)
        try:
            return orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError(
                f"{host} answered the request to {what} with something that is not JSON"
            ) from None
