"""Live validation of a credential against its endpoint (docs/protocols.md §4).

The checks run in order — reach, auth, state, engine, task, model, context, chat route — and
each adds one line to the report. A cold or paused endpoint, or an engine still loading its
model, is not a failure: the report is marked pending (or, with ``wait``, the validator waits
for the endpoint to wake). Only cheap routes are called (``/info``, ``/v1/models``, ``/props``,
``/version``, the tokenize routes, the Hub): never a generation.

This module orchestrates; what differs per engine (how it is recognised, what its limits are
called, which chat route and token counter it gets) lives in ``integrations/engines``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

from hfgate.endpoints.waking import hold_until
from hfgate.errors import UpstreamUnreachable
from hfgate.integrations import engines
from hfgate.integrations.credential import Credential, missing_message
from hfgate.integrations.engines import UNSUPPORTED, Engine, Probe
from hfgate.integrations.engines.base import json_or_none
from hfgate.integrations.report import CHECKS, Listener, Report, Status
from hfgate.upstream import llamacpp
from hfgate.upstream.platform import is_asleep, is_cold, is_paused
from hfgate.upstream.transport import Reply, Transport

LIVE_CHECKS = tuple(CHECKS)[1:]  # all but "credential", which the caller decides
WAIT_SLICE = 5.0  # seconds per held /info while waiting, so progress can be reported


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
        if reply is not None and self._auth(reply, report) and _not_ready(reply) and wait > 0:
            reply = await self._wait_awake(credential, report, reply, wait)
        if reply is None or not _authorised(report) or not self._state(reply, report):
            report.skip_rest(among=LIVE_CHECKS, reason=_not_reached(report))
            return report
        await self._after_state(credential, reply, report)
        return report

    async def _after_state(self, credential: Credential, reply: Reply, report: Report) -> None:
        def ask(method: str, path: str, body: Any) -> Awaitable[Reply]:
            return self._get(credential, path, method=method, body=body)

        probe = Probe(ask, reply)
        found = await engines.recognise(probe, report)
        if found is None or found.stop is not None:
            reason = found.stop if found is not None and found.stop else UNSUPPORTED
            report.skip_rest(among=LIVE_CHECKS, reason=reason)
            return
        await self._task(credential, found.engine, report)
        self._model(credential, report)
        self._context(credential, found.engine, report)
        await found.engine.chat_route(probe, report)

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

        if _is_cold(reply) or _is_loading(reply):
            held = await hold_until(ask, wait, _settled, most=WAIT_SLICE, on_wait=progress)
            reply = held or reply
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
        if _not_ready(reply):
            report.pending = True
            report.facts["endpoint_state"] = _waiting_state(reply)
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

    # -- task, model, context -----------------------------------------------------------------

    async def _task(self, credential: Credential, engine: Engine, report: Report) -> None:
        tag = report.facts.get("pipeline_tag")
        source = "/info"
        if tag is None:
            tag, source = await self._hub_pipeline_tag(credential)
            if tag is None:
                report.add("task", Status.WARN, f"could not verify the task: {source}")
                return
            report.facts["pipeline_tag"] = tag
        status, message = engine.judge_task(tag, source, report.facts)
        report.add("task", status, message)

    async def _hub_pipeline_tag(self, credential: Credential) -> tuple[str | None, str]:
        url = f"{self.hub_url}/api/models/{credential.model_name}"
        try:
            reply = await self.transport.request(
                "GET", url, token=credential.api_key, timeout=self.timeout
            )
        except UpstreamUnreachable as exc:
            return None, f"the Hub is not reachable ({exc.message})"
        body = json_or_none(reply)
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
        elif all(_not_a_repo_id(str(model)) for model in served):
            report.add(
                "model",
                Status.SKIPPED,
                f"the endpoint reports {served[0]!r} (not a Hub repo id: where the model is"
                " mounted, or an alias), so the model cannot be confirmed",
            )
        else:
            report.add(
                "model",
                Status.FAIL,
                f"the endpoint serves {', '.join(map(str, served))}, not {credential.model_name}:"
                " fix model_name or the endpoint URL",
            )

    def _context(self, credential: Credential, engine: Engine, report: Report) -> None:
        limit = report.facts.get(engine.limit_fact)
        window = credential.context_window
        more = engine.limits(report.facts)
        if window is None:
            _window_from_endpoint(engine, limit, report)
        elif limit is None:
            report.add(
                "context", Status.WARN, f"the endpoint does not say its limit; using {window:,}"
            )
        elif window > limit:
            report.add(
                "context",
                Status.FAIL,
                f"context_window {window:,} is more than the endpoint's {engine.limit_name}"
                f" {limit:,}: set context_window to {limit:,} or less",
            )
        else:
            room = "" if window == limit else f" (the endpoint allows up to {limit:,})"
            report.add("context", Status.OK, f"{window:,} tokens{engine.unit}{room}{more}")

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


def _is_cold(reply: Reply) -> bool:
    return is_cold(reply.status, reply.text())


def _is_paused(reply: Reply) -> bool:
    return is_paused(reply.status, reply.text())


def _is_loading(reply: Reply) -> bool:
    """llama.cpp answers every route 503 "Loading model" (JSON) until its GGUF is loaded."""
    return llamacpp.is_loading(reply.status, reply.body)


def _not_ready(reply: Reply) -> bool:
    """Asleep, paused or loading: the endpoint cannot answer now, and nothing is wrong."""
    return is_asleep(reply.status, reply.text()) or _is_loading(reply)


def _settled(reply: Reply) -> bool:
    """What waiting stops on: anything but the proxy's cold answer or a model still loading."""
    return not _is_cold(reply) and not _is_loading(reply)


