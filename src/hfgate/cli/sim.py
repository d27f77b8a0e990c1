"""``hfgate sim``: the TGI simulator on its own port (registered by ``hfgate.cli``)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer


class EngineChoice(StrEnum):
    tgi = "tgi"
    tei = "tei"
    vllm = "vllm"
    sglang = "sglang"
    llamacpp = "llamacpp"
    custom = "custom"


class TeiKind(StrEnum):
    embed = "embed"
    rerank = "rerank"
    classify = "classify"


class StateChoice(StrEnum):
    running = "running"
    scaled_to_zero = "scaled_to_zero"
    initializing = "initializing"
    paused = "paused"


class WakeChoice(StrEnum):
    any = "any"
    inference = "inference"


def sim(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(9001, help="TCP port."),
    token: str | None = typer.Option(
        None, help="Bearer token the endpoint requires (401 UNAUTHORIZED otherwise); none: public."
    ),
    forbidden_token: list[str] = typer.Option(
        [], help="A token that is valid but lacks permission (403). Repeatable."
    ),
    model_id: str = typer.Option("meta-llama/Llama-2-7b-chat-hf", help="Model served (/info)."),
    pipeline_tag: str = typer.Option("text-generation", help="Task in /info and on the Hub."),
    repository: bool = typer.Option(
        False, "--repository", help="Report model_id /repository, null sha and task (as on IE)."
    ),
    max_total_tokens: int = typer.Option(4096, help="Context window (prompt + generated)."),
    max_input_tokens: int = typer.Option(4095, help="Longest prompt; must be < max_total_tokens."),
    engine: EngineChoice = typer.Option(EngineChoice.tgi, help="Container to imitate."),
    tgi_version: str = typer.Option(
        "3.3.6-dev0", help="TGI release to imitate (< 2.1.0: old /info and data:{…} framing)."
    ),
    state: StateChoice = typer.Option(StateChoice.running, help="Endpoint state at start."),
    cold_start: float = typer.Option(5.0, help="Seconds from a wake-up to running."),
    wake_on: WakeChoice = typer.Option(
        WakeChoice.any, help="Which requests wake a scaled-to-zero endpoint: any, or POSTs only."
    ),
    idle_timeout: float | None = typer.Option(
        None, help="Scale to zero after this many idle seconds (default: never)."
    ),
    reply_tokens: int = typer.Option(16, help="Natural reply length in tokens, EOS included."),
    token_delay: float = typer.Option(0.0, help="Seconds per generated token."),
    keepalive_interval: float = typer.Option(15.0, help="Seconds of SSE silence before ':'."),
    sse_no_space: bool = typer.Option(False, help="Frame events as data:{…} (TGI <= 2.0)."),
    overloaded: bool = typer.Option(False, help="Answer generations 429 Model is overloaded."),
    stream_error_after: int | None = typer.Option(
        None, help="Send N tokens, then a generation error event."
    ),
    drop_after: int | None = typer.Option(
        None, help="Send N tokens, then cut the connection (no final event)."
    ),
    no_chat_template: bool = typer.Option(
        False, help="No chat template: /v1/chat/completions answers 422 template_error."
    ),
    chat_template_file: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="A Jinja chat template (default: ChatML)."
    ),
    vision: bool = typer.Option(
        False, help="A vision-language model: takes image parts (image-text-to-text)."
    ),
    tei_kind: TeiKind = typer.Option(TeiKind.embed, help="What a TEI container serves."),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
) -> None:
    """Run the TGI simulator: a fake Inference Endpoint for tests, demos and benchmarks.

    It speaks TGI's HTTP protocol (/info, /health, /metrics, /generate, /generate_stream,
    POST /, /tokenize, /chat_tokenize, /v1/chat/completions, /v1/completions, /v1/models)
    behind the Inference Endpoints proxy (bearer auth, scale-to-zero with X-Scale-Up-Timeout,
    paused), with deterministic replies and faults you can change while it runs.

    **Admin routes** (no auth, never behind the proxy):

    * `GET /_sim/state` — the config and the current state (`ready_in`, `in_flight`).
    * `PATCH /_sim/state` — change any option at run time, e.g.
      `{"state": "scaled_to_zero", "cold_start": 30}` or `{"overloaded": true}`.
    * `GET /_sim/stats` — requests per route, statuses, `wakeups`, `cancelled`, `dropped`,
      `last_request`, `last_headers`, `scale_up_timeout_seen`.
    * `POST /_sim/reset` — zero the counters.

    The Hub's model info is at `GET /api/models/{org}/{name}` (no auth, always up).
    """
    import uvicorn

    from hfgate._server import uvicorn_config
    from hfgate.sim import SimConfig, create_app
    from hfgate.sim.config import CHATML_TEMPLATE, ConfigError

    template = chat_template_file.read_text() if chat_template_file else CHATML_TEMPLATE
    try:
        config = SimConfig(
            model_id=model_id,
            pipeline_tag=pipeline_tag,
            model_id_repository=repository,
            engine=engine.value,
            tgi_version=tgi_version,
            max_total_tokens=max_total_tokens,
            max_input_tokens=max_input_tokens,
            chat_template=None if no_chat_template else template,
            reply_tokens=reply_tokens,
            token_delay=token_delay,
            keepalive_interval=keepalive_interval,
            sse_no_space=sse_no_space,
            token=token,
            forbidden_tokens=list(forbidden_token),
            state=state.value,
            cold_start=cold_start,
            wake_on=wake_on.value,
            idle_timeout=idle_timeout,
            overloaded=overloaded,
            stream_error_after=stream_error_after,
            drop_after=drop_after,
            vision=vision,
            tei_kind=tei_kind.value,
        )
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"hfgate sim ({engine.value}, {state.value}) on http://{host}:{port}", err=True)
    server = uvicorn.Server(uvicorn_config(create_app(config), host, port, log_level=log_level))
    server.run()
