"""LiteLLM's proxy as a peer: its own virtual environment, a config for the simulator, start-up.

The venv (``bench/.venvs/litellm``, git-ignored) is made on first use with ``python3 -m venv``
and ``pip install 'litellm[proxy]==VERSION'`` (about 1.5 min), and reused while the installed
version matches. The config points LiteLLM's ``openai/`` provider (its aiohttp transport) at the
simulator's OpenAI route, with the settings that measured fastest here (see ``SETTINGS`` and
bench/README.md, "LiteLLM's settings"); ``bench/litellm_tune.py`` measures the alternatives.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import BENCH, HOST, LITELLM_KEY, MODEL, SIM_TOKEN, log
from procs import Processes, clean_env, wait_http

VERSION = "1.108.7"
VENV = BENCH / ".venvs" / "litellm"
# Extra packages for the venv (none: the tuning runs found nothing worth adding).
EXTRAS: tuple[str, ...] = ()

# The chosen settings (bench/litellm_tune.py "best"): no callbacks, no spend/error logs, no
# debug output, zero costs in model_info (no cost-map lookups), the local cost map (no fetch).
SETTINGS: dict[str, Any] = {
    "litellm_settings": {
        "drop_params": True,
        # Offline here: counting tokens with the Hub's llama tokenizer would retry its
        # download for a minute at a time; tiktoken (bundled) instead.
        "disable_hf_tokenizer_download": True,
        "set_verbose": False,
        "json_logs": True,
        "callbacks": [],
        "success_callback": [],
        "failure_callback": [],
    },
    "general_settings": {
        "master_key": LITELLM_KEY,
        "disable_spend_logs": True,
        "disable_error_logs": True,
    },
    "model_info": {
        "mode": "chat",
        "input_cost_per_token": 0,
        "output_cost_per_token": 0,
    },
    "env": {
        "LITELLM_MODE": "PRODUCTION",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        # Its aiohttp pool holds 500 connections per upstream host by default: stream 501
        # would wait for a free connection, and the 1,000-stream phase would time out half.
        "AIOHTTP_CONNECTOR_LIMIT": "4096",
        "AIOHTTP_CONNECTOR_LIMIT_PER_HOST": "4096",
    },
    "flags": [],
}


def python() -> Path:
    return VENV / "bin" / "python"


def installed_version() -> str | None:
    if not python().exists():
        return None
    probe = "import importlib.metadata as m; print(m.version('litellm'))"
    done = subprocess.run([str(python()), "-c", probe], capture_output=True, text=True)
    return done.stdout.strip() or None if done.returncode == 0 else None


def ensure_venv() -> Path:
    """The venv with ``litellm[proxy]==VERSION``; made (or remade) only when it is missing."""
    found = installed_version()
    if found == VERSION:
        return VENV
    log(f"installing litellm[proxy]=={VERSION} into {VENV} (found: {found}); about 1.5 min")
    if VENV.exists():
        shutil.rmtree(VENV)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["python3", "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run(
        [*pip, f"litellm[proxy]=={VERSION}", *EXTRAS], capture_output=True, text=True
    )
    if done.returncode != 0 or installed_version() != VERSION:
        raise RuntimeError(f"installing LiteLLM failed:\n{done.stderr[-3000:]}")
    return VENV


def config(
    sim_url: str, settings: dict[str, Any], extra_models: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """LiteLLM's config.yaml content (written as JSON, which YAML reads as is); extra models
    (the embeddings simulator's) are listed as given."""
    params = {"model": f"openai/{MODEL}", "api_base": f"{sim_url}/v1", "api_key": SIM_TOKEN}
    entry: dict[str, Any] = {"model_name": MODEL, "litellm_params": params}
    if settings.get("model_info"):
        entry["model_info"] = settings["model_info"]
    document: dict[str, Any] = {"model_list": [entry, *(extra_models or [])]}
    for section in ("litellm_settings", "general_settings", "router_settings"):
        if settings.get(section):
            document[section] = settings[section]
    return document


def key(settings: dict[str, Any]) -> str:
    """The bearer token clients send: the master key, or anything when there is none."""
    return str(settings.get("general_settings", {}).get("master_key") or "sk-none")


def launch(
    procs: Processes,
    workdir: Path,
    sim_url: str,
    port: int,
    settings: dict[str, Any] | None = None,
    name: str = "litellm",
    extra_models: list[dict[str, Any]] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``litellm --config`` on ``port`` (one worker); ready about 20 s later."""
    settings = SETTINGS if settings is None else settings
    ensure_venv()
    path = workdir / f"{name}-config.yaml"
    document = config(sim_url, settings, extra_models)
    path.write_text(json.dumps(document, indent=2) + "\n")
    argv = [str(VENV / "bin" / "litellm"), "--config", str(path), "--host", HOST]
    argv += ["--port", str(port), "--num_workers", "1", *settings.get("flags", [])]
    env = clean_env(LITELLM_LOG="ERROR", **settings.get("env", {}))
    env.pop("VIRTUAL_ENV", None)
    return procs.start(name, argv, env)


def start(
    procs: Processes, workdir: Path, sim_url: str, port: int, settings: dict[str, Any]
) -> subprocess.Popen[bytes]:
    """``launch``, then wait until ``/health/liveliness`` answers 200."""
    proc = launch(procs, workdir, sim_url, port, settings)
    url = f"http://{HOST}:{port}"
    took = wait_http(f"{url}/health/liveliness", proc, "LiteLLM's proxy", timeout=180)
    log(f"LiteLLM pid {proc.pid} on {url}: up in {took:.1f} s (LiteLLM {VERSION})")
    return proc


if __name__ == "__main__":  # ``python bench/litellm_peer.py``: install (or check) the venv
    print(ensure_venv(), installed_version(), file=sys.stderr)
