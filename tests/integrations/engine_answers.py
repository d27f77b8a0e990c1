"""What each engine answers to validation's routes, recorded from its own source (not from a live
endpoint), and a fake transport that serves them to a real ``Validator``.

* TEI: ``router/src/lib.rs`` ``Info`` / ``ModelType`` (``huggingface/text-embeddings-inference``
  v1.9.3); on Inference Endpoints ``model_id`` is ``/repository``.
* llama.cpp: ``tools/server/README.md`` (``/props``, ``/v1/models``, ``/health``, ``/tokenize``,
  ``/apply-template``), ``server-common.cpp`` ``format_error_response`` (``ggml-org/llama.cpp``).
* vLLM: ``vllm/entrypoints/openai/api_server.py`` (``/version``, ``/tokenize``), ``protocol.py``
  ``ModelCard`` (``owned_by: "vllm"``, ``max_model_len``).
* SGLang: ``sglang/srt/entrypoints/http_server.py`` (``/get_model_info``, ``/get_server_info``,
  ``/v1/models``, ``/tokenize``), ``protocol.py`` (``ModelCard`` ``owned_by: "sglang"``,
  ``TokenizeResponse``, ``ErrorResponse``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from hfgate.upstream.transport import Reply

ENDPOINT = "https://xyz.us-east-1.aws.endpoints.huggingface.cloud"
HUB = "https://huggingface.test"
TOKEN = "hf_fake_engines0123456789abcdefghijklm"
FASTAPI_404 = (404, {"detail": "Not Found"})

# -- TEI -------------------------------------------------------------------------------------


def tei_info(model_type: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "model_id": "/repository",
        "model_sha": None,
        "model_dtype": "float16",
        "served_model_name": "/repository",
        "model_type": model_type,
        "max_concurrent_requests": 512,
        "max_input_length": 512,
        "max_batch_tokens": 16384,
        "max_batch_requests": None,
        "max_client_batch_size": 32,
        "auto_truncate": True,
        "tokenization_workers": 4,
        "version": "1.9.3",
        "sha": "0d124dc",
        "docker_label": "sha-0d124dc",
    } | changes


TEI_EMBEDDING = {"embedding": {"pooling": "cls"}}
TEI_RERANKER = {"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}}
TEI_CLASSIFIER = {
    "classifier": {
        "id2label": {"0": "NEGATIVE", "1": "POSITIVE"},
        "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
    }
}

# -- llama.cpp -------------------------------------------------------------------------------

LLAMACPP_404 = (
    404,
    {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}},
)
LLAMACPP_LOADING = (
    503,
    {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}},
)
GGUF = "/repository/Llama-3.2-3B-Instruct-Q4_K_M.gguf"


def llamacpp_props(**changes: Any) -> dict[str, Any]:
    return {
        "default_generation_settings": {
            "id": 0,
            "id_task": -1,
            "n_ctx": 8192,
            "speculative": False,
            "is_processing": False,
            "params": {"n_predict": -1, "temperature": 0.8, "top_k": 40},
        },
        "total_slots": 4,
        "model_path": GGUF,
        "chat_template": "{% for message in messages %}…{% endfor %}",
        "chat_template_caps": {},
        "modalities": {"vision": False},
        "build_info": "b6500-1a2b3c4d",
        "is_sleeping": False,
    } | changes


LLAMACPP_MODELS = {
    "object": "list",
    "data": [
        {
            "id": GGUF,
            "object": "model",
            "created": 1735142223,
            "owned_by": "llamacpp",
            "meta": {"vocab_type": 2, "n_vocab": 128256, "n_ctx_train": 131072},
        }
    ],
}

# -- vLLM and SGLang -------------------------------------------------------------------------


def listed(model: str, owner: str, max_model_len: int = 32768) -> dict[str, Any]:
    entry = {"id": model, "object": "model", "created": 1, "owned_by": owner, "root": model}
    return {"object": "list", "data": [entry | {"max_model_len": max_model_len}]}


def tokenized(count: int, max_model_len: int = 32768) -> dict[str, Any]:
    return {"count": count, "max_model_len": max_model_len, "tokens": list(range(count))}


SGLANG_MODEL_INFO = {
    "model_path": "/repository",
    "tokenizer_path": "/repository",
    "is_generation": True,
    "preferred_sampling_params": None,
    "weight_version": "default",
}
SGLANG_SERVER_INFO = {
    "model_path": "/repository",
    "context_length": None,
    "max_req_input_len": 32762,
    "max_total_num_tokens": 400000,
    "version": "0.5.4",
}


# -- the fake transport ----------------------------------------------------------------------

Answer = tuple[int, Any]
Route = Answer | Callable[[Any], Answer]


@dataclass
class FakeEndpoint:
    """Answers ``"METHOD /path"`` from ``routes`` (an answer, or a function of the JSON body);
    anything else is FastAPI's 404. ``hub`` is the Hub's pipeline tag per repo id."""

    routes: dict[str, Route]
    hub: Mapping[str, str | None] = field(default_factory=dict)
    seen: list[tuple[str, str, Any]] = field(default_factory=list)

    async def request(
        self,
        method: str,
        url: str,
        *,
        token: str | None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 30.0,
    ) -> Reply:
        if url.startswith(HUB + "/api/models/"):
            repo = url.removeprefix(HUB + "/api/models/")
            if repo not in self.hub:
                return _reply((401, {"error": "Repository not found"}))
            return _reply((200, {"id": repo, "pipeline_tag": self.hub[repo]}))
        path = url.removeprefix(ENDPOINT)
        self.seen.append((method, path, json_body))
        route = self.routes.get(f"{method} {path}", FASTAPI_404)
        return _reply(route(json_body) if callable(route) else route)

    def asked(self, method: str, path: str) -> list[Any]:
        """The bodies of every ``method path`` request, in order."""
        return [body for m, p, body in self.seen if (m, p) == (method, path)]


def _reply(answer: Answer) -> Reply:
    status, body = answer
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return Reply(status, {"Content-Type": "application/json"}, raw)
