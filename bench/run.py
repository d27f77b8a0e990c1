"""hfgate's benchmark: the same OpenAI requests, straight to the TGI simulator and via hfgate.

    .venv/bin/python bench/run.py [--quick] [--out bench/results/latest.json] [--profile DIR]

Three kinds of processes, each with its own interpreter: the simulator (``hfgate sim``, no token
delay, bearer auth on), the gateway (``hfgate serve`` with a fresh ``HFGATE_HOME``), and the load
generator (``bench/loadgen.py``, started once per phase). The simulator is registered in the
gateway through ``POST /api/integrations``, exactly as an admin would. Then, in one run:

* latency at concurrency 1 (non-streaming, 16-token replies), direct and through hfgate,
  requests alternating between the two, and the latency hfgate adds (p50, p99);
* requests/s at concurrency 64, direct and through hfgate in alternating fixed windows (so
  both see the same machine), and the ratio;
* time to first token at concurrency 1 (streaming, 64-token replies), and what hfgate adds;
* tokens/s relayed with 256 concurrent streams, alternating windows again, and the ratio;
* aiohttp vs httpx as clients of the simulator (the upstream client choice in
  ``hfgate.upstream.transport``): p50 at concurrency 1, requests/s at concurrency 64, and the
  client's own CPU time per request;
* the CPU time each process spent per request (``/proc/<pid>/stat``, ``getrusage``), hfgate's
  floor (``GET /healthz``: server and framework only), and how much CPU *other* processes on
  the machine took meanwhile (from ``/proc/stat``), since that skews every figure.

It prints markdown tables and writes every figure plus the machine's description as JSON.
``--profile DIR`` then repeats the concurrency-64 and the streaming window through hfgate with
py-spy sampling the gateway (these windows are not part of the figures) and leaves collapsed
stacks and a ``bench/hotspots.py`` summary in DIR. ``--wait-quiet``/``--retries`` help on a
shared machine. Every process it started is stopped on exit, on Ctrl-C, on SIGTERM and on
errors; servers also get SIGTERM if this process is killed.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from hfgate._server import free_port

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOADGEN = BENCH / "loadgen.py"
HOST = "127.0.0.1"
ADMIN_KEY = "hfg_bench_admin_key_0123456789abcdefghijklmnopqr"
SIM_TOKEN = "hf_bench_simulated_token_0123456789abcdef"
MODEL = "meta-llama/Llama-2-7b-chat-hf"
NONSTREAM_TOKENS = 16
STREAM_TOKENS = 64
PROMPT = "Explain in one paragraph why a gateway must not slow down token streaming."

# What each mode runs; durations in seconds.
PLANS: dict[str, dict[str, Any]] = {
    "full": {
        "latency_count": 1000,
        "latency_warmup": 100,
        "throughput_concurrency": 64,
        "throughput_duration": 10.0,
        "ttft_count": 300,
        "ttft_warmup": 30,
        "streams_concurrency": 256,
        "streams_duration": 10.0,
        "clients_latency_count": 1000,
        "clients_duration": 10.0,
        "floor_duration": 5.0,
        "slices": 5,
        "ramp": 0.5,
    },
    "quick": {
        "latency_count": 200,
        "latency_warmup": 30,
        "throughput_concurrency": 64,
        "throughput_duration": 2.0,
        "ttft_count": 50,
        "ttft_warmup": 10,
        "streams_concurrency": 256,
        "streams_duration": 2.0,
        "clients_latency_count": 100,
        "clients_duration": 1.5,
        "floor_duration": 2.0,
        "slices": 2,
        "ramp": 0.3,
    },
}
LITELLM = "LiteLLM's proxy: adds 11–15 ms, under 100 requests/s per worker"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- processes ----------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the benchmark itself dies (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Processes:
    """The servers this run started; ``stop_all`` ends exactly these (by pid), newest first."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        logfile = self.workdir / f"{name}.log"
        with logfile.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us; we stop them in order
                preexec_fn=_die_with_parent,
            )
        self.procs.append((name, proc, logfile))
        return proc

    def check_alive(self) -> None:
        for name, proc, logfile in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail(logfile)}")

    def stop_all(self) -> None:
        for name, proc, _ in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=8)
                except subprocess.TimeoutExpired:
                    log(f"{name} did not stop on SIGTERM; killing pid {proc.pid}")
                    proc.kill()
                    proc.wait(timeout=5)
        self.procs.clear()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def cpu_time(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_and_children() -> float:
    """CPU seconds of this process and its reaped children (the load generators)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:g} s")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HFGATE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env | extra


def sim_argv(port: int) -> list[str]:
    """``hfgate sim`` if its CLI imports; else the same app built with ``create_app`` + uvicorn."""
    try:
        import hfgate.cli.sim  # noqa: F401

        return [
            sys.executable, "-m", "hfgate", "sim",
            "--host", HOST, "--port", str(port), "--token", SIM_TOKEN,
            "--model-id", MODEL, "--reply-tokens", str(NONSTREAM_TOKENS),
            "--token-delay", "0", "--log-level", "warning",
        ]  # fmt: skip
    except Exception as exc:
        log(f"`hfgate sim` does not import ({exc!r}); starting the simulator app directly")
    code = (
        "import uvicorn\n"
        "from hfgate._server import uvicorn_config\n"
        "from hfgate.sim import SimConfig, create_app\n"
        f"config = SimConfig(token={SIM_TOKEN!r}, model_id={MODEL!r},"
        f" reply_tokens={NONSTREAM_TOKENS}, token_delay=0.0)\n"
        f"uvicorn.Server(uvicorn_config(create_app(config), {HOST!r}, {port})).run()\n"
    )
    return [sys.executable, "-c", code]


# -- the peers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quiet:
    """How much CPU other processes may take (in cores) before a phase counts as disturbed."""

    threshold: float = 0.15
    retries: int = 0
    wait: float = 0.0

    def other_load(self, seconds: float = 2.0) -> float:
        busy0, mine0, wall0 = machine_busy(), own_and_children(), time.monotonic()
        time.sleep(seconds)
        busy1, mine1, wall1 = machine_busy(), own_and_children(), time.monotonic()
        return max(0.0, (busy1 - busy0) - (mine1 - mine0)) / (wall1 - wall0)

    def wait_for_quiet(self) -> float | None:
        """Sleep until other processes use less than ``threshold`` cores, at most ``wait`` s."""
        if self.wait <= 0:
            return None
        deadline = time.monotonic() + self.wait
        while (load := self.other_load()) > self.threshold and time.monotonic() < deadline:
            log(f"other processes use {load:.2f} cores; waiting for a quieter machine")
            time.sleep(3)
        return load


class Peers:
    def __init__(
        self, procs: Processes, workdir: Path, gateway_log_level: str, quiet: Quiet
    ) -> None:
        self.quiet = quiet
        self.procs = procs
        self.workdir = workdir
        self.gateway_log_level = gateway_log_level
        self.sim_url = self.gateway_url = ""
        self.sim: subprocess.Popen[bytes] | None = None
        self.gateway: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        sim_port, gw_port = free_port(HOST), free_port(HOST)
        self.sim_url, self.gateway_url = f"http://{HOST}:{sim_port}", f"http://{HOST}:{gw_port}"
        self.sim = self.procs.start("sim", sim_argv(sim_port), clean_env())
        wait_http(f"{self.sim_url}/_sim/state", self.sim, "the simulator")
        # TGI's default of 128 would answer 429 to the 256-stream phase, direct or not.
        self.patch_sim(max_concurrent_requests=4096)
        home = self.workdir / "home"
        env = clean_env(
            HFGATE_HOME=str(home),
            HFGATE_ADMIN_KEY=ADMIN_KEY,
            HFGATE_ALLOW_HOSTS=HOST,
            HFGATE_HUB_URL=self.sim_url,
        )
        argv = [sys.executable, "-m", "hfgate", "serve", "--host", HOST, "--port", str(gw_port)]
        argv += ["--log-level", self.gateway_log_level]
        self.gateway = self.procs.start("gateway", argv, env)
        wait_http(f"{self.gateway_url}/healthz", self.gateway, "hfgate serve")
        assert self.sim is not None
        log(f"simulator pid {self.sim.pid} on {self.sim_url}")
        log(f"gateway pid {self.gateway.pid} on {self.gateway_url} (HFGATE_HOME {home})")
        self.register()
        self.sanity_check()

    def patch_sim(self, **changes: Any) -> None:
        response = httpx.patch(f"{self.sim_url}/_sim/state", json=changes, timeout=10)
        response.raise_for_status()

    def sim_stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.sim_url}/_sim/stats", timeout=10).json()

    def register(self) -> None:
        credential = {
            "api_key": SIM_TOKEN,
            "endpoint": self.sim_url,
            "model_name": MODEL,
            "context_window": 4096,
        }
        response = httpx.post(
            f"{self.gateway_url}/api/integrations",
            content=json.dumps(credential),
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=30,
        )
        if response.status_code != 201:
            raise RuntimeError(
                f"registering the simulator failed: {response.status_code} {response.text}"
            )
        report = response.json()["report"]
        log(f"registered the simulator in hfgate: {report['summary']}")

    def sanity_check(self) -> None:
        """One request each way; the gateway's must reach the simulator, with the same reply."""
        before = self.sim_stats()["requests"].get("POST /v1/chat/completions", 0)
        answers = []
        for target in self.targets():
            response = httpx.post(
                target["url"],
                json=request_body(stream=False),
                headers={"Authorization": f"Bearer {target['token']}"},
                timeout=10,
            )
            if response.status_code != 200:
                raise RuntimeError(f"{target['name']}: {response.status_code} {response.text}")
            answers.append(response.json()["choices"][0]["message"]["content"])
        after = self.sim_stats()["requests"].get("POST /v1/chat/completions", 0)
        if after - before != 2 or answers[0] != answers[1]:
            raise RuntimeError(f"the gateway did not relay the simulator's reply: {answers}")

    def targets(self) -> list[dict[str, str]]:
        route = "/v1/chat/completions"
        return [
            {"name": "direct", "url": self.sim_url + route, "token": SIM_TOKEN},
            {"name": "hfgate", "url": self.gateway_url + route, "token": ADMIN_KEY},
        ]

    def target(self, name: str) -> dict[str, str]:
        return next(t for t in self.targets() if t["name"] == name)

    def pids(self) -> dict[str, int]:
        assert self.sim is not None and self.gateway is not None
        return {"sim": self.sim.pid, "gateway": self.gateway.pid}

    def cpu(self) -> dict[str, float]:
        assert self.sim is not None and self.gateway is not None
        return {"sim": cpu_time(self.sim.pid), "gateway": cpu_time(self.gateway.pid)}


def request_body(stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 256,
    }
    if stream:
        body["stream"] = True
    return body


# -- phases -------------------------------------------------------------------------------------


def loadgen(spec: dict[str, Any], peers: Peers) -> dict[str, Any]:
    """Run a phase; with ``--retries``, again while other processes took too much CPU.

    Of the attempts, the one during which other processes were quietest is kept.
    """
    attempts = [loadgen_once(spec, peers)]
    while (
        attempts[-1]["other_processes_cores"] > peers.quiet.threshold
        and len(attempts) <= peers.quiet.retries
    ):
        log(
            f"  other processes took {attempts[-1]['other_processes_cores']:.2f} cores;"
            f" running the phase again ({len(attempts)}/{peers.quiet.retries})"
        )
        attempts.append(loadgen_once(spec, peers))
    best = min(attempts, key=lambda a: a["other_processes_cores"])
    best["attempts"] = len(attempts)
    return best


def loadgen_once(spec: dict[str, Any], peers: Peers) -> dict[str, Any]:
    """Run one phase in a fresh load-generator process; adds the servers' CPU seconds."""
    peers.procs.check_alive()
    budget = 120 + 3 * (spec.get("duration", 0) + spec.get("ramp", 0))
    budget += 0.1 * (spec.get("count", 0) + spec.get("warmup", 0))
    before, busy0, mine0, wall0 = peers.cpu(), machine_busy(), own_and_children(), time.monotonic()
    done = subprocess.run(
        [sys.executable, str(LOADGEN)],
        input=json.dumps(spec).encode(),
        capture_output=True,
        timeout=budget,
        cwd=ROOT,
        preexec_fn=_die_with_parent,
        check=False,
    )
    after, busy1, mine1, wall1 = peers.cpu(), machine_busy(), own_and_children(), time.monotonic()
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}):\n{done.stderr.decode()}")
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    result["server_cpu_s"] = {name: after[name] - before[name] for name in before}
    ours = sum(result["server_cpu_s"].values()) + (mine1 - mine0)
    # Other processes on the machine compete for the same cores: say how much they took.
    result["other_processes_cores"] = max(0.0, (busy1 - busy0) - ours) / (wall1 - wall0)
    result["wall_s"] = wall1 - wall0
    return result


