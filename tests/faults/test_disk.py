"""Disk full under the SQLite database: chat keeps serving, usage writes fail loudly (logs and
metrics) and wait in memory, the process does not crash, and every record is written once
space returns.

The database lives on a small tmpfs mounted for the test (root only: the test skips, saying
so, where ``mount`` is refused); a file of zeros fills it."""

from __future__ import annotations

import contextlib
import errno
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.faults.support import Serve, base_env, call, chat_body, serving
from tests.support.peers import running_sim

DISK_MIB = 16
CHATS_WHILE_FULL = 20


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Write zeros until the filesystem is full; the file that filled it."""
    filler = disk / "filler"
    block = b"\0" * (256 * 1024)
    with filler.open("wb", buffering=0) as out:
        with contextlib.suppress(OSError):
            while True:
                out.write(block)
        with contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 512)
    with pytest.raises(OSError) as full:
        (disk / "probe").write_bytes(b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC
    return filler


def usage_requests(serve: Serve) -> int:
    with serve.client() as client:
        answer = client.get("/api/usage")
    assert answer.status_code == 200, answer.text
    return sum(row["requests"] for row in answer.json()["by_model"])


def usage_metrics(serve: Serve) -> dict[str, float]:
    text = httpx.get(f"{serve.url}/metrics", timeout=30).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("hfgate_usage_")
    }


def wait_for(check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(0.25)


def test_disk_full_keeps_chat_serving_and_usage_is_written_when_space_returns(
    small_disk: Path, tmp_path: Path
) -> None:
    env = base_env(
        tmp_path / "home", HFGATE_DATABASE_URL=f"sqlite+aiosqlite:///{small_disk / 'hfgate.db'}"
    )
    with running_sim() as sim, serving(env, tmp_path / "serve.log") as serve:
        serve.add(sim.credential())
        for i in range(3):
            assert call(serve, chat_body(f"before {i}", i % 2 == 0)).status == 200
        assert usage_requests(serve) == 3

        filler = fill(small_disk)
        outcomes = [
            call(serve, chat_body(f"full {i}", i % 2 == 0)) for i in range(CHATS_WHILE_FULL)
        ]
        assert [o.status for o in outcomes] == [200] * CHATS_WHILE_FULL
        assert all(o.error is None and o.text for o in outcomes), outcomes[:2]

        # Loud: an error in the log and the metrics, the records waiting, nothing dropped.
        wait_for(lambda: "writing usage records failed" in serve.log_text())
        wait_for(lambda: usage_metrics(serve).get("hfgate_usage_unwritten") == CHATS_WHILE_FULL)
        seen = usage_metrics(serve)
        assert seen["hfgate_usage_write_failures_total"] >= 1
        assert seen.get("hfgate_usage_dropped_total", 0) == 0
        assert "full" in serve.log_text()  # SQLite's own words: "database or disk is full"
        assert usage_requests(serve) == 3  # the summary still answers, with what is stored

        filler.unlink()  # space returns
        wait_for(lambda: usage_requests(serve) == 3 + CHATS_WHILE_FULL)
        assert usage_metrics(serve)["hfgate_usage_unwritten"] == 0
        assert "usage records are written again" in serve.log_text()
        assert call(serve, chat_body("after", True)).status == 200
        assert serve.popen.poll() is None
        assert "Traceback" not in serve.log_text()
