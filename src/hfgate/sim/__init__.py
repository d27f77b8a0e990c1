"""The TGI simulator: a fake Hugging Face Inference Endpoint, the peer hfgate is tested against.

``create_app(SimConfig(...))`` returns a Starlette app; run it with
``hfgate._server.BackgroundServer`` (tests) or ``hfgate sim`` (a port of its own). Everything it
does is set by ``SimConfig`` at start and can be changed while it runs with ``PATCH /_sim/state``.

What it serves
--------------
* **Admin** ``/_sim/*`` (no auth, never behind the proxy):
  ``GET /_sim/state`` → every ``SimConfig`` field (the tokens redacted unless the request
  carries ``Authorization: Bearer`` with one of them), ``state`` being the current lifecycle state,
  plus ``ready_in`` (seconds left while initializing, else null) and ``in_flight``;
  ``PATCH /_sim/state`` with a JSON object of fields → the same shape, or 400 ``{"error"}``
  (unknown field, wrong type; nothing changes); ``GET /_sim/stats`` → ``{"requests":
  {"POST /generate": n, …}, "statuses": {"200": n, …}, "failures": {"validation": n, …},
  "wakeups", "cancelled", "dropped", "completed", "generated_tokens", "last_request",
  "last_headers" (Authorization redacted), "scale_up_timeout_seen", "management": {"GET
  /v2/endpoint/{namespace}": n, …}}`` (management and whoami calls by route template; they
  never count as ``requests``); ``POST /_sim/reset`` zeroes the counters.
  ``GET|POST /_sim/endpoints``, ``DELETE /_sim/endpoints/{name}?namespace=``: the management
  API's static records beside the served one (below).
* **The Hub** ``GET /api/models/{org}/{name}`` → ``{"id", "pipeline_tag", "tags", …}`` from
  ``hub_models`` (default: the served model); unknown → 401 ``{"error": "Repository not
  found"}`` + ``X-Error-Code: RepoNotFound``. No auth, not affected by the endpoint's state.
  ``GET /api/whoami-v2`` (bearer) → user ``management_user``, ``orgs``, a fine-grained
  ``auth.accessToken`` whose scoped permissions follow the token; unknown → 401.
* **The management API** (``management.py``, ``records.py``) under ``/v2`` (point
  ``huggingface_hub.constants.INFERENCE_ENDPOINTS_ENDPOINT`` at ``{sim}/v2``).
* **The endpoint**: the Inference Endpoints proxy (``proxy.py``) in front of the container
  (``engines.py``).

The proxy (faults of the platform)
----------------------------------
* ``token``: bearer required, else 401 ``UNAUTHORIZED`` (text). ``forbidden_tokens``: 403
  ``missing permissions: inference.endpoints.infer.write``.
* ``state``: ``running`` | ``scaled_to_zero`` | ``initializing`` | ``paused``. Scaled to zero,
  the first request (``wake_on="any"``, or only POSTs with ``"inference"``) triggers one
  wake-up (``stats.wakeups``): ``initializing`` for ``cold_start`` s, then ``running``.
  Until then: ``cold_status`` (503) with an HTML body. ``X-Scale-Up-Timeout: N`` holds a
  request up to N s and serves it once running (503 if still cold). ``idle_timeout``: back to
  zero after that many seconds without authorized requests (POSTs only with ``"inference"``).
  ``paused``: 400 ``Bad Request: The endpoint is paused, ask a maintainer to restart it``,
  never wakes.

The container (``engine``)
--------------------------
* ``tgi`` (default): TGI ``tgi_version`` (default ``3.3.6-dev0``, what v3.3.7 reports):
  ``GET /info /health /ping / /metrics``, ``POST / /generate /generate_stream /tokenize
  /chat_tokenize /v1/chat/completions /v1/completions /invocations``, ``GET /v1/models``.
  Older versions lose the routes they did not have yet (< 1.4.0: no ``/v1/*``, ``/tokenize``,
  ``/chat_tokenize``), report ``max_input_length`` and the legacy ``/info`` fields, and frame
  SSE as ``data:{…}`` (< 2.1.0; ``sse_no_space`` forces it). Validation messages, statuses,
  error bodies, axum's text/plain rejections (400/413/415/422) and in-stream errors are TGI's.
  ``chat_template`` (Jinja, default ChatML; None → 422 ``template_error``).
  ``model_id_repository`` → ``/info`` says ``/repository`` with null sha and task.
  Tool calls (``tools.py``: ``tool_choice``, the tool prompt, ``no_tool``, TGI's call shapes,
  streamed without a ``finish_reason``), grammar-constrained ``response_format``
  (``grammar.py``: TGI's ``json``/``json_object``/``json_schema``/``regex`` shapes; OpenAI's are
  serde's 422), images (``vision.py``: ``vision`` → image tokens and ``image-text-to-text``;
  otherwise ``![](url)`` text).
* ``tei`` (``tei.py``): TEI ``tei_version`` serving an embedding model, a reranker or a
  classifier (``tei_kind``): ``/info``, ``/embed``, ``/embed_all``, ``/v1/embeddings``,
  ``/rerank``, ``/predict``, ``/similarity``, ``/tokenize``, ``/decode``, ``/health``,
  ``/metrics``; meaningful vectors (``semantic.py``), TEI's limits and errors.
* ``llamacpp`` (``llamacpp.py``): llama.cpp's server: ``/health``, ``/props``, ``/v1/models``,
  chat and completions (OpenAI's and ``/completion``), ``/tokenize``, ``/detokenize``,
  ``/apply-template``; 503 ``Loading model`` for ``loading`` s after a start.
* ``sglang`` (``sglang.py``): ``/health``, ``/get_model_info``, ``/get_server_info``,
  ``/v1/models`` with ``max_model_len``, chat and completions, ``/tokenize``; flat errors.
* ``vllm``: no ``/info``; ``/v1/models`` with ``max_model_len``; OpenAI chat/completions,
  ``/tokenize`` ``{"count", "max_model_len", "tokens"}``, ``/health``, ``/version``. Tool calls
  (``vllm_tools.py``: auto/required/named, parallel, ``vllm_auto_tool_choice``),
  ``response_format`` ``json_object``/``json_schema``, images refused unless ``vision``.
* ``custom``: ``GET /health`` → ``Ok``, ``POST /predict`` → ``{"response": …}``, 404 elsewhere.

The management API (Hugging Face's ``api.endpoints.huggingface.cloud/v2``)
-------------------------------------------------------------------------
* Routes: ``GET /v2/endpoint/{ns}`` → ``{"items": [record]}``; ``GET|PUT|DELETE
  /v2/endpoint/{ns}/{name}`` (PUT deep-merges a partial record into ``management_overrides``;
  DELETE sets ``management_deleted``, the proxy keeps serving); ``POST …/pause`` (proxy
  ``paused``), ``…/resume`` (``pending`` for ``management_pending_seconds``, then
  ``initializing`` for ``cold_start``, then ``running``; 400 "already running" if running),
  ``…/scale-to-zero`` (proxy ``scaled_to_zero``); ``GET /v2/provider/{ns}`` → vendors →
  regions → computes with ``pricePerHour``, ``status`` and ``quota``.
* The served endpoint's record is ``endpoint_name`` (default from the model id) in
  ``management_namespace``, typed ``endpoint_type``, on ``vendor``/``region``/``accelerator``/
  ``instance_type``/``instance_size`` at ``price_per_hour``, ``scale_to_zero_timeout`` minutes;
  ``model.image`` is keyed by the engine (tgi, vLLM, tei, custom), ``model.env`` carries the
  limits. Its ``status.state`` is read from the proxy's lifecycle on every call (a wake-up by
  traffic shows as ``initializing``); ``url`` is the sim's base URL as the caller reached it.
* Static records (``management_endpoints``, or ``POST /_sim/endpoints``): partial records
  with ``name`` and an optional ``namespace``, filled with defaults, their state as given.
* Auth: ``management_tokens`` may manage (None: ``token``; any bearer when that is None too);
  the endpoint's ``token`` otherwise and ``forbidden_tokens`` → 403; unknown → 401; a
  namespace other than ``management_user`` and ``management_orgs`` (None: the namespace) → 401.
* Faults: ``management_down`` → 503 HTML; ``management_error`` → that status, ``{"error"}``.

Generation and its faults
-------------------------
The simulated model under ``tool_choice: "auto"``: after a ``role: "tool"`` message it answers
in text; otherwise it calls the tool the last user message names (vLLM: each one named), else
the first tool. Arguments and JSON answers are ``schemagen.instance`` of their schema.

Replies are deterministic (``generation.py``): seeded by the prompt (and the seed when
sampling), ``reply_tokens`` long with EOS last (``eos_token``; ``stop`` on OpenAI routes),
``length`` when ``max_new_tokens`` is smaller, ``stop_sequence`` when a stop string ends the
text. Token counts follow ``tokenizer.py`` exactly (BOS added to ``inputs``, not to chat
prompts). ``token_delay`` s per token; SSE ``:`` keep-alives after ``keepalive_interval`` s of
silence; ``overloaded`` (or ``max_concurrent_requests`` in flight) → 429 ``Model is
overloaded`` (an SSE event on streams); ``stream_error_after=N`` → N tokens then a generation
error event (424 on non-stream routes); ``drop_after=N`` → N tokens then the connection is cut
(streams only). A client that leaves a stream early is counted in ``stats.cancelled``.
"""

from hfgate.sim.app import create_app
from hfgate.sim.config import SimConfig

__all__ = ["SimConfig", "create_app"]
