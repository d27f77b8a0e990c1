"""Text-embeddings-inference (``engine="tei"``): an embedding model, a reranker or a classifier.

Modelled on TEI's router (``huggingface/text-embeddings-inference`` at v1.9.3, ``0d124dc``):
``router/src/http/server.rs`` (routes, batch checks, headers), ``router/src/http/types.rs``
(bodies), ``router/src/lib.rs`` (``Info``, ``ErrorType``), ``core/src/tokenization.rs``
(``tokenize_input``/``encode_input``: prompts, the 250-characters-per-token bound, the token
limit) and ``core/src/infer.rs`` (``dimensions``, the wrong-model 424s).

* ``tei_kind``: ``embed`` (``/info`` ``{"embedding": {"pooling": "cls"}}``), ``rerank``
  (``{"reranker": {…}}``, one label) or ``classify`` (``{"classifier": {…}}``, NEGATIVE and
  POSITIVE). Every route is served whatever the kind, as in TEI; the wrong kind is a 424
  ``Backend error: …``. ``POST /`` and ``/invocations`` go to ``/predict``, ``/rerank``, or
  ``/embed`` (``/similarity`` when ``pipeline_tag`` is ``sentence-similarity``, as TEI's
  ``TASK`` variable does).
* Vectors, scores and labels come from ``semantic.py``: similar texts are near, so tests can
  assert orders. Token counts come from the sim's tokenizer, BOS standing for ``[CLS]``.
* Limits: ``max_client_batch_size`` inputs, ``max_input_tokens`` (TEI's ``max_input_length``),
  × 250 characters, ``auto_truncate`` (None: on since 1.9.0), ``tei_prompts``; ``overloaded``
  → 429 ``Model is overloaded``.
* Errors are ``{"error", "error_type"}`` with serde's variant names (``"Validation"``,
  ``"Empty"``, …: ``ErrorType`` has no ``rename_all``); ``/v1/embeddings`` answers
  ``{"message", "code", "type"}``. A validation error is 422 since 1.9.0 (``d026d1e``), 413
  before. ``tei_version`` < 1.8.0 ignores ``dimensions``; < 1.9.0 has no ``served_model_name``.

Not modelled: ``/embed_sparse`` (SPLADE) beyond its 424, ``/vertex``, gRPC, ``--api-key``.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from hfgate.sim import pieces, semantic, tokenizer
from hfgate.sim.http import empty, json_response, read_json, text_response
from hfgate.sim.state import Runtime
from hfgate.sim.tei_inputs import (
    DESERIALIZE,
    Encoded,
    Item,
    Options,
    TeiError,
    auto_truncate,
    backend,
    encode,
    is_ids,
    options,
    parse_input,
    parse_predict,
    prompt_text,
    since,
    validation,
    validation_plain,
)
from hfgate.sim.tgi import build_sha, served_model
from hfgate.sim.validation import Struct

Handler = Callable[[Request, Runtime], Any]
T = TypeVar("T")

LABELS = {"classify": ("NEGATIVE", "POSITIVE"), "rerank": ("LABEL_0",)}
_STATUS = {"Tokenizer": 422, "Empty": 400, "Overloaded": 429, "Backend": 424, "Unhealthy": 503}


def _status(runtime: Runtime, error: TeiError) -> int:
    if error.error_type == "Validation":  # "Fix HTTP error code for validation (#818)"
        return 422 if since(runtime, (1, 9, 0)) else 413
    return _STATUS[error.error_type]


def _refuse(runtime: Runtime, error: TeiError, openai: bool = False) -> Response:
    runtime.stats.failures[error.error_type.lower()] += 1
    status = _status(runtime, error)
    if openai:  # OpenAICompatErrorResponse
        return json_response(
            {"message": error.message, "code": status, "type": error.error_type}, status
        )
    return json_response({"error": error.message, "error_type": error.error_type}, status)


# -- /info -----------------------------------------------------------------------------------


def _model_type(runtime: Runtime) -> dict[str, Any]:
    kind = runtime.config.tei_kind
    if kind == "embed":
        return {"embedding": {"pooling": "cls"}}
    labels = LABELS[kind]
    id2label = {str(i): label for i, label in enumerate(labels)}
    label2id = {label: i for i, label in enumerate(labels)}
    return {
        "reranker" if kind == "rerank" else "classifier": {
            "id2label": id2label,
            "label2id": label2id,
        }
    }


def info_body(runtime: Runtime) -> dict[str, Any]:
    """``Info`` (router/src/lib.rs), its fields in order."""
    config = runtime.config
    model_id, sha, _ = served_model(runtime)
    build = build_sha("tei-" + config.tei_version)
    body: dict[str, Any] = {"model_id": model_id, "model_sha": sha, "model_dtype": "float16"}
    if since(runtime, (1, 9, 0)):
        body["served_model_name"] = model_id
    return body | {
        "model_type": _model_type(runtime),
        "max_concurrent_requests": config.max_concurrent_requests,
        "max_input_length": config.max_input_tokens,
        "max_batch_tokens": max(16384, config.max_input_tokens),
        "max_batch_requests": None,
        "max_client_batch_size": config.max_client_batch_size,
        "auto_truncate": auto_truncate(runtime),
        "tokenization_workers": 4,
        "version": config.tei_version,
        "sha": build,
        "docker_label": f"sha-{build[:7]}",
    }


async def info(request: Request, runtime: Runtime) -> Response:
    return runtime.cached("tei_info", lambda: json_response(info_body(runtime)))


async def health(request: Request, runtime: Runtime) -> Response:
    return empty(200)


async def metrics(request: Request, runtime: Runtime) -> Response:
    """A few of TEI's Prometheus series (``te_request_count``, ``te_request_failure``)."""
    stats = runtime.stats
    served = sum(n for route, n in stats.requests.items() if route.startswith("POST"))
    lines = ["# TYPE te_request_count counter", f"te_request_count {served}"]
    lines.append("# TYPE te_request_failure counter")
    lines += [f'te_request_failure{{err="{err}"}} {n}' for err, n in stats.failures.items()]
    return text_response("\n".join(lines) + "\n", 200)


