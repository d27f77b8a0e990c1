"""Live validation of a credential against its endpoint (docs/protocols.md §4).

The checks run in order — reach, auth, state, engine, task, model, context, chat route — and
each adds one line to the report. A cold or paused endpoint is not a failure: the report is
marked pending (or, with ``wait``, the validator waits for the endpoint to wake). Only cheap
routes are called (``/info``, ``/v1/models``, ``/chat_tokenize``, the Hub): never a generation.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from hfgate.catalog.catalog import VISION_TASK
from hfgate.endpoints.waking import hold_until, not_cold
from hfgate.errors import UpstreamUnreachable
from hfgate.integrations.credential import Credential
from hfgate.integrations.report import CHECKS, Listener, Report, Status
from hfgate.upstream import openai_compat, tgi
from hfgate.upstream.platform import is_asleep, is_cold, is_paused
from hfgate.upstream.transport import Reply, Transport

LIVE_CHECKS = tuple(CHECKS)[1:]  # all but "credential", which the caller decides
WAIT_SLICE = 5.0  # seconds per held /info while waiting, so progress can be reported
TEXT_GENERATION = "text-generation"


@dataclass
class Probe:
    """What the endpoint answered to ``GET /info`` (and ``/v1/models`` when needed)."""

    info: Reply
    models: Reply | None = None


class Validator:
    def __init__(self, transport: Transport, hub_url: str, *, timeout: float = 15.0) -> None:
        self.transport = transport
        self.hub_url = hub_url
        self.timeout = timeout

    async def validate(
        self,
        credential: Credential,
        *,
        wait: float = 0.0,
        listener: Listener | None = None,
    ) -> Report:
        report = Report(facts={"endpoint": credential.endpoint}, listener=listener)
        reply = await self._first_reply(credential, report)
        if reply is not None and self._auth(reply, report) and _is_asleep(reply) and wait > 0:
            reply = await self._wait_awake(credential, report, reply, wait)
        if reply is None or not _authorised(report) or not self._state(reply, report):
            report.skip_rest(among=LIVE_CHECKS, reason=_not_reached(report))
            return report
        await self._after_state(credential, reply, report)
        return report

    async def _after_state(self, credential: Credential, reply: Reply, report: Report) -> None:
        probe = Probe(reply)
        engine = await self._engine(credential, probe, report)
        if engine is None:
            report.skip_rest(
                among=LIVE_CHECKS,
                reason="not checked: the endpoint is not a supported text-generation server",
            )
            return
        await self._task(credential, report)
        self._model(credential, report)
        self._context(credential, report)
        await self._chat_route(credential, report)

    # -- reach, auth, state ------------------------------------------------------------------

    async def _first_reply(self, credential: Credential, report: Report) -> Reply | None:
        try:
            reply = await self._get(credential, "/info")
        except UpstreamUnreachable as exc:
            report.add("reach", Status.FAIL, exc.message)
            return None
        return self._reach(reply, report)

    async def _wait_awake(
        self, credential: Credential, report: Report, reply: Reply, wait: float
    ) -> Reply | None:
        """Hold ``GET /info`` at the proxy in short slices, telling the listener as time passes."""
        started = time.monotonic()

        def ask(hold: float) -> Awaitable[Reply]:
            return self._get(credential, "/info", scale_up=hold)

        def progress(elapsed: float, last: Reply | None) -> None:
            if report.listener is not None:
                message = _asleep_message(last or reply)
                report.listener("waiting", {"elapsed": round(elapsed, 1), "message": message})

        if _is_cold(reply):
            reply = (
                await hold_until(ask, wait, not_cold, most=WAIT_SLICE, on_wait=progress) or reply
            )
        report.facts["waited_seconds"] = round(time.monotonic() - started, 1)
        return reply

    def _reach(self, reply: Reply, report: Report) -> Reply | None:
        if 300 <= reply.status < 400:
            target = reply.headers.get("Location", "another URL")
            report.add(
                "reach",
                Status.FAIL,
                f"the endpoint redirects (HTTP {reply.status}) to {target}; hfgate does not"
                " follow redirects: register the final URL instead",
            )
            return None
        report.add(
            "reach",
            Status.OK,
            "connected over HTTP" + ("S" if "https" in report.facts["endpoint"][:5] else ""),
        )
        return reply

    def _auth(self, reply: Reply, report: Report) -> bool:
        if reply.status == 401:
            report.add(
                "auth",
                Status.FAIL,
                "the endpoint rejected the token (HTTP 401): paste a current Hugging Face token"
                " (hf_…) that can call this endpoint",
            )
            return False
        if reply.status == 403:
            detail = reply.text(200)
            report.add(
                "auth",
                Status.FAIL,
                "the token is valid but lacks permission for this endpoint (HTTP 403"
                + (f": {detail}" if detail else "")
                + "): use a token of the endpoint's organisation with the"
                " 'inference.endpoints.infer.write' permission",
            )
            return False
        report.add("auth", Status.OK, "the endpoint accepted the token")
        return True

    def _state(self, reply: Reply, report: Report) -> bool:
        if _is_asleep(reply):
            report.pending = True
            report.facts["endpoint_state"] = "paused" if _is_paused(reply) else "scaled_to_zero"
            report.add("state", Status.WARN, _asleep_message(reply))
            return False
        if reply.status >= 500:
            report.add(
                "state",
                Status.FAIL,
                f"the endpoint answered HTTP {reply.status} to GET /info:"
                f" {reply.text(160) or 'no body'}",
            )
            return False
        waited = report.facts.pop("waited_seconds", 0)
        woke = f" (it woke up after {waited:g} s)" if waited >= 1 else ""
        report.add("state", Status.OK, "the endpoint is running" + woke)
        report.facts["endpoint_state"] = "running"
        return True

    # -- engine ------------------------------------------------------------------------------

    async def _engine(self, credential: Credential, probe: Probe, report: Report) -> str | None:
        body = _json_or_none(probe.info)
        if probe.info.status == 200 and tgi.looks_like_tgi(body):
            return self._engine_tgi(body, report)
        if probe.info.status == 200 and isinstance(body, dict) and "model_type" in body:
            kind = (
                next(iter(body["model_type"]), "embedding")
                if isinstance(body["model_type"], dict)
                else "embedding"
            )
            report.add(
                "engine",
                Status.FAIL,
                f"this is a Text Embeddings Inference endpoint ({kind}), not text generation:"
                " hfgate serves chat and completion models only",
            )
            return None
        if probe.info.status == 404:
            probe.models = await self._get(credential, "/v1/models")
            return self._engine_openai(probe.models, report)
        report.add(
            "engine",
            Status.FAIL,
            f"GET /info answered HTTP {probe.info.status} with something that is not TGI's /info:"
            " this is not a text-generation-inference container",
        )
        return None

    def _engine_tgi(self, body: Any, report: Report) -> str:
        info = tgi.parse_info(body)
        report.facts.update(
            engine="tgi",
            engine_version=info.version,
            upstream_model_id=info.model_id,
            pipeline_tag=info.pipeline_tag,
            max_total_tokens=info.max_total_tokens,
            max_input_tokens=info.max_input_tokens,
        )
        report.add(
            "engine", Status.OK, f"text-generation-inference {info.version or '(version unknown)'}"
        )
        return "tgi"

    def _engine_openai(self, reply: Reply, report: Report) -> str | None:
        models = openai_compat.parse_models(_json_or_none(reply)) if reply.status == 200 else None
        if not models:
            report.add(
                "engine",
                Status.FAIL,
                "not a text-generation-inference container: GET /info and GET /v1/models answered"
                f" HTTP 404 and {reply.status} (a default Inference Toolkit or custom container?)."
                " Deploy the model with the TGI, vLLM or SGLang engine",
            )
            return None
        longest = max((m.max_model_len or 0 for m in models), default=0) or None
        report.facts.update(
            engine="openai",
            engine_version=None,
            served_models=[m.id for m in models],
            max_total_tokens=longest,
            max_input_tokens=None,
        )
        report.add(
            "engine",
            Status.OK,
            "OpenAI-compatible server (vLLM/SGLang style): served through its /v1 routes",
        )
        return "openai"

    # -- task, model, context, chat route ----------------------------------------------------

    async def _task(self, credential: Credential, report: Report) -> None:
        tag = report.facts.get("pipeline_tag")
        source = "/info"
        if tag is None:
            tag, source = await self._hub_pipeline_tag(credential)
            if tag is None:
                report.add("task", Status.WARN, f"could not verify the task: {source}")
                return
            report.facts["pipeline_tag"] = tag
        if tag == TEXT_GENERATION:
            report.add("task", Status.OK, f"text-generation (from {source})")
        elif tag == VISION_TASK:
            report.add("task", Status.OK, f"image-text-to-text: takes images (from {source})")
        else:
            report.add(
                "task",
                Status.FAIL,
                f"the model's task is {tag!r} (from {source}), not 'text-generation' or"
                " 'image-text-to-text': hfgate serves generative language models only",
            )

    async def _hub_pipeline_tag(self, credential: Credential) -> tuple[str | None, str]:
        url = f"{self.hub_url}/api/models/{credential.model_name}"
        try:
            reply = await self.transport.request(
                "GET", url, token=credential.api_key, timeout=self.timeout
            )
        except UpstreamUnreachable as exc:
            return None, f"the Hub is not reachable ({exc.message})"
        body = _json_or_none(reply)
        if reply.status != 200 or not isinstance(body, dict):
            return None, f"the Hub answered HTTP {reply.status} for {credential.model_name}"
        tag = body.get("pipeline_tag")
        if not isinstance(tag, str):
            return None, f"the Hub has no pipeline tag for {credential.model_name}"
        return tag, "the Hub"

    def _model(self, credential: Credential, report: Report) -> None:
        served = report.facts.get("served_models") or [report.facts.get("upstream_model_id", "")]
        if credential.model_name in served:
            report.add("model", Status.OK, f"the endpoint serves {credential.model_name}")
        elif all(str(model).startswith("/") for model in served):
            report.add(
                "model",
                Status.SKIPPED,
                f"the endpoint reports {served[0]!r} (Inference Endpoints mount the model there),"
                " so the model cannot be confirmed",
            )
        else:
            report.add(
                "model",
                Status.FAIL,
                f"the endpoint serves {', '.join(map(str, served))}, not {credential.model_name}:"
                " fix model_name or the endpoint URL",
            )

    def _context(self, credential: Credential, report: Report) -> None:
        limit = report.facts.get("max_total_tokens")
        window = credential.context_window
        if limit is None:
            report.add(
                "context", Status.WARN, f"the endpoint does not say its limit; using {window:,}"
            )
        elif window > limit:
            report.add(
                "context",
                Status.FAIL,
                f"context_window {window:,} is more than the endpoint's max_total_tokens {limit:,}:"
                f" set context_window to {limit:,} or less",
            )
        else:
            room = "" if window == limit else f" (the endpoint allows up to {limit:,})"
            report.add("context", Status.OK, f"{window:,} tokens{room}")

    async def _chat_route(self, credential: Credential, report: Report) -> None:
        if report.facts.get("engine") == "openai":
            self._set_route(report, "messages", None, Status.OK, "POST /v1/chat/completions")
            return
        info = tgi.TgiInfo("", None, 0, None, report.facts.get("engine_version"))
        if not info.has_messages_api:
            self._set_route(
                report,
                "generate",
                "tokenize" if info.version_tuple >= (1, 4, 0) else None,
                Status.OK,
                f"TGI {info.version} predates the Messages API: hfgate renders the chat template"
                " itself and uses POST /generate_stream",
            )
        elif not info.has_chat_tokenize:
            self._set_route(
                report,
                "messages",
                "tokenize",
                Status.OK,
                "POST /v1/chat/completions (Messages API)",
            )
        else:
            await self._chat_template(credential, report)

    async def _chat_template(self, credential: Credential, report: Report) -> None:
        body = {"model": "tgi", "messages": [{"role": "user", "content": "hello"}]}
        reply = await self._get(credential, "/chat_tokenize", method="POST", body=body)
        if reply.status == 200:
            self._set_route(
                report,
                "messages",
                "chat_tokenize",
                Status.OK,
                "POST /v1/chat/completions (Messages API)",
            )
        elif "template" in reply.text().lower():
            self._set_route(
                report,
                "generate",
                "tokenize",
                Status.WARN,
                "the model has no chat template, so TGI's Messages API refuses chats: hfgate will"
                " render a standard template itself and use POST /generate_stream",
            )
        else:
            self._set_route(
                report,
                "messages",
                "tokenize",
                Status.WARN,
                f"POST /chat_tokenize answered HTTP {reply.status};"
                " assuming the Messages API works",
            )

    @staticmethod
    def _set_route(
        report: Report, route: str, tokenizer: str | None, status: Status, message: str
    ) -> None:
        report.facts["chat_route"] = route
        report.facts["tokenize_route"] = tokenizer
        report.add("chat_route", status, message)

    async def _get(
        self,
        credential: Credential,
        path: str,
        *,
        method: str = "GET",
        body: Any = None,
        scale_up: float = 0.0,
    ) -> Reply:
        headers = {"X-Scale-Up-Timeout": str(int(scale_up))} if scale_up >= 1 else None
        return await self.transport.request(
            method,
            credential.endpoint + path,
            token=credential.api_key,
            json_body=body,
            headers=headers,
            timeout=self.timeout + scale_up,
        )


def _authorised(report: Report) -> bool:
    return any(check.id == "auth" and check.status is Status.OK for check in report.checks)


def _is_asleep(reply: Reply) -> bool:
    return is_asleep(reply.status, reply.text())


def _is_cold(reply: Reply) -> bool:
    return is_cold(reply.status, reply.text())


def _is_paused(reply: Reply) -> bool:
    return is_paused(reply.status, reply.text())


def _asleep_message(reply: Reply) -> str:
    if _is_paused(reply):
        return (
            "the endpoint is paused and will not wake by itself: resume it on its Inference"
            " Endpoints page (or with huggingface_hub's resume_inference_endpoint); hfgate"
            " finishes validation once it runs"
        )
    return (
        f"the endpoint is scaled to zero or initializing (HTTP {reply.status}); it is waking up"
        " and hfgate finishes validation once it runs"
    )


def _json_or_none(reply: Reply) -> Any:
    try:
        return reply.json()
    except Exception:
        return None


def _not_reached(report: Report) -> str:
    if report.pending:
        return "waiting for the endpoint to run"
    failure = report.first_failure()
    return f"not checked: {failure.id} failed" if failure else "not checked"
