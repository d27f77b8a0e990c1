"""Peers and helpers for the chat tests: a real simulator and a real hfgate, over loopback.

Each test module gets its own simulator and gateway (``module_peers``); ``peers`` puts the
simulator back to its starting config, zeroes its counters and forgets the gateway's model
status before every test, so a test only says what it changes.

The simulator is wrapped in ``Recorder``, which remembers every request the gateway sent to
the endpoint (method, path, headers) and whether the caller went away before an answer was
started — the simulator itself only counts abandoned *streams*.

Expected replies are computed with the simulator's own deterministic generator and tokenizer
(``expected_chat``), so tests can compare exact text and exact token counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from hfgate._server import BackgroundServer
from hfgate.sim import SimConfig, generation, tokenizer
from hfgate.sim import chat as sim_chat
from hfgate.sim import create_app as create_sim
from hfgate.sim.config import CHATML_TEMPLATE
from tests.support.peers import ADMIN_KEY, MODEL, SIM_TOKEN, Gateway, SimHandle, running_gateway

T = TypeVar("T")

# -- the recording simulator ---------------------------------------------------------------------


@dataclass
class Seen:
    """One request that reached the simulated endpoint."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    responded: bool = False  # the endpoint started its answer
    abandoned: bool = False  # the caller hung up before the endpoint answered

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"

    def json(self) -> Any:
        return json.loads(self.body)


class Recorder:
    """ASGI middleware in front of the simulator: remembers what the gateway sent."""

    GENERATION = frozenset(
        {
            "/",
            "/generate",
            "/generate_stream",
            "/v1/chat/completions",
            "/v1/completions",
        }
    )

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[Seen] = []

    def generation_calls(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST" and s.path in self.GENERATION]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(("/_sim", "/api/models")):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        entry = Seen(scope["method"], path, headers)
        self.seen.append(entry)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        gone = asyncio.Event()

        async def pump() -> None:
            # One reader of the real ``receive``: a disconnect is noticed even when the app
            # itself does not listen for it (non-streaming answers).
            while True:
                message = await receive()
                if message["type"] == "http.request":
                    entry.body += message.get("body", b"")
                if message["type"] == "http.disconnect":
                    entry.abandoned = not entry.responded
                    gone.set()
                await queue.put(message)
                if gone.is_set():
                    return

        async def app_receive() -> dict[str, Any]:
            if gone.is_set() and queue.empty():
                return {"type": "http.disconnect"}
            return await queue.get()

        async def app_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                entry.responded = True
            await send(message)

        reader = asyncio.ensure_future(pump())
        try:
            await self.app(scope, app_receive, app_send)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


@dataclass
class Sim(SimHandle):
    """A running simulator with its starting config and a request recorder."""

    recorder: Recorder = field(default_factory=lambda: Recorder(None))
    base: dict[str, Any] = field(default_factory=dict)
    _admin: httpx.Client | None = field(default=None, repr=False)

    @property
    def admin(self) -> httpx.Client:
        # One client for the admin routes: a new httpx client per call costs ~50 ms (TLS setup).
        if self._admin is None:
            self._admin = httpx.Client(base_url=self.url, timeout=10)
        return self._admin

    def patch(self, **changes: Any) -> dict[str, Any]:
        answer = self.admin.patch("/_sim/state", json=changes)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def state(self) -> dict[str, Any]:
        return self.admin.get("/_sim/state").json()

    def stats(self) -> dict[str, Any]:
        return self.admin.get("/_sim/stats").json()

    def reset(self) -> None:
        self.admin.post("/_sim/reset").raise_for_status()

    def restore(self) -> None:
        """Back to the starting config, counters zeroed, recorder emptied."""
        self.patch(**self.base)
        self.reset()
        self.recorder.seen.clear()

    def last_request(self) -> Any:
        return self.stats()["last_request"]

    def wait_stats(self, check: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict:
        return wait_for(lambda: (lambda s: s if check(s) else None)(self.stats()), timeout)


@contextlib.contextmanager
def started_sim(**config: Any) -> Iterator[Sim]:
    config.setdefault("token", SIM_TOKEN)
    sim_config = SimConfig(**config)
    recorder = Recorder(create_sim(dataclasses.replace(sim_config)))
    server = BackgroundServer(recorder).start()
    sim = Sim(server.url, server, recorder, sim_config.to_dict())
    try:
        yield sim
    finally:
        if sim._admin is not None:
            sim._admin.close()
        server.stop()


@dataclass
class Peers:
    sim: Sim
    gateway: Gateway
    model: str = MODEL

    def restore(self) -> None:
        self.sim.restore()
        board = self.gateway.services.board
        for name in self.gateway.services.catalog.names():
            board.forget(name)

    def client(self, **kwargs: Any) -> httpx.Client:
        return self.gateway.client(**kwargs)

    def openai(self, **kwargs: Any) -> Any:
        import openai

        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 30)
        return openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=ADMIN_KEY, **kwargs)

    def status(self, name: str | None = None) -> str:
        """The model's status as ``GET /v1/models`` shows it."""
        with self.client() as client:
            models = client.get("/v1/models").json()["data"]
        return next(m["status"] for m in models if m["id"] == (name or self.model))


