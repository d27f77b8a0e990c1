"""hfgate's benchmark: the same OpenAI requests, direct to the TGI simulator, via hfgate (one
process and ``--workers 2``) and via LiteLLM's proxy, side by side in one run.

    .venv/bin/python bench/run.py [--quick] [--out bench/results/latest.json] [--profile DIR]

The servers (``bench/peers.py``): the simulator (``hfgate sim``, no token delay, bearer auth),
hfgate twice (a fresh ``HFGATE_HOME`` each), LiteLLM's proxy (its own venv, installed on first
use: ``bench/litellm_peer.py``), all configured for the same simulator and model. The load
generator (``bench/loadgen.py``) is a fresh process per phase. The phases (``bench/phases.py``):

* latency at concurrency 1 (non-streaming), requests alternating between the targets, and the
  latency each gateway adds (p50, p99);
* requests/s at concurrency 64 and tokens/s with 256 concurrent streams, in alternating
  windows, with the CPU time each process spent per request or token;
* time to first token at concurrency 1;
* embeddings (``bench/teibench.py``): batches of 1, 32 and 256 inputs at concurrency 1 and
  16, direct to a simulated TEI, via hfgate and via LiteLLM; 256 inputs to an endpoint taking
  32 per call, split by hfgate versus sent in turn by one caller;
* 1,000 idle streams held open through each target: its memory per stream, errors, recovery;
* resident memory of every server at rest;
* aiohttp vs httpx as clients of the simulator, and hfgate's floor (``GET /healthz``).

It prints one markdown table per metric (``bench/report.py``), with the ratios to direct and to
LiteLLM and the targets, and writes every figure plus the machine's description as JSON.
``--profile DIR`` then profiles hfgate with py-spy (``bench/profiling.py``). Every process it
started is stopped on exit, on Ctrl-C, on SIGTERM and on errors; servers also get SIGTERM if
this process is killed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

import litellm_peer
import teibench
from common import BENCH, NONSTREAM_TOKENS, ROOT, STREAM_TOKENS, log
from peers import Peers
from phases import CLIENT_VARIANTS, PLANS, run_phases
from procs import Processes, Quiet, raise_nofile, tail
from report import tables
from summary import summarize


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions: dict[str, str | None] = {}
    for package in ("uvicorn", "aiohttp", "httpx", "fastapi", "starlette", "uvloop", "httptools"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "packages": versions,
        "litellm": litellm_peer.VERSION,
        "load_average_at_start": os.getloadavg(),
        "hfgate_commit": git_commit(),
    }


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--", "src")
    return git("rev-parse", "--short", "HEAD") + ("+uncommitted src changes" if dirty else "")


# -- processes and logs -------------------------------------------------------------------------


def _raise_on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def workspace(keep_logs: Path) -> Iterator[tuple[Path, Processes]]:
    """A temporary directory (HFGATE_HOMEs, logs) and the servers; logs are kept in keep_logs."""
    workdir = Path(tempfile.mkdtemp(prefix="hfgate-bench-"))
    procs = Processes(workdir)
    try:
        yield workdir, procs
    except Exception:
        for name, _, logfile in procs.procs:
            log(f"last lines of {name}'s log:\n{tail(logfile)[-3000:]}")
        raise
    except (KeyboardInterrupt, SystemExit):
        log("interrupted; stopping the servers")
        raise
    finally:
        procs.stop_all()
        save_logs(workdir, keep_logs)
        shutil.rmtree(workdir, ignore_errors=True)


ACCESS_OK = re.compile(r'^INFO: +\S+ - "[^"]*" 2\d\d ')
EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception): .*")


def save_logs(workdir: Path, dest: Path) -> None:
    """The servers' logs without the successful access-log lines (one per request)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for logfile in workdir.glob("*.log"):
        with logfile.open(errors="replace") as src, (dest / logfile.name).open("w") as out:
            out.writelines(line for line in src if not ACCESS_OK.match(line))


