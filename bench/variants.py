"""A/B the gateway against *patched* copies of itself: the evidence behind RESULTS.md's estimates.

    .venv/bin/python bench/variants.py base,accesslog,base#2 [--streams] [--duration 24]

Starts one simulator and one ``hfgate`` gateway per variant (each its own process, own
``HFGATE_HOME``, own free port, the simulator registered through the API), then measures them
with ``bench/loadgen.py`` in **alternating windows** (concurrency 64 non-streaming, or 256
streams), so every variant sees the same machine. Reported per variant: requests/s (or
tokens/s), latency p50/p99/max, the gateway's CPU µs per request (or per token), errors.

A variant is the current ``src`` with a proposed change applied by monkeypatching at start-up
(``src`` is never edited). Each patch is the smallest stand-in for a suggestion in
RESULTS.md, not its implementation; drop a variant once the real change has landed.

* ``base``: the gateway as ``hfgate serve`` runs it.
* ``accesslog``: uvicorn's access log on (``hfgate serve --access-log``), to price it.
* ``NAME@DIR``: the gateway from another source tree (``DIR`` is its ``src``, put first on
  ``PYTHONPATH``), e.g. an older commit checked out with ``git worktree add /tmp/old REV``:
  ``bench/variants.py old@/tmp/old/src,base`` measures a change before and after, side by side.

The variants measured here before (a never-expiring key cache, FastAPI's telemetry hook off,
a lean route for the generation endpoints, coalesced stream writes) have all landed in
``src`` (the single-flight key cache, ``hfgate.api.fastlane``, chunk-at-a-time stream
reading), so they are gone; RESULTS.md keeps their figures. To try a new idea, add a name to
``PATCHES`` and its monkeypatch to ``serve``.

Run ``base`` twice (``base,base#2,…``): the gap between the two copies is the noise floor of
that run, and a difference smaller than it is not a finding.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

# bench/ is not a package: run as a script, its directory is on sys.path.
from common import ADMIN_KEY, HOST, LOADGEN, request_body
from peers import free_port, register_sim, sim_argv
from procs import Processes, clean_env, wait_http

PATCHES: tuple[str, ...] = ()  # monkeypatched at start-up; "all" applies every one
OPTIONS = ("accesslog",)


def wanted(variant: str) -> set[str]:
    """The patches of a variant name; ``#…`` tells copies apart (``base,base#2``: the noise)."""
    parts = set(variant.split("@", 1)[0].split("#", 1)[0].split("+"))
    if "all" in parts:
        parts |= set(PATCHES)
    return parts


# -- the patched gateway (this file run as ``serve PORT VARIANT``) ------------------------------


def serve(port: int, variant: str) -> None:
    parts = wanted(variant)
    import uvicorn

    from hfgate._server import uvicorn_config
    from hfgate.settings import Settings

    try:
        from hfgate.app import create_app
    except ImportError:  # a tree from before the app moved out of hfgate.api
        from hfgate.api import create_app  # type: ignore[attr-defined,no-redef]

    app: Any = create_app(Settings.from_env())
    config = uvicorn_config(app, HOST, port, log_level="info", access_log="accesslog" in parts)
    uvicorn.Server(config).run()


def compare(variants: list[str], streams: bool, duration: float, slices: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="hfgate-variants-"))
    procs = Processes(workdir)
    try:
        sim_port = free_port(HOST)
        sim_url = f"http://{HOST}:{sim_port}"
        sim = procs.start("sim", sim_argv(sim_port), clean_env())
        wait_http(f"{sim_url}/_sim/state", sim, "the simulator")
        httpx.patch(
            f"{sim_url}/_sim/state",
            json={"reply_tokens": 64 if streams else 16, "max_concurrent_requests": 4096},
            timeout=10,
        ).raise_for_status()
        targets, pids = [], {"sim": sim.pid}
        for variant in variants:
            label, _, tree = variant.partition("@")
            port = free_port(HOST)
            env = clean_env(
                HFGATE_HOME=str(workdir / label),
                HFGATE_ADMIN_KEY=ADMIN_KEY,
                HFGATE_ALLOW_HOSTS=HOST,
                HFGATE_HUB_URL=sim_url,
            )
            if tree:
                env["PYTHONPATH"] = tree
            argv = [sys.executable, __file__, "serve", str(port), label]
            gateway = procs.start(f"gateway-{label}", argv, env)
            url = f"http://{HOST}:{port}"
            wait_http(f"{url}/healthz", gateway, f"gateway {label}")
            register_sim(url, sim_url, f"gateway {label}")
            targets.append({"name": label, "url": f"{url}/v1/chat/completions", "token": ADMIN_KEY})
            pids[label] = gateway.pid
        spec = {
            "kind": "streams" if streams else "throughput",
            "targets": targets,
            "body": request_body(stream=streams),
            "concurrency": 256 if streams else 64,
            "duration": duration,
            "ramp": 1.0 if streams else 0.5,
            "slices": slices,
            "pids": pids,
        }
        done = subprocess.run(
            [sys.executable, str(LOADGEN)],
            input=json.dumps(spec).encode(),
            capture_output=True,
            check=True,
            timeout=300 + 4 * duration,
        )
        labels = [variant.partition("@")[0] for variant in variants]
        report(labels, json.loads(done.stdout)["targets"], streams)
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


def report(variants: list[str], results: dict[str, Any], streams: bool) -> None:
    base = results[variants[0]]
    if streams:
        print("| variant | tokens/s | gateway CPU per token | vs first | errors | other load |")
    else:
        print(
            "| variant | requests/s | p50 / p99 / max | gateway CPU per request | vs first"
            " | errors | other load |"
        )
    print("|---|---:|---:|---:|---:|---:|" + ("" if streams else "---:|"))
    for variant in variants:
        r, cpu = results[variant], results[variant]["cpu_s"]
        if streams:
            per = cpu[variant] / max(1, r["tokens"]) * 1e6
            first = base["cpu_s"][variants[0]] / max(1, base["tokens"]) * 1e6
            print(
                f"| {variant} | {r['tokens_per_s']:,.0f} | {per:.1f} µs | {per / first - 1:+.0%}"
                f" | {r['errors']} | {cpu['other_cores']:.2f} cores |"
            )
        else:
            per = cpu[variant] / max(1, r["requests"]) * 1e6
            first = base["cpu_s"][variants[0]] / max(1, base["requests"]) * 1e6
            lat = r["latency"]
            print(
                f"| {variant} | {r['rps']:,.0f} | {lat['p50_ms']:.1f} / {lat['p99_ms']:.1f}"
                f" / {lat['max_ms']:,.0f} ms | {per:.0f} µs | {per / first - 1:+.0%}"
                f" | {r['errors']} | {cpu['other_cores']:.2f} cores |"
            )


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", help="comma-separated, the first is the reference")
    parser.add_argument("--streams", action="store_true", help="256 streams instead of c=64")
    parser.add_argument("--duration", type=float, default=24.0, help="seconds per variant")
    parser.add_argument("--slices", type=int, default=4, help="alternating windows")
    args = parser.parse_args()
    variants = args.variants.split(",")
    named = {p for v in variants if "@" not in v for p in wanted(v)}
    unknown = named - {*PATCHES, *OPTIONS, "base", "all"}
    if unknown:
        parser.error(f"unknown variant part(s): {', '.join(sorted(unknown))}")
    compare(variants, args.streams, args.duration, args.slices)


if __name__ == "__main__":
    main()