def spec(kind: str, targets: list[dict[str, str]], **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "targets": targets, **fields}


def run_phases(peers: Peers, plan: dict[str, Any], profile: Path | None) -> dict[str, Any]:
    both, ramp, slices = peers.targets(), plan["ramp"], plan["slices"]
    direct, hfgate = [peers.target("direct")], [peers.target("hfgate")]
    conc, duration = plan["throughput_concurrency"], plan["throughput_duration"]
    sconc, sduration = plan["streams_concurrency"], plan["streams_duration"]
    plain, stream = request_body(stream=False), request_body(stream=True)
    pids = peers.pids()
    r: dict[str, Any] = {}

    peers.patch_sim(reply_tokens=NONSTREAM_TOKENS)
    log(f"latency, concurrency 1: {plan['latency_count']} requests each way, alternating")
    r["latency_c1"] = loadgen(
        spec("latency", both, body=plain, count=plan["latency_count"],
             warmup=plan["latency_warmup"]),
        peers,
    )  # fmt: skip
    log(f"throughput, concurrency {conc}: {slices} × {duration / slices:g} s windows each way")
    r["throughput_c64"] = loadgen(
        spec("throughput", both, body=plain, concurrency=conc, duration=duration, ramp=ramp,
             slices=slices, pids=pids),
        peers,
    )  # fmt: skip

    peers.patch_sim(reply_tokens=STREAM_TOKENS)
    log(f"time to first token, concurrency 1: {plan['ttft_count']} streams each way")
    r["ttft_c1"] = loadgen(
        spec("ttft", both, body=stream, count=plan["ttft_count"], warmup=plan["ttft_warmup"]),
        peers,
    )
    log(f"streaming, {sconc} concurrent streams: {slices} × {sduration / slices:g} s windows")
    r["streams"] = loadgen(
        spec("streams", both, body=stream, concurrency=sconc, duration=sduration,
             ramp=2 * ramp, slices=slices, pids=pids),
        peers,
    )  # fmt: skip

    peers.patch_sim(reply_tokens=NONSTREAM_TOKENS)
    for label, client, pool in CLIENT_VARIANTS:
        log(f"client {label} → simulator: concurrency 1, then {conc}")
        r[f"client_{label}_c1"] = loadgen(
            spec("latency", direct, client=client, pool=pool, body=plain,
                 count=plan["clients_latency_count"], warmup=plan["latency_warmup"]),
            peers,
        )  # fmt: skip
        r[f"client_{label}_c{conc}"] = loadgen(
            spec("throughput", direct, client=client, pool=pool, body=plain, concurrency=conc,
                 duration=plan["clients_duration"], ramp=ramp, pids=pids),
            peers,
        )  # fmt: skip

    log(f"hfgate's floor: GET /healthz (no upstream, no auth), concurrency {conc}")
    health = [{"name": "hfgate", "url": peers.gateway_url + "/healthz", "token": "-"}]
    r["gateway_healthz"] = loadgen(
        spec("throughput", health, method="GET", expect='"ok"', concurrency=conc,
             duration=plan["floor_duration"], ramp=ramp, pids=pids),
        peers,
    )  # fmt: skip

    if profile is not None:
        r["profile"] = {
            "c64": profile_gateway(
                peers,
                profile / f"gateway-c{conc}.txt",
                spec("throughput", hfgate, body=plain, concurrency=conc, duration=duration,
                     ramp=ramp),
            ),
            "streams": profile_gateway(
                peers,
                profile / f"gateway-streams{sconc}.txt",
                spec("streams", hfgate, body=stream, concurrency=sconc, duration=sduration,
                     ramp=2 * ramp),
                reply_tokens=STREAM_TOKENS,
            ),
        }  # fmt: skip
    r["sim_stats"] = peers.sim_stats()
    return r