def _waiting_state(reply: Reply) -> str:
    if _is_paused(reply):
        return "paused"
    return "initializing" if _is_loading(reply) else "scaled_to_zero"


def _asleep_message(reply: Reply) -> str:
    if _is_paused(reply):
        return (
            "the endpoint is paused and will not wake by itself: resume it on its Inference"
            " Endpoints page (or with huggingface_hub's resume_inference_endpoint); hfgate"
            " finishes validation once it runs"
        )
    if _is_loading(reply):
        return (
            "the endpoint runs, but its llama.cpp server is still loading the model (HTTP 503"
            " Loading model); hfgate finishes validation once it is loaded"
        )
    return (
        f"the endpoint is scaled to zero or initializing (HTTP {reply.status}); it is waking up"
        " and hfgate finishes validation once it runs"
    )


def _not_a_repo_id(model: str) -> bool:
    """``/repository`` (Inference Endpoints mount the model there) or a GGUF file's path."""
    return model.startswith("/") or model.endswith(".gguf") or model.count("/") != 1


def _window_from_endpoint(engine: Engine, limit: Any, report: Report) -> None:
    """No context_window in the credential: only an engine whose limit is the window (TEI's
    max_input_length) may supply it; for the others it is the credential's own problem."""
    if engine.window_from_endpoint and isinstance(limit, int):
        report.facts["context_window"] = limit
        read = f"from {engine.limit_source}'s {engine.limit_name}"
        message = f"{limit:,} tokens{engine.unit}, {read}{engine.limits(report.facts)}"
        report.add("context", Status.OK, message)
        return
    message = missing_message("context_window") + (
        " Only a TEI endpoint may leave it out (its /info says the limit)"
        if not engine.window_from_endpoint
        else f" The endpoint does not say its {engine.limit_name}"
    )
    report.problems.append({"field": "context_window", "message": message})
    report.add("context", Status.FAIL, message)


def _not_reached(report: Report) -> str:
    if report.pending:
        return "waiting for the endpoint to run"
    failure = report.first_failure()
    return f"not checked: {failure.id} failed" if failure else "not checked"