def exceptions_in(logfile: Path) -> dict[str, int]:
    """Exception lines (``module.Error: message``) in a saved log, counted."""
    counts: dict[str, int] = {}
    with contextlib.suppress(OSError), logfile.open(errors="replace") as src:
        for line in src:
            if EXCEPTION.match(line):
                key = line.strip()[:200]
                counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts (smoke test, ~2 min)")
    parser.add_argument(
        "--out", type=Path, default=BENCH / "results" / "latest.json", help="JSON results file"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="then profile hfgate with py-spy under the concurrency-64 and the streaming"
        " load: collapsed stacks + a hotspots summary in DIR (not part of the figures)",
    )
    parser.add_argument(
        "--gateway-log-level",
        default="info",
        help="hfgate serve --log-level (default: info, its own default; the access log stays"
        " off, as `hfgate serve` has it by default)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to SECONDS for other processes to use < --quiet-threshold cores",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=0,
        help="re-run a phase up to N times while other processes took > --quiet-threshold"
        " cores during it, keeping the quietest attempt (for shared machines)",
    )
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.15,
        metavar="CORES",
        help="other processes' CPU above which a phase counts as disturbed (default 0.15)",
    )
    return parser.parse_args(argv)


def measure(args: argparse.Namespace, quiet: Quiet, plan: dict[str, Any]) -> dict[str, Any]:
    """Start the servers, run the phases, stop the servers; returns the whole report."""
    logs = args.out.with_suffix(".logs")
    with workspace(logs) as (workdir, procs):
        peers = Peers(procs, workdir, args.gateway_log_level, quiet)
        peers.start()
        results = run_phases(peers, plan, args.profile)
        memory, startup = peers.rest_memory, peers.startup_s
    summary = summarize(results, plan, memory, CLIENT_VARIANTS)
    names = ("hfgate", "hfgate2", "litellm", "sim", *teibench.SERVERS)
    summary["server_exceptions"] = {name: exceptions_in(logs / f"{name}.log") for name in names}
    summary["startup_s"] = startup
    return {"summary": summary, "results": results}


def setup(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "simulator": f"hfgate sim, token auth, token_delay 0, reply_tokens"
        f" {NONSTREAM_TOKENS} (non-stream) / {STREAM_TOKENS} (streams)",
        "hfgate": f"hfgate serve, one process, --log-level {args.gateway_log_level}, SQLite",
        "hfgate2": "hfgate serve --workers 2, SQLite in one HFGATE_HOME",
        "litellm": f"litellm[proxy]=={litellm_peer.VERSION} --num_workers 1, own venv",
        "litellm_settings": litellm_peer.SETTINGS,
        "load_generator": "bench/loadgen.py: aiohttp, one session, its own process",
        "embeddings": "hfgate sim --engine tei twice: 256 inputs per call (every target sends"
        f" batches whole), and {teibench.PART} per call with {teibench.SPLIT_DELAY * 1000:g}"
        " ms per call (hfgate splits; direct sends the pieces in turn)",
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet = Quiet(args.quiet_threshold, args.retries, args.wait_quiet)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    # Also when started in the background (where SIGINT starts out ignored): Ctrl-C/kill -INT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    raise_nofile()  # the servers inherit it: 1,000 streams are 2,000+ sockets through a gateway
    mode = "quick" if args.quick else "full"
    plan, machine = PLANS[mode], machine_info()
    litellm_peer.ensure_venv()  # before the clock starts: the first time, a 1.5 min install
    started = time.monotonic()
    timestamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    load_at_start = quiet.wait_for_quiet()
    measured = measure(args, quiet, plan)
    report = {
        "timestamp": timestamp,
        "mode": mode,
        "duration_s": round(time.monotonic() - started, 1),
        "machine": machine,
        "plan": plan,
        "setup": setup(args),
        "noise": asdict(quiet) | {"other_processes_cores_at_start": load_at_start},
        **measured,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(tables(measured["summary"], machine, plan))
    print(
        f"\n({mode} run, {report['duration_s']:g} s; all figures in {args.out},"
        f" server logs without their 2xx access lines in {args.out.with_suffix('.logs')})"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)  # the servers are stopped already (see workspace())