# (label, client, connection limit): the limit None means one connection per request in flight.
CLIENT_VARIANTS: tuple[tuple[str, str, int | None], ...] = (
    ("aiohttp", "aiohttp", None),
    ("httpx", "httpx", None),
    ("httpx-pool8", "httpx", 8),
)


def profile_gateway(
    peers: Peers, out: Path, phase: dict[str, Any], reply_tokens: int = NONSTREAM_TOKENS
) -> dict[str, Any]:
    """One more window through hfgate with py-spy sampling the gateway (not in the figures).

    py-spy records collapsed stacks (``--format raw``) of the thread holding the GIL, i.e.
    where the gateway's CPU goes; ``bench/hotspots.py`` summarizes them (also written here).
    """
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    assert peers.gateway is not None
    peers.patch_sim(reply_tokens=reply_tokens)
    seconds = int(phase["duration"] + phase["ramp"])
    out.parent.mkdir(parents=True, exist_ok=True)
    log(f"profiling the gateway (pid {peers.gateway.pid}) under {phase['kind']} → {out}")
    argv = [spy, "record", "--pid", str(peers.gateway.pid), "--gil", "--full-filenames"]
    argv += ["--rate", "250"]
    argv += ["--duration", str(seconds), "--format", "raw", "--output", str(out)]
    spy_proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_parent
    )
    try:
        time.sleep(0.5)  # let py-spy attach before the load starts
        result = loadgen(phase, peers)
        _, err = spy_proc.communicate(timeout=seconds + 60)
    finally:
        if spy_proc.poll() is None:
            spy_proc.terminate()
            spy_proc.wait(timeout=10)
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


