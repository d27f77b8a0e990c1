"""Which LiteLLM settings are fastest here? Measures variants of its config against the simulator.

    .venv/bin/python bench/litellm_tune.py [brief,lean,lean-nokey,...] [--rounds 2]

For each variant (``VARIANTS``), in turn: start LiteLLM's proxy with it, then measure latency
at concurrency 1 (300 requests, alternating with direct requests to the simulator) and
requests/s at concurrency 64 (5 × 2 s windows), and LiteLLM's CPU time per request. With
``--rounds 2`` every variant is measured twice, in alternating order, to show the noise. The
winner goes into ``litellm_peer.SETTINGS``; bench/README.md records the figures.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import litellm_peer
from common import LOADGEN, ROOT, ROUTE, SIM_TOKEN, request_body
from peers import free_port, sim_argv
from procs import Processes, Quiet, clean_env, tail, tree_pids, wait_http

EXTRAS_DIR = litellm_peer.VENV.parent / "litellm-extras"


def variant(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``base`` with ``section={key: value}`` merged in; a value of None removes the key."""
    settings = copy.deepcopy(base)
    for section, values in changes.items():
        if isinstance(values, dict):
            merged = settings.setdefault(section, {}) | values
            settings[section] = {k: v for k, v in merged.items() if v is not None}
        else:
            settings[section] = values
    return settings


BRIEF: dict[str, Any] = {
    "litellm_settings": {"drop_params": True},
    "general_settings": {"master_key": litellm_peer.key(litellm_peer.SETTINGS)},
}
LEAN = litellm_peer.SETTINGS
VARIANTS: dict[str, dict[str, Any]] = {
    "brief": BRIEF,  # the minimal config: drop_params + a master key
    "lean": LEAN,  # litellm_peer.SETTINGS
    "lean-nokey": variant(
        LEAN,
        general_settings={"master_key": None, "dangerously_permit_weak_or_unset_master_key": True},
    ),
    "lean-devmode": variant(LEAN, env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"}),
    "lean-nomodelinfo": variant(LEAN, model_info=None),
    "lean-granian": variant(LEAN, flags=["--run_granian"]),
    "lean-httpx": variant(LEAN, litellm_settings={"disable_aiohttp_transport": True}),
    "lean-httptools": variant(LEAN, env=LEAN["env"] | {"PYTHONPATH": str(EXTRAS_DIR)}),
}


def extras() -> None:
    """httptools for the ``lean-httptools`` variant (uvicorn picks it up when importable)."""
    if not (EXTRAS_DIR / "httptools").exists():
        pip = [str(litellm_peer.VENV / "bin" / "pip"), "install", "--quiet", "--target"]
        subprocess.run([*pip, str(EXTRAS_DIR), "httptools"], check=True)


def loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(LOADGEN)],
        input=json.dumps(spec).encode(),
        capture_output=True,
        cwd=ROOT,
        check=True,
        timeout=600,
    )
    return dict(json.loads(done.stdout.decode().strip().splitlines()[-1]))


def measure(targets: list[dict[str, str]], pids: dict[str, list[int]]) -> dict[str, Any]:
    plain = request_body(stream=False)
    lat = loadgen({"kind": "latency", "targets": targets, "body": plain, "count": 300})
    thr = loadgen(
        {"kind": "throughput", "targets": targets[1:], "body": plain, "concurrency": 64,
         "duration": 10.0, "slices": 5, "ramp": 0.5, "pids": pids}
    )  # fmt: skip
    direct, litellm = lat["targets"]["direct"], lat["targets"]["litellm"]
    many = thr["targets"]["litellm"]
    return {
        "added_p50_ms": litellm["p50_ms"] - direct["p50_ms"],
        "added_p99_ms": litellm["p99_ms"] - direct["p99_ms"],
        "rps_c64": many["rps"],
        "cpu_us_per_request": many["cpu_s"]["litellm"] / max(1, many["requests"]) * 1e6,
        "errors": litellm["errors"] + many["errors"],
    }


def run_variant(name: str, procs: Processes, workdir: Path, sim_url: str) -> dict[str, Any]:
    settings = VARIANTS[name]
    port = free_port()
    proc = litellm_peer.launch(procs, workdir, sim_url, port, settings, name=f"litellm-{name}")
    try:
        wait_http(f"http://127.0.0.1:{port}/health/liveliness", proc, name, timeout=180)
        Quiet(threshold=0.15, wait=60).wait_for_quiet()  # others' CPU would skew the variant
        targets = [
            {"name": "direct", "url": sim_url + ROUTE, "token": SIM_TOKEN},
            {"name": "litellm", "url": f"http://127.0.0.1:{port}{ROUTE}",
             "token": litellm_peer.key(settings)},
        ]  # fmt: skip
        return measure(targets, {"litellm": tree_pids(proc.pid)})
    except RuntimeError as exc:
        why = tail(workdir / f"litellm-{name}.log", 8)[-2000:]
        print(f"{name} failed: {exc}\n{why}", file=sys.stderr)
        return {}
    finally:
        procs.stop(name, proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="?", default=",".join(VARIANTS))
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    names = args.variants.split(",")
    if "lean-httptools" in names:
        extras()
    workdir = Path(tempfile.mkdtemp(prefix="hfgate-litellm-tune-"))
    procs, rows = Processes(workdir), []
    try:
        sim_port = free_port()
        sim = procs.start("sim", sim_argv(sim_port), clean_env())
        sim_url = f"http://127.0.0.1:{sim_port}"
        wait_http(f"{sim_url}/_sim/state", sim, "the simulator")
        for index in range(args.rounds):
            for name in names if index % 2 == 0 else names[::-1]:
                figures = run_variant(name, procs, workdir, sim_url)
                rows.append((name, figures))
                print(name, json.dumps(figures), file=sys.stderr, flush=True)
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    print("| variant | added p50, c=1 | added p99, c=1 | requests/s, c=64 | CPU/request | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, f in rows:
        if not f:
            print(f"| {name} | failed | | | | |")
            continue
        print(
            f"| {name} | {f['added_p50_ms']:.1f} ms | {f['added_p99_ms']:.1f} ms"
            f" | {f['rps_c64']:.0f} | {f['cpu_us_per_request']:,.0f} µs | {f['errors']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
