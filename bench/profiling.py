"""``--profile DIR``: windows through hfgate (one process) with py-spy sampling the gateway.

These windows are not part of the figures. py-spy records collapsed stacks (``--format raw``)
of the thread holding the GIL, i.e. where the gateway's CPU goes; ``bench/hotspots.py``
summarizes them (also written to DIR).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import BENCH, NONSTREAM_TOKENS, STREAM_TOKENS, log, request_body
from peers import Peers
from phases import loadgen, spec
from procs import die_with_parent


def profile_phases(peers: Peers, plan: dict[str, Any], out: Path) -> dict[str, Any]:
    """The concurrency-64 window and the 256-stream window, through hfgate, profiled."""
    hfgate = peers.targets(("hfgate",))
    conc, sconc, ramp = plan["throughput_concurrency"], plan["streams_concurrency"], plan["ramp"]
    return {
        "c64": profile_gateway(
            peers,
            out / f"gateway-c{conc}.txt",
            spec("throughput", hfgate, body=request_body(stream=False), concurrency=conc,
                 duration=plan["throughput_duration"], ramp=ramp),
        ),
        "streams": profile_gateway(
            peers,
            out / f"gateway-streams{sconc}.txt",
            spec("streams", hfgate, body=request_body(stream=True), concurrency=sconc,
                 duration=plan["streams_duration"], ramp=2 * ramp),
            reply_tokens=STREAM_TOKENS,
        ),
    }  # fmt: skip


def py_spy() -> str:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    return spy


def profile_gateway(
    peers: Peers, out: Path, phase: dict[str, Any], reply_tokens: int = NONSTREAM_TOKENS
) -> dict[str, Any]:
    """One more window through hfgate with py-spy sampling the gateway (not in the figures)."""
    pid = peers.servers["hfgate"].proc.pid
    peers.patch_sim(reply_tokens=reply_tokens)
    seconds = int(phase["duration"] + phase["ramp"])
    out.parent.mkdir(parents=True, exist_ok=True)
    log(f"profiling hfgate (pid {pid}) under {phase['kind']} → {out}")
    argv = [py_spy(), "record", "--pid", str(pid), "--gil", "--full-filenames"]
    argv += ["--rate", "250", "--duration", str(seconds), "--format", "raw", "--output", str(out)]
    spy_proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=die_with_parent
    )
    try:
        time.sleep(0.5)  # let py-spy attach before the load starts
        result = loadgen(phase, peers)
        _, err = spy_proc.communicate(timeout=seconds + 60)
    finally:
        if spy_proc.poll() is None:
            spy_proc.terminate()
            spy_proc.wait(timeout=10)
        peers.patch_sim(reply_tokens=NONSTREAM_TOKENS)
    if spy_proc.returncode != 0:
        raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')}")
    summary = subprocess.run(
        [sys.executable, str(BENCH / "hotspots.py"), str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    out.with_suffix(".md").write_text(summary)
    figures = result["targets"]["hfgate"]
    rate = figures.get("rps") or figures.get("tokens_per_s")
    return {"stacks": str(out), "summary": str(out.with_suffix(".md")), "rate_profiled": rate}
