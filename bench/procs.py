"""The processes a run starts, and what /proc says about them (CPU time, memory, children).

A server may be a process tree (``hfgate serve --workers 2`` is a supervisor and its workers):
every figure here is summed over the tree, found through ``/proc/<pid>/task/*/children``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from common import ROOT, log

TICK = os.sysconf("SC_CLK_TCK")


def die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the benchmark itself dies (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def raise_nofile() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (children inherit it); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 65536)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
    return soft


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
                preexec_fn=die_with_parent,
            )
        self.procs.append((name, proc, logfile))
        return proc

    def check_alive(self) -> None:
        for name, proc, logfile in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail(logfile)}")

    def stop(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM to the process, then SIGKILL to it and to any child it left behind."""
        if proc.poll() is not None:
            return
        children = tree_pids(proc.pid)[1:]
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log(f"{name} did not stop on SIGTERM; killing pid {proc.pid}")
            proc.kill()
            proc.wait(timeout=5)
        for pid in children:  # workers of a supervisor that died before them
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for name, proc, _ in reversed(self.procs):
            self.stop(name, proc)
        self.procs.clear()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- /proc --------------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(p) for p in task.read_text().split()]
    return found


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants, parents first."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop(0)
        pids.append(current)
        queue += children(current)
    return pids


def cpu_time(pid: int) -> float:
    """User + system CPU seconds of one process, from /proc/<pid>/stat (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def tree_cpu(pids: list[int]) -> float:
    return sum(cpu_time(pid) for pid in pids)


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of one process in kB (``VmRSS`` from /proc/<pid>/status)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def pss_kb(pid: int) -> int:
    """Proportional set size in kB: shared pages split between the processes that map them."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def command(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:160]
    return ""


def tree_memory(pid: int) -> dict[str, Any]:
    """RSS and PSS (kB) summed over a process tree, how many processes, and each one's."""
    members = [
        {"pid": p, "rss_kb": rss_kb(p), "pss_kb": pss_kb(p), "command": command(p)}
        for p in tree_pids(pid)
    ]
    return {
        "rss_kb": sum(m["rss_kb"] for m in members),
        "pss_kb": sum(m["pss_kb"] for m in members),
        "processes": len(members),
        "members": members,
    }


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / TICK


def own_and_children() -> float:
    """CPU seconds of this process and its reaped children (the load generators)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


# -- readiness ----------------------------------------------------------------------------------


def wait_http(
    url: str,
    proc: subprocess.Popen[bytes],
    what: str,
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
) -> float:
    """Poll ``url`` until it answers 200; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() < start + timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0, headers=headers).status_code == 200:
                return time.monotonic() - start
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:g} s")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HFGATE_", "LITELLM_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env | extra


# -- other processes ----------------------------------------------------------------------------


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
