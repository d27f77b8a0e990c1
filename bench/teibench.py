"""Embeddings in the benchmark: the same OpenAI embeddings request (``POST /v1/embeddings``, float
vectors) direct to a simulated TEI, through hfgate (one process and ``--workers 2``) and through
LiteLLM's proxy, with batches of 1, 32 and 256 inputs; and an oversized batch split by hfgate
versus one caller sending its pieces in turn.

Two TEI simulators (``hfgate sim`` with the ``tei`` engine), each its own process:

* ``tei`` takes 256 inputs per call, so every target sends each batch whole: **direct** is the
  simulator's own ``/v1/embeddings``, hfgate calls its ``/embed``, LiteLLM its
  ``/v1/embeddings`` (``openai/`` provider, as for chat);
* ``tei32`` takes 32 inputs per call (TEI's default ``--max-client-batch-size``) and holds each
  call ``SPLIT_DELAY`` seconds, as a GPU takes time per batch: hfgate cuts 256 inputs into 8
  parts sent together; the **direct** caller sends the same 8 parts one after another.

Both are registered in each hfgate through ``POST /api/integrations``, as an admin would, and
added to LiteLLM's config. ``PLANS`` in ``bench/phases.py`` sizes the phases (``embed_*``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import httpx
from common import ADMIN_KEY, GATEWAYS, HOST, LITELLM_KEY, SIM_TOKEN, TARGETS, log

EMBED_MODEL = "BAAI/bge-small-en-v1.5"
SPLIT_MODEL = "bench/bge-small-32"  # hfgate's name for the 32-per-call endpoint
BATCHES = (1, 32, 256)
SPLIT_BATCH, PART = 256, 32
SPLIT_DELAY = 0.02  # seconds the 32-per-call simulator takes per call
MAX_INPUT = 512
EXPECT = '"embedding"'
SERVERS = {"tei": 256, "tei32": PART}  # server name → inputs per call


def texts(count: int) -> list[str]:
    """Short passages, like a RAG chunker's (about 16 tokens each), all different."""
    return [
        f"passage {i}: a gateway in front of an embeddings endpoint must not slow retrieval down"
        for i in range(count)
    ]


def body(count: int, model: str = EMBED_MODEL) -> dict[str, Any]:
    return {"model": model, "input": texts(count), "encoding_format": "float"}


def tei_argv(port: int, max_batch: int, delay: float) -> list[str]:
    """The simulator app with the TEI engine (its CLI has no flag for every knob); with a
    ``delay``, each embedding call waits that long first, as a GPU takes time per batch (the
    simulator itself answers at once)."""
    config = {
        "engine": "tei",
        "token": SIM_TOKEN,
        "model_id": EMBED_MODEL,
        "pipeline_tag": "feature-extraction",
        "max_client_batch_size": max_batch,
        "max_input_tokens": MAX_INPUT,
        # TEI takes one permit per input and answers 429 when they run out (default 512):
        # 64 concurrent requests of 256 inputs need more.
        "max_concurrent_requests": 1_000_000,
    }
    code = (
        "import asyncio, uvicorn\n"
        "from hfgate._server import uvicorn_config\n"
        "from hfgate.sim import SimConfig, create_app\n"
        f"app = create_app(SimConfig(**{config!r}))\n"
        "async def held(scope, receive, send):\n"
        "    if scope.get('path') in ('/embed', '/v1/embeddings'):\n"
        f"        await asyncio.sleep({delay!r})\n"
        "    await app(scope, receive, send)\n"
        f"served = held if {delay!r} else app\n"
        f"uvicorn.Server(uvicorn_config(served, {HOST!r}, {port})).run()\n"
    )
    return [sys.executable, "-c", code]


