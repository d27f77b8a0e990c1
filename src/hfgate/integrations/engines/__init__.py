"""Engine recognition: each engine's recogniser, tried in order; the first that knows the
endpoint adds the engine line and its facts (docs/protocols.md §4.2, check 4).

The order matters only where answers overlap: TGI and TEI answer ``/info`` (each in its own
shape); the rest answer 404 there and list a model at ``/v1/models``. SGLang is asked before
vLLM because some SGLang builds answer vLLM's ``/version`` too, while vLLM has no
``/get_model_info``; the server that says nothing about itself comes last.
"""

from __future__ import annotations

from hfgate.integrations.engines.base import Engine, Found, Probe
from hfgate.integrations.engines.llamacpp import LLAMACPP
from hfgate.integrations.engines.openai import OPENAI
from hfgate.integrations.engines.sglang import SGLANG
from hfgate.integrations.engines.tei import TEI
from hfgate.integrations.engines.tgi import TGI
from hfgate.integrations.engines.vllm import VLLM
from hfgate.integrations.report import Report, Status

RECOGNISERS: tuple[Engine, ...] = (TGI, TEI, LLAMACPP, SGLANG, VLLM, OPENAI)
UNSUPPORTED = "not checked: the endpoint is not a supported text-generation server"

__all__ = ["RECOGNISERS", "Engine", "Found", "Probe", "recognise"]


async def recognise(probe: Probe, report: Report) -> Found | None:
    """The engine line of the checklist, and the engine when the later checks can run."""
    for engine in RECOGNISERS:
        found = await engine.recognise(probe)
        if found is not None:
            report.facts.update(found.facts)
            report.add("engine", found.status, found.message)
            return found
    report.add("engine", Status.FAIL, await _unknown(probe))
    return None


async def _unknown(probe: Probe) -> str:
    status = probe.info.status
    if status != 404:
        return (
            f"GET /info answered HTTP {status} with something that is not TGI's or TEI's /info:"
            " this is not a text-generation-inference container"
        )
    models = await probe.get("/v1/models")
    listed = models.status if models is not None else "nothing"
    return (
        "not a text-generation-inference container: GET /info and GET /v1/models answered"
        f" HTTP 404 and {listed} (a default Inference Toolkit or custom container?). Deploy"
        " the model with the TGI, vLLM, SGLang or llama.cpp engine (or TEI for embeddings)"
    )