def _batch(runtime: Runtime, items: list[T], single: bool, run: Callable[[T], Any]) -> list[Any]:
    """The batch checks of every route, one permit per input, then the inputs in order (the
    first failing one's error wins, as ``join_all(…).collect::<Result<…>>()``)."""
    if not single:
        if not items:
            raise TeiError("`inputs` cannot be empty", "Empty")
        _check_batch(runtime, len(items))
    if runtime.config.overloaded:
        raise TeiError("Model is overloaded", "Overloaded")
    return [run(item) for item in items]


def _check_batch(runtime: Runtime, size: int) -> None:
    limit = runtime.config.max_client_batch_size
    if size > limit:
        runtime.stats.failures["batch_size"] += 1
        raise validation_plain(f"batch size {size} > maximum allowed batch size {limit}")


def _headers(encoded: list[Encoded], started: float) -> dict[str, str]:
    """``ResponseMetadata`` → headers (router/src/lib.rs): ``x-compute-tokens`` is the usage."""
    total = str(int((time.perf_counter() - started) * 1000))
    return {
        "x-compute-type": "gpu+optimized",
        "x-compute-time": total,
        "x-compute-characters": str(sum(e.chars for e in encoded)),
        "x-compute-tokens": str(sum(e.tokens for e in encoded)),
        "x-total-time": total,
        "x-tokenization-time": "0",
        "x-queue-time": "0",
        "x-inference-time": total,
    }


# -- request bodies (axum's Json: a wrong shape is a 422 text) --------------------------------

EMBED_REQUEST = Struct(
    "EmbedRequest",
    {"inputs": "any", "truncate": "bool?", "prompt_name": "string?", "normalize": "bool",
     "dimensions": "usize?", "truncation_direction": "any"},
    ("inputs",),
)  # fmt: skip
OPENAI_REQUEST = Struct(
    "OpenAICompatRequest",
    {"input": "any", "model": "string?", "user": "string?", "encoding_format": "any",
     "dimensions": "usize?"},
    ("input",),
)  # fmt: skip


async def _read(request: Request, runtime: Runtime, spec: Struct | None) -> Any:
    body = await read_json(request, spec, runtime.config.payload_limit)
    runtime.stats.last_request = body
    return body


# -- embeddings ------------------------------------------------------------------------------


def _kind_is(runtime: Runtime, kind: str, error: str) -> None:
    if runtime.config.tei_kind != kind:
        runtime.stats.failures["model_type"] += 1
        raise backend(error)


@dataclass(frozen=True, slots=True)
class Pooling:
    normalize: bool = True
    dimensions: int | None = None


def _pooled(runtime: Runtime, encoded: Encoded, pooling: Pooling) -> list[float]:
    """``Infer::embed_pooled``: Matryoshka truncation (1.8.0+), then normalisation."""
    vector = semantic.pooled(encoded.texts[0])
    size = pooling.dimensions if since(runtime, (1, 8, 0)) else None
    if size is not None:
        if size > len(vector):
            raise validation("`dimensions` should be smaller than the maximum embedding dimension.")
        vector = vector[:size]
    return semantic.unit(vector) if pooling.normalize else vector