def litellm_models(urls: dict[str, str]) -> list[dict[str, Any]]:
    """LiteLLM's config entry for the 256-per-call simulator's OpenAI route."""
    params = {"model": f"openai/{EMBED_MODEL}", "api_base": f"{urls['tei']}/v1"}
    info = {"mode": "embedding", "input_cost_per_token": 0, "output_cost_per_token": 0}
    return [
        {
            "model_name": EMBED_MODEL,
            "litellm_params": params | {"api_key": SIM_TOKEN},
            "model_info": info,
        }
    ]


def register(gateway_url: str, urls: dict[str, str]) -> bool:
    """Both simulators in one hfgate, through its API; False (and why, logged) if it refuses
    them: the embeddings phases are then skipped, the rest of the run goes on."""
    for server, name in (("tei", EMBED_MODEL), ("tei32", SPLIT_MODEL)):
        credential: dict[str, Any] = {
            "api_key": SIM_TOKEN,
            "endpoint": urls[server],
            "model_name": EMBED_MODEL,
            "context_window": MAX_INPUT,
        }
        if name != EMBED_MODEL:
            credential["name"] = name
        response = httpx.post(
            f"{gateway_url}/api/integrations",
            content=json.dumps(credential),
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=60,
        )
        if response.status_code != 201:
            log(
                f"registering the TEI simulator {server} failed, so no embeddings phases:"
                f" {response.status_code} {response.text[:1000]}"
            )
            return False
    return True


# -- targets and phases --------------------------------------------------------------------------


def targets(peers: Any) -> list[dict[str, str]]:
    """The four targets of the whole-batch comparison, in the tables' order."""
    urls = {
        "direct": peers.servers["tei"].url,
        **{name: peers.servers[name].url for name in GATEWAYS},
    }
    tokens = {"direct": SIM_TOKEN, "hfgate": ADMIN_KEY, "hfgate2": ADMIN_KEY}
    tokens["litellm"] = LITELLM_KEY
    return [
        {"name": name, "url": urls[name] + "/v1/embeddings", "token": tokens[name]}
        for name in TARGETS
    ]


def split_targets(peers: Any) -> list[dict[str, Any]]:
    """hfgate splitting 256 inputs for the 32-per-call simulator, and a caller sending the same
    pieces to it in turn."""
    pieces = [
        {"model": EMBED_MODEL, "input": texts(SPLIT_BATCH)[start : start + PART]}
        for start in range(0, SPLIT_BATCH, PART)
    ]
    for piece in pieces:
        piece["encoding_format"] = "float"
    direct = {
        "name": "direct",
        "url": peers.servers["tei32"].url + "/v1/embeddings",
        "token": SIM_TOKEN,
        "bodies": pieces,
    }
    gateways = [
        {"name": name, "url": peers.servers[name].url + "/v1/embeddings", "token": ADMIN_KEY}
        for name in GATEWAYS
        if name != "litellm"  # it does not split: an oversized batch is the endpoint's 422
    ]
    return [direct, *gateways]


def sanity_check(peers: Any) -> None:
    """One request each way: the same vectors from every target."""
    answers = {}
    for target in targets(peers):
        response = httpx.post(
            target["url"],
            json=body(2),
            headers={"Authorization": f"Bearer {target['token']}"},
            timeout=30,
        )
        if response.status_code != 200:
            raise RuntimeError(f"embeddings, {target['name']}: {response.text[:500]}")
        answers[target["name"]] = [d["embedding"] for d in response.json()["data"]]
    if len({json.dumps(a) for a in answers.values()}) != 1:
        raise RuntimeError("the targets' embeddings differ: not every one relayed the simulator")


