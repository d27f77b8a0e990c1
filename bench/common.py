"""What every part of the benchmark shares: paths, credentials, the request, logging."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOADGEN = BENCH / "loadgen.py"
HOST = "127.0.0.1"
ADMIN_KEY = "hfg_bench_admin_key_0123456789abcdefghijklmnopqr"
SIM_TOKEN = "hf_bench_simulated_token_0123456789abcdef"
LITELLM_KEY = "sk-bench-litellm-master-key-0123456789abcdef"
MODEL = "meta-llama/Llama-2-7b-chat-hf"
NONSTREAM_TOKENS = 16
STREAM_TOKENS = 64
PROMPT = "Explain in one paragraph why a gateway must not slow down token streaming."
ROUTE = "/v1/chat/completions"

# The targets, in the order of the tables: the simulator itself and the three gateways.
TARGETS = ("direct", "hfgate", "hfgate2", "litellm")
LABELS = {"direct": "direct", "hfgate": "hfgate", "hfgate2": "hfgate ×2", "litellm": "LiteLLM"}
GATEWAYS = ("hfgate", "hfgate2", "litellm")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def request_body(stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 256,
    }
    if stream:
        body["stream"] = True
    return body