def _embed_one(
    runtime: Runtime, item: Item, opts: Options, pooling: Pooling
) -> tuple[Encoded, list[float]]:
    if pooling.dimensions == 0 and since(runtime, (1, 8, 0)):
        raise validation("`dimensions` should be positive")
    _kind_is(runtime, "embed", "Model is not an embedding model")
    encoded = encode(runtime, item, opts)
    return encoded, _pooled(runtime, encoded, pooling)


def embed_items(
    runtime: Runtime, items: list[Item], single: bool, opts: Options, pooling: Pooling
) -> list[tuple[Encoded, list[float]]]:
    return _batch(runtime, items, single, lambda item: _embed_one(runtime, item, opts, pooling))


async def embed(request: Request, runtime: Runtime) -> Response:
    """``POST /embed`` → a bare list of vectors, one per input."""
    started = time.perf_counter()
    body = await _read(request, runtime, EMBED_REQUEST)
    items, single = parse_input(body["inputs"])
    pooling = Pooling(body.get("normalize", True), body.get("dimensions"))
    try:
        done = embed_items(runtime, items, single, options(runtime, body), pooling)
    except TeiError as exc:
        return _refuse(runtime, exc)
    headers = _headers([e for e, _ in done], started)
    return json_response([vector for _, vector in done], headers=headers)


def _all_tokens(runtime: Runtime, item: Item, opts: Options) -> tuple[Encoded, list[list[float]]]:
    _kind_is(runtime, "embed", "Model is not an embedding model")
    encoded = encode(runtime, item, opts)
    pieces_ = [tokenizer.BOS, *tokenizer.split(encoded.texts[0])]
    return encoded, [semantic.pooled(piece) for piece in pieces_[-encoded.tokens :]]


async def embed_all(request: Request, runtime: Runtime) -> Response:
    """``POST /embed_all``: every token's vector, unpooled and unnormalised."""
    started = time.perf_counter()
    body = await _read(request, runtime, EMBED_REQUEST)
    items, single = parse_input(body["inputs"])
    opts = options(runtime, body)
    try:
        done = _batch(runtime, items, single, lambda item: _all_tokens(runtime, item, opts))
    except TeiError as exc:
        return _refuse(runtime, exc)
    return json_response(
        [vectors for _, vectors in done], headers=_headers([e for e, _ in done], started)
    )


async def embed_sparse(request: Request, runtime: Runtime) -> Response:
    """``POST /embed_sparse``: the sim's models never have SPLADE pooling."""
    await _read(request, runtime, EMBED_REQUEST)
    return _refuse(runtime, backend("Model is not an embedding model with SPLADE pooling"))


def _encoding(vector: list[float], base64_: bool) -> list[float] | str:
    # TEI reinterprets the f32 array's bytes (little-endian on every platform it ships for)
    if not base64_:
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


async def openai_embeddings(request: Request, runtime: Runtime) -> Response:
    """``POST /v1/embeddings`` (and ``/embeddings``): truncates only with ``--auto-truncate``,
    always normalises, ``model`` is not checked (a warning in TEI's log)."""
    started = time.perf_counter()
    body = await _read(request, runtime, OPENAI_REQUEST)
    items, single = parse_input(body["input"], "input")
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        message = f"encoding_format: unknown variant `{fmt}`, expected `float` or `base64`"
        return text_response(DESERIALIZE + message, 422)
    opts = Options(auto_truncate(runtime), False, None)
    try:
        done = embed_items(runtime, items, single, opts, Pooling(True, body.get("dimensions")))
    except TeiError as exc:
        return _refuse(runtime, exc, openai=True)
    data = [
        {"object": "embedding", "embedding": _encoding(vector, fmt == "base64"), "index": i}
        for i, (_, vector) in enumerate(done)
    ]
    tokens = sum(e.tokens for e, _ in done)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    answer = {"object": "list", "data": data, "model": served_model(runtime)[0], "usage": usage}
    return json_response(answer, headers=_headers([e for e, _ in done], started))


SIMILARITY_REQUEST = Struct(
    "SimilarityRequest",
    {"inputs": Struct("SimilarityInput", {"source_sentence": "string", "sentences": "[string]"},
                      ("source_sentence", "sentences")),
     "parameters": "any"},
    ("inputs",),
)  # fmt: skip


