"""Summarize a py-spy profile (collapsed stacks, ``--format raw``) of the gateway.

    .venv/bin/python bench/run.py --profile /tmp/prof   # records and summarizes under load
    .venv/bin/python bench/hotspots.py /tmp/prof/gateway-c64.txt [--top 25]

Record with ``--full-filenames`` (``run.py`` does): py-spy otherwise shortens some paths to a
bare file name and hfgate's modules cannot be told apart. Prints, as shares of all samples:
where the time goes by activity (first matching rule in ``BUCKETS``), by layer (the package of
the innermost frame), the functions with the most *self* time, and hfgate's own functions by
*inclusive* time (the function and all it calls): where a change in hfgate can help.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+?)(?::(?P<line>\d+))?\)$")
LAYERS = (
    ("hfgate/", "hfgate"),
    ("uvicorn/", "uvicorn"),
    ("starlette/", "starlette"),
    ("fastapi/", "fastapi"),
    ("pydantic", "pydantic"),
    ("aiohttp/", "aiohttp"),
    ("yarl/", "aiohttp"),
    ("multidict/", "aiohttp"),
    ("sqlalchemy/", "sqlalchemy"),
    ("aiosqlite/", "sqlite"),
    ("sqlite3/", "sqlite"),
    ("logging/", "logging"),
    ("asyncio/", "asyncio"),
    ("uvloop/", "asyncio"),
    ("concurrent/", "threads"),
    ("threading", "threads"),
    ("json/", "json"),
)


# Where a sample's CPU goes, first match wins (markers are searched in the whole stack, as
# "file:function" with shortened paths), so a wrapper's bucket gets only its own overhead when
# what it wraps matches an earlier rule. Approximate: it is sampling, and callbacks run by the
# event loop (e.g. aiohttp's data_received) have no hfgate frame above them.
BUCKETS = (
    ("DB: API-key lookup + last_used_at commit", ("KeyStore._lookup",)),
    ("DB: usage writer (batched inserts)", ("UsageRecorder.", "chat/usage.py")),
    ("per-request SSRF check of the literal IP", ("Transport._check_literal_host",)),
    (
        "upstream HTTP (aiohttp client)",
        ("EndpointClient.", "upstream/transport.py", "UpstreamStream.", "site-packages/aiohttp/"),
    ),
    ("cold-start guard (its own overhead)", ("endpoints/waking.py",)),
    # The work runs inside cancel_on_disconnect's frame: only the watcher task is its overhead.
    ("disconnect watcher (its own overhead)", ("cancel_on_disconnect.<locals>.watch",)),
    ("access log (uvicorn, logging)", ("uvicorn/logging.py", "logging/__init__.py")),
    ("metrics (prometheus_client)", ("hfgate/metrics.py", "prometheus_client/")),
    ("auth + rate limit (cached)", ("api/deps.py:", "auth/")),
    ("FastAPI dependency solving", ("fastapi/dependencies/",)),
    (
        "request parsing, prompt budget, response rendering",
        ("hfgate/chat/", "hfgate/api/routes/", "hfgate/api/bodies.py", "hfgate/upstream/"),
    ),
    ("other DB (SQLAlchemy, aiosqlite)", ("sqlalchemy/", "aiosqlite/")),
    (
        "HTTP server + framework (uvicorn, Starlette, FastAPI)",
        ("site-packages/uvicorn/", "site-packages/starlette/", "site-packages/fastapi/",
         "hfgate/api/limits.py", "anyio/"),
    ),
    ("event loop (asyncio/uvloop scheduling)", ("asyncio/",)),
)  # fmt: skip


def bucket_of(frames: list[str]) -> str:
    for label, markers in BUCKETS:
        if any(marker in frame for frame in frames for marker in markers):
            return label
    return "other"


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for raw in path.read_text().splitlines():
        stack, _, count = raw.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


SHORTEN = re.compile(r"^.*?/(?:site-packages|src|lib/python3\.\d+)/")


def split_frame(frame: str) -> tuple[str, str]:
    """``func (file:line)`` → (func, file); full paths (``--full-filenames``) are shortened."""
    match = FRAME.match(frame)
    if not match:
        return frame, ""
    return match["func"], SHORTEN.sub("", match["file"])


def layer(file: str) -> str:
    for marker, name in LAYERS:
        if marker in file:
            return name
    return "other"


def thread_of(stack: list[str]) -> str:
    """py-spy starts each stack with the thread's entry; tell the loop from helper threads."""
    joined = ";".join(stack[:8])
    if "Thread._bootstrap" in joined or "threading.py" in joined:
        return "helper thread"
    return "event loop"


def summarize(path: Path, top: int) -> str:
    stacks = parse(path)
    total = sum(count for _, count in stacks) or 1
    layers: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    selfs: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    for stack, count in stacks:
        threads[thread_of(stack)] += count
        split = [split_frame(frame) for frame in stack]
        buckets[bucket_of([f"{file}:{func}" for func, file in split])] += count
        func, file = split_frame(stack[-1])
        layers[layer(file)] += count
        selfs[f"{func} ({file})"] += count
        seen = set()
        for frame in stack:
            func, file = split_frame(frame)
            if file.startswith("hfgate/") and not file.startswith(("hfgate/cli", "hfgate/__")):
                key = f"{file}:{func}"
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += count

    def pct(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    out = [f"{path}: {total} samples", "", "## By thread"]
    out += [f"{pct(n)}  {name}" for name, n in threads.most_common()]
    out += ["", "## By activity (approximate; see BUCKETS in bench/hotspots.py)"]
    out += [f"{pct(n)}  {name}" for name, n in buckets.most_common()]
    out += ["", "## By layer (innermost frame)"]
    out += [f"{pct(n)}  {name}" for name, n in layers.most_common()]
    out += ["", f"## Top {top} functions by self time"]
    out += [f"{pct(n)}  {name}" for name, n in selfs.most_common(top)]
    out += ["", f"## hfgate functions by inclusive time (top {top})"]
    out += [f"{pct(n)}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(summarize(args.profile, args.top))


if __name__ == "__main__":
    main()
