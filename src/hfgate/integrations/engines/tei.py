"""Text-embeddings-inference: ``/info`` says what the model is (docs/protocols.md §3.2).

Read from TEI's ``router/src/lib.rs`` (``Info``, ``ModelType``) and ``router/src/http/
server.rs``: ``model_type`` is ``{"embedding": {"pooling": "cls"|"mean"|"splade"|
"last_token"}}``, ``{"reranker": {"id2label", "label2id"}}`` (a classifier with one label) or
``{"classifier": {…}}`` (more labels); beside it ``max_input_length`` (tokens per input),
``max_client_batch_size`` (inputs per call), ``auto_truncate``, ``version``, ``model_id``. There
is no ``router`` and no ``max_total_tokens``, and no pipeline tag: the task comes from the Hub.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hfgate.integrations.engines.base import Engine, Found, Probe, json_or_none
from hfgate.integrations.report import Report, Status

# model_type's key → what hfgate serves (the catalog's ``kind``)
SERVES = {"embedding": "embed", "reranker": "rerank", "classifier": "classify"}
ROUTES = {"embed": "POST /v1/embeddings", "rerank": "POST /v1/rerank"}
# Hub pipeline tags that agree with each kind; rerankers are often tagged text-classification
# (a cross-encoder is a one-label classifier)
TASKS = {
    "embed": ("feature-extraction", "sentence-similarity"),
    "rerank": ("text-ranking", "text-classification"),
    "classify": ("text-classification",),
}
WHAT = {"embed": "an embedding model", "rerank": "a reranker", "classify": "a classifier"}
NOT_SERVED = "recognised but not served yet: hfgate has no route that classifies text"


class Tei(Engine):
    limit_fact = limit_name = "max_input_length"
    limit_source = "/info"
    unit = " per input"
    window_from_endpoint = True  # the credential's context_window is the max input length

    async def recognise(self, probe: Probe) -> Found | None:
        body = json_or_none(probe.info)
        if probe.info.status != 200 or not isinstance(body, Mapping) or "model_type" not in body:
            return None
        facts = info_facts(body)
        version = facts["engine_version"] or "(version unknown)"
        line = f"text-embeddings-inference {version}: {_described(facts)}"
        serves = facts["serves"]
        if serves in ROUTES:
            return Found(self, Status.OK, f"{line}, served through {ROUTES[serves]}", facts)
        return Found(self, Status.WARN, f"{line}, {NOT_SERVED}", facts)

    def judge_task(self, tag: str, source: str, facts: Mapping[str, Any]) -> tuple[Status, str]:
        """Against /info's ``model_type``: what the endpoint really does wins over the tag."""
        serves = facts.get("serves", "embed")
        if tag in TASKS[serves]:
            return Status.OK, f"{tag} (from {source}): {WHAT[serves]}, as the endpoint says"
        return Status.WARN, (
            f"the model's task is {tag!r} (from {source}), but the endpoint serves it as"
            f" {WHAT[serves]} (/info model_type); hfgate goes by the endpoint"
        )

    def limits(self, facts: Mapping[str, Any]) -> str:
        batch = facts.get("max_client_batch_size")
        cut = "cuts" if facts.get("auto_truncate") else "refuses"
        inputs = f"; up to {batch:,} inputs per call" if isinstance(batch, int) else ""
        return f"{inputs}; by default TEI {cut} longer inputs (auto_truncate)"

    async def chat_route(self, probe: Probe, report: Report) -> None:
        serves = report.facts.get("serves", "embed")
        use = f"it is served through {ROUTES[serves]}" if serves in ROUTES else NOT_SERVED
        report.add("chat_route", Status.SKIPPED, f"not a chat model: {use}")


def info_facts(body: Mapping[str, Any]) -> dict[str, Any]:
    """The facts the catalog and the embeddings service read (``served_model`` in
    ``catalog/catalog.py``): ``serves``, ``max_client_batch_size``, ``auto_truncate``…"""
    kind, details = _model_type(body.get("model_type"))
    length, batch = body.get("max_input_length"), body.get("max_client_batch_size")
    labels = details.get("id2label") if kind != "embedding" else None
    return {
        "engine": "tei",
        "engine_version": body.get("version") if isinstance(body.get("version"), str) else None,
        "upstream_model_id": str(body.get("model_id") or ""),
        "serves": SERVES[kind],
        "pooling": details.get("pooling") if kind == "embedding" else None,
        "labels": sorted(map(str, labels.values())) if isinstance(labels, Mapping) else None,
        "max_input_length": length if isinstance(length, int) else None,
        "max_input_tokens": length if isinstance(length, int) else None,
        "max_client_batch_size": batch if isinstance(batch, int) else None,
        "auto_truncate": body.get("auto_truncate") is True,
    }


def _model_type(value: Any) -> tuple[str, Mapping[str, Any]]:
    """``{"embedding": {"pooling": "cls"}}`` → ("embedding", {"pooling": "cls"})."""
    if isinstance(value, Mapping) and len(value) == 1:
        kind, details = next(iter(value.items()))
        if kind in SERVES:
            return kind, details if isinstance(details, Mapping) else {}
    if isinstance(value, str) and value.lower() in SERVES:
        return value.lower(), {}
    return "embedding", {}  # TEI's default when it cannot tell


def _described(facts: Mapping[str, Any]) -> str:
    if facts["serves"] == "embed":
        pooling = f" ({facts['pooling']} pooling)" if facts.get("pooling") else ""
        return f"an embedding model{pooling}"
    labels = facts.get("labels") or []
    if facts["serves"] == "classify" and labels:
        shown = ", ".join(labels[:5]) + (", …" if len(labels) > 5 else "")
        return f"a classifier ({len(labels)} labels: {shown})"
    return WHAT[facts["serves"]]


TEI = Tei()