async def similarity(request: Request, runtime: Runtime) -> Response:
    """``POST /similarity``: cosine of the source's vector with each sentence's (unnormalised
    embeddings, as ``similarity`` builds its ``EmbedRequest`` with ``normalize: false``)."""
    started = time.perf_counter()
    body = await _read(request, runtime, SIMILARITY_REQUEST)
    inputs, params = body["inputs"], body.get("parameters") or {}
    try:
        if not inputs["sentences"]:
            raise TeiError("`inputs.sentences` cannot be empty", "Empty")
        _check_batch(runtime, len(inputs["sentences"]) + 1)
        texts = [inputs["source_sentence"], *inputs["sentences"]]
        done = embed_items(runtime, texts, False, options(runtime, params), Pooling(False))
    except TeiError as exc:
        return _refuse(runtime, exc)
    source = done[0][1]
    scores = [round(semantic.cosine(source, vector), 6) for _, vector in done[1:]]
    return json_response(scores, headers=_headers([e for e, _ in done], started))


# -- classifiers and rerankers -----------------------------------------------------------------

PREDICT_REQUEST = Struct(
    "PredictRequest",
    {"inputs": "any", "truncate": "bool?", "raw_scores": "bool", "truncation_direction": "any"},
    ("inputs",),
)  # fmt: skip
RERANK_REQUEST = Struct(
    "RerankRequest",
    {"query": "string", "texts": "[string]", "truncate": "bool?", "raw_scores": "bool",
     "return_text": "bool", "truncation_direction": "any"},
    ("query", "texts"),
)  # fmt: skip


def _scores(runtime: Runtime, item: Item, raw: bool) -> list[dict[str, Any]]:
    """One input's predictions, highest first: the reranker's one score (sigmoid unless raw),
    or the classifier's labels (softmax unless raw)."""
    labels = LABELS[runtime.config.tei_kind]
    if runtime.config.tei_kind == "rerank":
        # a single text to a cross-encoder: scored against itself (the sim's choice)
        query, text = item if isinstance(item, tuple) else (str(item), str(item))
        logit = semantic.relevance(query, text)
        return [{"score": logit if raw else round(semantic.sigmoid(logit), 6), "label": labels[0]}]
    text = " ".join(item) if isinstance(item, tuple) else str(item)
    logits = semantic.sentiment(text)
    values = list(logits) if raw else [round(p, 6) for p in semantic.softmax(logits)]
    ranked = [{"score": v, "label": label} for v, label in zip(values, labels, strict=True)]
    return sorted(ranked, key=lambda p: p["score"], reverse=True)


def _predict_one(runtime: Runtime, item: Item, opts: Options, raw: bool) -> tuple[Encoded, Any]:
    if runtime.config.tei_kind == "embed":
        runtime.stats.failures["model_type"] += 1
        raise backend("Model is not a classifier model")
    encoded = encode(runtime, item, opts)
    return encoded, _scores(runtime, item, raw)


async def predict(request: Request, runtime: Runtime) -> Response:
    """``POST /predict``: ``[{score, label}]`` for one input, a list of them for a batch."""
    started = time.perf_counter()
    body = await _read(request, runtime, PREDICT_REQUEST)
    items, single = parse_predict(body["inputs"])
    opts, raw = options(runtime, body), bool(body.get("raw_scores", False))
    try:
        done = _batch(runtime, items, single, lambda item: _predict_one(runtime, item, opts, raw))
    except TeiError as exc:
        return _refuse(runtime, exc)
    answer = done[0][1] if single else [scores for _, scores in done]
    return json_response(answer, headers=_headers([e for e, _ in done], started))


def _ranks(body: dict[str, Any], scores: list[float]) -> list[dict[str, Any]]:
    ranks = []
    for index, score in enumerate(scores):
        rank: dict[str, Any] = {"index": index}
        if body.get("return_text"):
            rank["text"] = body["texts"][index]
        ranks.append(rank | {"score": score})
    # sort_by ascending, then reverse: equal scores come out last index first
    return sorted(ranks, key=lambda r: r["score"])[::-1]


async def rerank(request: Request, runtime: Runtime) -> Response:
    """``POST /rerank`` → a bare ``[{index, text?, score}]``, highest score first."""
    started = time.perf_counter()
    body = await _read(request, runtime, RERANK_REQUEST)
    opts, raw = options(runtime, body), bool(body.get("raw_scores", False))
    try:
        if not body["texts"]:
            raise TeiError("`texts` cannot be empty", "Empty")
        _kind_is(runtime, "rerank", "model is not a re-ranker model")
        pairs: list[Item] = [(body["query"], text) for text in body["texts"]]
        done = _batch(runtime, pairs, False, lambda pair: _predict_one(runtime, pair, opts, raw))
    except TeiError as exc:
        return _refuse(runtime, exc)
    scores = [result[0]["score"] for _, result in done]
    return json_response(_ranks(body, scores), headers=_headers([e for e, _ in done], started))