# -- figures ------------------------------------------------------------------------------------


def per_unit_us(cpu_s: float | None, units: int) -> float | None:
    return cpu_s / units * 1e6 if units and cpu_s is not None else None


def summarize(results: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    lat = results["latency_c1"]["targets"]
    thr = results["throughput_c64"]["targets"]
    td, th = thr["direct"], thr["hfgate"]
    tt = results["ttft_c1"]["targets"]
    sd, sh = results["streams"]["targets"]["direct"], results["streams"]["targets"]["hfgate"]
    floor = results["gateway_healthz"]["targets"]["hfgate"]
    conc = plan["throughput_concurrency"]

    def errors(*parts: dict[str, Any]) -> int:
        return int(sum(p["errors"] for p in parts))

    added_p50 = lat["hfgate"]["p50_ms"] - lat["direct"]["p50_ms"]
    rps_ratio = _ratio(th["rps"], td["rps"])
    phases = {k: v for k, v in results.items() if isinstance(v, dict) and "wall_s" in v}
    other = {name: round(v["other_processes_cores"], 3) for name, v in phases.items()}
    for name, figures in (("throughput", thr), ("streams", results["streams"]["targets"])):
        for target, f in figures.items():
            other[f"{name}_{target}_windows"] = round(f["cpu_s"]["other_cores"], 3)
    summary: dict[str, Any] = {
        "latency_c1": {
            "direct_p50_ms": lat["direct"]["p50_ms"],
            "direct_p99_ms": lat["direct"]["p99_ms"],
            "hfgate_p50_ms": lat["hfgate"]["p50_ms"],
            "hfgate_p99_ms": lat["hfgate"]["p99_ms"],
            "added_p50_ms": added_p50,
            "added_p99_ms": lat["hfgate"]["p99_ms"] - lat["direct"]["p99_ms"],
        },
        "throughput": {
            "concurrency": conc,
            "direct_rps": td["rps"],
            "hfgate_rps": th["rps"],
            "ratio": rps_ratio,
            "direct_p50_ms": td["latency"]["p50_ms"],
            "hfgate_p50_ms": th["latency"]["p50_ms"],
            "direct_p99_ms": td["latency"]["p99_ms"],
            "hfgate_p99_ms": th["latency"]["p99_ms"],
            "direct_max_ms": td["latency"]["max_ms"],
            "hfgate_max_ms": th["latency"]["max_ms"],
            "sim_cpu_us_per_request_direct": per_unit_us(td["cpu_s"]["sim"], td["requests"]),
            "sim_cpu_us_per_request_hfgate": per_unit_us(th["cpu_s"]["sim"], th["requests"]),
            "gateway_cpu_us_per_request": per_unit_us(th["cpu_s"]["gateway"], th["requests"]),
            "client_cpu_us_per_request_direct": per_unit_us(td["cpu_s"]["client"], td["requests"]),
            "client_cpu_us_per_request_hfgate": per_unit_us(th["cpu_s"]["client"], th["requests"]),
        },
        "ttft_c1": {
            "direct_p50_ms": tt["direct"]["ttft"]["p50_ms"],
            "direct_p99_ms": tt["direct"]["ttft"]["p99_ms"],
            "hfgate_p50_ms": tt["hfgate"]["ttft"]["p50_ms"],
            "hfgate_p99_ms": tt["hfgate"]["ttft"]["p99_ms"],
            "added_p50_ms": tt["hfgate"]["ttft"]["p50_ms"] - tt["direct"]["ttft"]["p50_ms"],
            "added_p99_ms": tt["hfgate"]["ttft"]["p99_ms"] - tt["direct"]["ttft"]["p99_ms"],
            "direct_stream_p50_ms": tt["direct"]["stream_total"]["p50_ms"],
            "hfgate_stream_p50_ms": tt["hfgate"]["stream_total"]["p50_ms"],
            "tokens_per_stream": {k: tt[k]["tokens_per_stream"] for k in ("direct", "hfgate")},
        },
        "streams": {
            "concurrency": results["streams"]["concurrency"],
            "direct_tokens_per_s": sd["tokens_per_s"],
            "hfgate_tokens_per_s": sh["tokens_per_s"],
            "ratio": _ratio(sh["tokens_per_s"], sd["tokens_per_s"]),
            "direct_streams_per_s": sd["streams_per_s"],
            "hfgate_streams_per_s": sh["streams_per_s"],
            "tokens_per_stream": {
                "direct": sd["tokens_per_stream"],
                "hfgate": sh["tokens_per_stream"],
            },
            "gateway_cpu_us_per_token": per_unit_us(sh["cpu_s"]["gateway"], sh["tokens"]),
            "sim_cpu_us_per_token_direct": per_unit_us(sd["cpu_s"]["sim"], sd["tokens"]),
            "sim_cpu_us_per_token_hfgate": per_unit_us(sh["cpu_s"]["sim"], sh["tokens"]),
        },
        "gateway_floor": {
            "what": f"GET /healthz at concurrency {conc}: uvicorn + FastAPI + middleware only",
            "rps": floor["rps"],
            "gateway_cpu_us_per_request": per_unit_us(floor["cpu_s"]["gateway"], floor["requests"]),
            "errors": floor["errors"],
        },
        "errors": {
            "direct": errors(lat["direct"], td, tt["direct"], sd),
            "hfgate": errors(lat["hfgate"], th, tt["hfgate"], sh),
            "by_phase": {
                "latency_c1": {k: lat[k]["errors"] for k in ("direct", "hfgate")},
                "throughput": {"direct": td["errors"], "hfgate": th["errors"]},
                "ttft_c1": {k: tt[k]["errors"] for k in ("direct", "hfgate")},
                "streams": {"direct": sd["errors"], "hfgate": sh["errors"]},
            },
            "kinds": {
                "throughput_hfgate": th["error_kinds"],
                "streams_hfgate": sh["error_kinds"],
            },
        },
        "clients": {},
        "other_processes_cores": other,
    }
    for label, _, pool in CLIENT_VARIANTS:
        one = results[f"client_{label}_c1"]["targets"]["direct"]
        many = results[f"client_{label}_c{conc}"]["targets"]["direct"]
        summary["clients"][label] = {
            "pool": pool,
            "p50_ms_c1": one["p50_ms"],
            "p99_ms_c1": one["p99_ms"],
            "client_cpu_us_per_request_c1": per_unit_us(
                results[f"client_{label}_c1"]["client_cpu_s"], one["ok"]
            ),
            "rps": many["rps"],
            "p50_ms": many["latency"]["p50_ms"],
            "client_cpu_us_per_request": per_unit_us(many["cpu_s"]["client"], many["requests"]),
            "errors": one["errors"] + many["errors"],
        }
    summary["targets"] = {
        "added_p50_under_2ms": {"measured_ms": added_p50, "met": added_p50 < 2.0},
        "rps_at_least_a_third_of_direct": {
            "measured_ratio": rps_ratio,
            "met": rps_ratio is not None and rps_ratio >= 1 / 3,
        },
    }
    return summary


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{suffix}"


def signed(value: float | None, digits: int = 2, suffix: str = " ms") -> str:
    return "–" if value is None else f"{value:+,.{digits}f}{suffix}"


def tables(summary: dict[str, Any], machine: dict[str, Any], plan: dict[str, Any]) -> str:
    lat, thr, ttft = summary["latency_c1"], summary["throughput"], summary["ttft_c1"]
    st, err, cl = summary["streams"], summary["errors"], summary["clients"]
    floor = summary["gateway_floor"]
    conc, sconc = thr["concurrency"], st["concurrency"]
    busiest = max(summary["other_processes_cores"].values(), default=0.0)
    lines = [
        f"Machine: {machine['cpu_model']}, {machine['cores']} cores, Python"
        f" {machine['python']}, {machine['platform']}; hfgate {machine['hfgate_commit']}",
        "",
        "### Direct to the simulator vs through hfgate (POST /v1/chat/completions)",
        "",
        "| metric | direct | hfgate | hfgate vs direct |",
        "|---|---:|---:|---:|",
        f"| latency p50, concurrency 1 ({NONSTREAM_TOKENS} tokens, n={plan['latency_count']})"
        f" | {fmt(lat['direct_p50_ms'])} ms | {fmt(lat['hfgate_p50_ms'])} ms"
        f" | **{signed(lat['added_p50_ms'])}** |",
        f"| latency p99, concurrency 1 | {fmt(lat['direct_p99_ms'])} ms"
        f" | {fmt(lat['hfgate_p99_ms'])} ms | {signed(lat['added_p99_ms'])} |",
        f"| requests/s, concurrency {conc} ({plan['slices']} × "
        f"{plan['throughput_duration'] / plan['slices']:g} s windows, alternating)"
        f" | {fmt(thr['direct_rps'], 0)} | {fmt(thr['hfgate_rps'], 0)}"
        f" | **{fmt(thr['ratio'], 2, '×')}** |",
        f"| latency p50 / p99 / max, concurrency {conc}"
        f" | {fmt(thr['direct_p50_ms'], 1)} / {fmt(thr['direct_p99_ms'], 1)}"
        f" / {fmt(thr['direct_max_ms'], 0)} ms"
        f" | {fmt(thr['hfgate_p50_ms'], 1)} / {fmt(thr['hfgate_p99_ms'], 1)}"
        f" / {fmt(thr['hfgate_max_ms'], 0)} ms | |",
        f"| time to first token p50, concurrency 1 ({STREAM_TOKENS}-token streams,"
        f" n={plan['ttft_count']}) | {fmt(ttft['direct_p50_ms'])} ms"
        f" | {fmt(ttft['hfgate_p50_ms'])} ms | **{signed(ttft['added_p50_ms'])}** |",
        f"| time to first token p99, concurrency 1 | {fmt(ttft['direct_p99_ms'])} ms"
        f" | {fmt(ttft['hfgate_p99_ms'])} ms | {signed(ttft['added_p99_ms'])} |",
        f"| whole stream p50, concurrency 1 | {fmt(ttft['direct_stream_p50_ms'])} ms"
        f" | {fmt(ttft['hfgate_stream_p50_ms'])} ms"
        f" | {signed(_diff(ttft['hfgate_stream_p50_ms'], ttft['direct_stream_p50_ms']))} |",
        f"| tokens/s relayed, {sconc} concurrent streams ({plan['slices']} ×"
        f" {plan['streams_duration'] / plan['slices']:g} s windows, alternating)"
        f" | {fmt(st['direct_tokens_per_s'], 0)} | {fmt(st['hfgate_tokens_per_s'], 0)}"
        f" | **{fmt(st['ratio'], 2, '×')}** |",
        f"| streams/s completed, {sconc} concurrent | {fmt(st['direct_streams_per_s'], 1)}"
        f" | {fmt(st['hfgate_streams_per_s'], 1)} | |",
        f"| errors (all phases) | {err['direct']} | {err['hfgate']} | |",
        "",
        "Where the CPU goes (CPU time inside the measured windows ÷ requests or tokens in them):",
        "",
        "| per request, concurrency " + str(conc) + " | direct | hfgate |",
        "|---|---:|---:|",
        f"| simulator | {fmt(thr['sim_cpu_us_per_request_direct'], 0)} µs"
        f" | {fmt(thr['sim_cpu_us_per_request_hfgate'], 0)} µs |",
        f"| gateway | – | {fmt(thr['gateway_cpu_us_per_request'], 0)} µs |",
        f"| load generator | {fmt(thr['client_cpu_us_per_request_direct'], 0)} µs"
        f" | {fmt(thr['client_cpu_us_per_request_hfgate'], 0)} µs |",
        f"| per streamed token ({sconc} streams): simulator | "
        f"{fmt(st['sim_cpu_us_per_token_direct'], 1)} µs"
        f" | {fmt(st['sim_cpu_us_per_token_hfgate'], 1)} µs |",
        f"| per streamed token ({sconc} streams): gateway | – |"
        f" {fmt(st['gateway_cpu_us_per_token'], 1)} µs |",
        f"| gateway floor: GET /healthz, no upstream | – |"
        f" {fmt(floor['gateway_cpu_us_per_request'], 0)} µs ({fmt(floor['rps'], 0)} req/s) |",
        "",
        "### Targets",
        "",
        "| target | measured | met |",
        "|---|---:|:---:|",
    ]
    targets = summary["targets"]
    p50 = targets["added_p50_under_2ms"]
    ratio = targets["rps_at_least_a_third_of_direct"]
    lines += [
        f"| p50 added latency at concurrency 1 < 2 ms | {signed(p50['measured_ms'])}"
        f" | {'yes' if p50['met'] else 'NO'} |",
        f"| requests/s at concurrency {conc} ≥ ⅓ of direct"
        f" | {fmt(ratio['measured_ratio'], 2, '×')} | {'yes' if ratio['met'] else 'NO'} |",
        f"| for scale: {LITELLM} | | |",
        "",
        "### Upstream client: aiohttp vs httpx, straight to the simulator (same request)",
        "",
        f"| client | p50, c=1 | p99, c=1 | requests/s, c={conc} | p50, c={conc}"
        f" | client CPU per request, c=1 / c={conc} | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, c in cl.items():
        name = label if c["pool"] is None else f"{label} (pool capped at {c['pool']})"
        lines.append(
            f"| {name} | {fmt(c['p50_ms_c1'])} ms | {fmt(c['p99_ms_c1'])} ms"
            f" | {fmt(c['rps'], 0)} | {fmt(c['p50_ms'], 1)} ms"
            f" | {fmt(c['client_cpu_us_per_request_c1'], 0)}"
            f" / {fmt(c['client_cpu_us_per_request'], 0)} µs | {c['errors']} |"
        )
    a, x = cl["aiohttp"], cl["httpx"]
    cpu = _times(
        x["client_cpu_us_per_request"], a["client_cpu_us_per_request"], "less CPU", "more CPU"
    )
    lines.append(
        f"| **aiohttp vs httpx** | {_times(x['p50_ms_c1'], a['p50_ms_c1'], 'faster', 'slower')}"
        f" | {_times(x['p99_ms_c1'], a['p99_ms_c1'], 'faster', 'slower')}"
        f" | {_times(a['rps'], x['rps'], 'more', 'fewer')}"
        f" | {_times(x['p50_ms'], a['p50_ms'], 'faster', 'slower')} | {cpu} (c={conc}) | |"
    )
    for name, found in summary.get("server_exceptions", {}).items():
        if found:
            lines += ["", f"Exceptions in the {name}'s log (all phases):", ""]
            lines += [f"* {count} × `{text}`" for text, count in list(found.items())[:5]]
    if busiest > 0.1:
        lines += [
            "",
            f"Note: other processes on this machine used up to {busiest:.2f} cores during a"
            " phase (per phase in the JSON, `other_processes_cores`); figures are noisier.",
        ]
    return "\n".join(lines)


def _times(a: float | None, b: float | None, better: str, worse: str) -> str:
    """``a / b`` as "2.5× better", or "1.7× worse" when below 1."""
    ratio = _ratio(a, b)
    if ratio is None:
        return "–"
    return f"{ratio:.1f}× {better}" if ratio >= 1 else f"{1 / ratio:.1f}× {worse}"


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


# -- the machine --------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("uvicorn", "aiohttp", "httpx", "fastapi", "starlette", "uvloop", "httptools"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "packages": versions,
        "load_average_at_start": os.getloadavg(),
        "hfgate_commit": commit + ("+uncommitted src changes" if dirty else ""),
    }


# -- main ---------------------------------------------------------------------------------------


def _raise_on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def workspace(keep_logs: Path) -> Iterator[tuple[Path, Processes]]:
    """A temporary directory (HFGATE_HOME, logs) and the servers; logs are kept in keep_logs."""
    workdir = Path(tempfile.mkdtemp(prefix="hfgate-bench-"))
    procs = Processes(workdir)
    try:
        yield workdir, procs
    except Exception:
        for name, _, logfile in procs.procs:
            log(f"last lines of {name}'s log:\n{tail(logfile)}")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts (< 60 s, smoke test)")
    parser.add_argument(
        "--out", type=Path, default=BENCH / "results" / "latest.json", help="JSON results file"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="then profile the gateway with py-spy under the concurrency-64 and the streaming"
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
    args = parser.parse_args(argv)
    quiet = Quiet(args.quiet_threshold, args.retries, args.wait_quiet)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    # Also when started in the background (where SIGINT starts out ignored): Ctrl-C/kill -INT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    mode = "quick" if args.quick else "full"
    plan = PLANS[mode]
    machine = machine_info()
    started = time.monotonic()
    timestamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    load_at_start = quiet.wait_for_quiet()
    logs = args.out.with_suffix(".logs")
    with workspace(logs) as (workdir, procs):
        peers = Peers(procs, workdir, args.gateway_log_level, quiet)
        peers.start()
        results = run_phases(peers, plan, args.profile)
    summary = summarize(results, plan)
    summary["server_exceptions"] = {
        name: exceptions_in(logs / f"{name}.log") for name in ("gateway", "sim")
    }
    report = {
        "timestamp": timestamp,
        "mode": mode,
        "duration_s": round(time.monotonic() - started, 1),
        "machine": machine,
        "plan": plan,
        "setup": {
            "simulator": f"hfgate sim, token auth, token_delay 0, reply_tokens"
            f" {NONSTREAM_TOKENS} (non-stream) / {STREAM_TOKENS} (streams)",
            "gateway": f"hfgate serve, one process, --log-level {args.gateway_log_level}",
            "load_generator": "bench/loadgen.py: aiohttp, one session, its own process",
        },
        "noise": asdict(quiet) | {"other_processes_cores_at_start": load_at_start},
        "summary": summary,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(tables(summary, machine, plan))
    print(
        f"\n({mode} run, {report['duration_s']:g} s; all figures in {args.out},"
        f" server logs without their 2xx access lines in {logs})"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)  # the servers are stopped already (see workspace())