@contextlib.contextmanager
def deployment(
    home: Path,
    *,
    credential: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    **sim_config: Any,
) -> Iterator[Peers]:
    """A simulator, a gateway using it as its Hub, and the simulator registered as a model."""
    with (
        started_sim(**sim_config) as sim,
        running_gateway(home, hub_url=sim.url, **(env or {})) as gateway,
    ):
        credential = sim.credential(**(credential or {}))
        answer = gateway.add(credential)
        assert answer.status_code == 201, answer.text
        yield Peers(sim, gateway, credential.get("name", credential["model_name"]))


# -- polling -------------------------------------------------------------------------------------


def wait_for(check: Callable[[], T | None], timeout: float = 5.0, interval: float = 0.02) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {value!r})")
        time.sleep(interval)


# -- expected replies (the simulator's own generator and tokenizer) ------------------------------


def chat_prompt(
    messages: list[dict[str, Any]], template: str = CHATML_TEMPLATE, bos: str = "<s>"
) -> str:
    """The prompt the simulated TGI renders for ``messages`` (its default ChatML template)."""
    return sim_chat.render(template, messages, bos, "</s>")


def chat_tokens(messages: list[dict[str, Any]]) -> int:
    """What TGI counts for a chat prompt (the template supplies BOS: none added)."""
    return tokenizer.input_length(chat_prompt(messages), add_bos=False)


def expected_chat(
    messages: list[dict[str, Any]],
    *,
    max_new_tokens: int = 1024,
    stop: Iterable[str] = (),
    seed: int | None = None,
    greedy: bool = False,
    reply_tokens: int = 16,
) -> generation.Plan:
    """The reply the simulated Messages API gives (sampling unless temperature is 0)."""
    prompt = chat_prompt(messages)
    return generation.plan(
        prompt,
        input_length=tokenizer.input_length(prompt, add_bos=False),
        max_new_tokens=max_new_tokens,
        natural=reply_tokens,
        stop=list(stop),
        seed=seed,
        sampling=not greedy,
        first_bare=True,
    )


def expected_generate(
    inputs: str,
    *,
    max_new_tokens: int = 1024,
    stop: Iterable[str] = (),
    seed: int | None = None,
    greedy: bool = False,
    reply_tokens: int = 16,
) -> generation.Plan:
    """The reply of ``/generate`` for ``inputs`` (BOS added to the count, as TGI does)."""
    return generation.plan(
        inputs,
        input_length=tokenizer.input_length(inputs, add_bos=True),
        max_new_tokens=max_new_tokens,
        natural=reply_tokens,
        stop=list(stop),
        seed=seed,
        sampling=not greedy,
    )


# -- SSE -----------------------------------------------------------------------------------------


def sse_lines(text: str) -> list[str]:
    """The non-empty lines of a stream, in order (comments included)."""
    return [line for line in text.split("\n") if line.strip()]


def sse_payloads(text: str) -> list[Any]:
    """The ``data:`` payloads as JSON, ``[DONE]`` kept as the string ``"[DONE]"``."""
    payloads: list[Any] = []
    for line in sse_lines(text):
        if not line.startswith("data:"):
            continue
        data = line[5:].removeprefix(" ")
        payloads.append(data if data == "[DONE]" else json.loads(data))
    return payloads


def chunk_text(payloads: list[Any]) -> str:
    """The text of a chat stream's content deltas."""
    text = ""
    for payload in payloads:
        if isinstance(payload, dict):
            for choice in payload.get("choices") or []:
                text += (choice.get("delta") or {}).get("content") or choice.get("text") or ""
    return text


TRIM = {"X-Hfgate-Context": "trim"}  # API keys default to strict: these tests trim


def chat(
    client: httpx.Client,
    model: str,
    content: str = "hello",
    headers: dict[str, str] | None = None,
    **body: Any,
) -> httpx.Response:
    """``POST /v1/chat/completions`` with one user message (or ``messages=`` in ``body``)."""
    body.setdefault("messages", [{"role": "user", "content": content}])
    return client.post("/v1/chat/completions", json={"model": model, **body}, headers=headers)