# -- tokenizer routes ------------------------------------------------------------------------

TOKENIZE_REQUEST = Struct(
    "TokenizeRequest",
    {"inputs": "any", "add_special_tokens": "bool", "prompt_name": "string?"},
    ("inputs",),
)  # fmt: skip


def _simple_tokens(runtime: Runtime, text: str, opts: Options) -> list[dict[str, Any]]:
    """``into_tokens``: a special token has its text and no offsets; the others their byte
    offsets into the input with the prompt prepended."""
    encode(runtime, text, opts, check_length=False)  # empty input, prompt_name, characters
    full = (prompt_text(runtime, opts.prompt_name) or "") + text
    tokens = [{"id": tokenizer.BOS_ID, "text": tokenizer.BOS, "special": True, "start": None,
               "stop": None}] if opts.special else []  # fmt: skip
    offset = 0
    for piece, token in zip(tokenizer.split(full), pieces.ids(full, False), strict=True):
        size = len(piece.encode())
        tokens.append({"id": token, "text": piece, "special": False, "start": offset,
                       "stop": offset + size})  # fmt: skip
        offset += size
    return tokens


async def tokenize(request: Request, runtime: Runtime) -> Response:
    """``POST /tokenize``: one token list per input (a single input too)."""
    body = await _read(request, runtime, TOKENIZE_REQUEST)
    inputs = body["inputs"]
    if not (
        isinstance(inputs, str)
        or (isinstance(inputs, list) and all(isinstance(i, str) for i in inputs))
    ):
        message = "inputs: data did not match any variant of untagged enum TokenizeInput"
        return text_response(DESERIALIZE + message, 422)
    opts = Options(False, False, body.get("prompt_name"), body.get("add_special_tokens", True))
    texts, single = ([inputs], True) if isinstance(inputs, str) else (inputs, False)
    try:
        if not single:
            if not texts:
                raise TeiError("`inputs` cannot be empty", "Empty")
            _check_batch(runtime, len(texts))
        return json_response([_simple_tokens(runtime, text, opts) for text in texts])
    except TeiError as exc:
        return _refuse(runtime, exc)


async def decode(request: Request, runtime: Runtime) -> Response:
    """``POST /decode`` ``{ids, skip_special_tokens}`` → one text per id list (ids the sim
    never gave out decode to nothing: ``pieces.py``)."""
    body = await _read(request, runtime, Struct("DecodeRequest", {"ids": "any"}, ("ids",)))
    ids, skip = body["ids"], bool(body.get("skip_special_tokens", True))
    if is_ids(ids):
        batch, single = [ids], True
    elif isinstance(ids, list) and all(is_ids(b) for b in ids):
        batch, single = ids, False
    else:
        message = "ids: data did not match any variant of untagged enum InputIds"
        return text_response(DESERIALIZE + message, 422)

    def one(token_ids: list[int]) -> str:
        if not token_ids:
            raise TeiError("Input validation error: `input_ids` cannot be empty", "Empty")
        return pieces.decode(token_ids, skip)

    try:
        if not single:
            _check_batch(runtime, len(batch))
        return json_response([one(b) for b in batch])
    except TeiError as exc:
        return _refuse(runtime, exc)


# -- the routes ------------------------------------------------------------------------------


async def root(request: Request, runtime: Runtime) -> Response:
    """``POST /`` and ``/invocations``: the model type's route (server.rs, ``run``)."""
    kind = runtime.config.tei_kind
    if kind == "classify":
        return await predict(request, runtime)
    if kind == "rerank":
        return await rerank(request, runtime)
    if runtime.config.pipeline_tag == "sentence-similarity":  # TEI's TASK variable
        return await similarity(request, runtime)
    return await embed(request, runtime)


def routes() -> dict[str, dict[str, Handler]]:
    return {
        "/": {"GET": health, "POST": root},
        "/health": {"GET": health},
        "/ping": {"GET": health},
        "/metrics": {"GET": metrics},
        "/info": {"GET": info},
        "/embed": {"POST": embed},
        "/embed_all": {"POST": embed_all},
        "/embed_sparse": {"POST": embed_sparse},
        "/embeddings": {"POST": openai_embeddings},
        "/v1/embeddings": {"POST": openai_embeddings},
        "/predict": {"POST": predict},
        "/rerank": {"POST": rerank},
        "/similarity": {"POST": similarity},
        "/tokenize": {"POST": tokenize},
        "/decode": {"POST": decode},
        "/invocations": {"POST": root},
    }