def embedding_phases(peers: Any, plan: dict[str, Any], r: dict[str, Any]) -> None:
    from phases import loadgen, spec

    if not peers.embeddings_ready:
        return
    sanity_check(peers)
    every, conc = targets(peers), plan["embed_concurrency"]
    for batch in BATCHES:
        log(f"embeddings, {batch} input(s) per request: latency at concurrency 1, then {conc}")
        r[f"embed_{batch}_c1"] = loadgen(
            spec("latency", every, body=body(batch), expect=EXPECT,
                 count=plan["embed_count"], warmup=plan["embed_warmup"]),
            peers,
        )  # fmt: skip
        r[f"embed_{batch}_load"] = loadgen(
            spec("throughput", every, body=body(batch), expect=EXPECT, concurrency=conc,
                 duration=plan["embed_duration"], ramp=plan["ramp"], slices=plan["slices"],
                 pids=peers.pids()),
            peers,
        )  # fmt: skip
    log(f"embeddings, {SPLIT_BATCH} inputs, {PART} per call: split by hfgate vs in turn")
    r["embed_split"] = loadgen(
        spec("latency", split_targets(peers), body=body(SPLIT_BATCH, SPLIT_MODEL), expect=EXPECT,
             count=plan["embed_split_count"], warmup=plan["embed_warmup"]),
        peers,
    )  # fmt: skip


# -- figures and tables ----------------------------------------------------------------------------


def _pick(figures: dict[str, Any], *path: str) -> dict[str, Any]:
    values = {}
    for name, value in figures.items():
        for part in path:
            value = None if value is None else value.get(part)
        values[name] = value
    return values


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    if "embed_split" not in results:
        return {}
    by_batch = {}
    for batch in BATCHES:
        c1 = results[f"embed_{batch}_c1"]["targets"]
        load = results[f"embed_{batch}_load"]["targets"]
        rps = _pick(load, "rps")
        by_batch[str(batch)] = {
            "p50_ms_c1": _pick(c1, "p50_ms"),
            "p99_ms_c1": _pick(c1, "p99_ms"),
            "rps": rps,
            "inputs_per_s": {t: None if v is None else v * batch for t, v in rps.items()},
            "p50_ms_load": _pick(load, "latency", "p50_ms"),
            "errors": {t: c1[t]["errors"] + load[t]["errors"] for t in load},
        }
    split = results["embed_split"]["targets"]
    return {
        "by_batch": by_batch,
        "split": {"p50_ms": _pick(split, "p50_ms"), "p99_ms": _pick(split, "p99_ms")},
        "split_errors": _pick(split, "errors"),
    }


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or not b else f"{a / b:.2f}×"


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def tables(s: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    if not s:
        return []
    lines = [
        f"### Embeddings (`/v1/embeddings`, float vectors; c=1 n={plan['embed_count']},"
        f" c={plan['embed_concurrency']} in windows, alternating)",
        "",
        "| inputs | | direct | hfgate | hfgate ×2 | LiteLLM | hfgate ÷ direct (1 / ×2)"
        " | hfgate ÷ LiteLLM (1 / ×2) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for batch, f in s["by_batch"].items():
        shown = (("p50, c=1 (ms)", "p50_ms_c1", 2), ("inputs/s", "inputs_per_s", 0))
        for label, key, digits in shown:
            v = f[key]
            cells = " | ".join(_fmt(v.get(t), digits) for t in TARGETS)
            ratios = [
                " / ".join(_ratio(v.get(gw), v.get(ref)) for gw in ("hfgate", "hfgate2"))
                for ref in ("direct", "litellm")
            ]
            lines.append(f"| {batch} | {label} | {cells} | {ratios[0]} | {ratios[1]} |")
    split = s["split"]["p50_ms"]
    lines += [
        "",
        f"{SPLIT_BATCH} inputs to an endpoint taking {PART} per call ({SPLIT_DELAY * 1000:g} ms"
        f" each): one caller sending the {SPLIT_BATCH // PART} pieces in turn, p50"
        f" {_fmt(split.get('direct'), 1)} ms; hfgate splitting them and sending the pieces"
        f" together, p50 {_fmt(split.get('hfgate'), 1)} ms (×2:"
        f" {_fmt(split.get('hfgate2'), 1)} ms), {_ratio(split.get('direct'), split.get('hfgate'))}"
        " faster.",
        "",
    ]
    return lines
