"""``hfgate demo`` prints commands that work when pasted, in an 80-column terminal.

The demo runs as a person runs it: a subprocess on free ports, ``COLUMNS=80``, a fresh
``HFGATE_HOME``. Its printed curl, ``hfgate chat`` and Python snippets are then run exactly as
printed, line by line, by a shell; the credential it prints is checked by the gateway itself.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hfgate._server import free_port
from hfgate.cli.demo import DEMO_NAME, ENV_FILE, SNIPPETS_FILE

BIN = Path(sys.executable).parent
READY = "Press Ctrl-C to stop."
START_TIMEOUT = 120.0


@dataclass
class Demo:
    url: str
    home: Path
    output: str

    def block(self, title: str) -> str:
        """The lines under ``# title`` up to the next blank line, exactly as printed."""
        lines = self.output.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith(f"# {title}"))
        end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
        return "\n".join(lines[start + 1 : end])

    def key(self) -> str:
        line = next(line for line in self.output.splitlines() if line.startswith("admin API key:"))
        return line.split()[-1]


def _read_until_ready(process: subprocess.Popen[str]) -> str:
    """The demo's stdout up to its last line; fails with what it printed if it never gets there."""
    seen: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # read to the end, so a full pipe never blocks the demo
            if not done.is_set():
                seen.append(line)
            if line.strip() == READY:
                done.set()
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(START_TIMEOUT) or not seen or seen[-1].strip() != READY:
        raise AssertionError("the demo did not get ready:\n" + "".join(seen))
    return "".join(seen)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    hfgate_home = tmp_path_factory.mktemp("hfgate-home")
    port = free_port()
    env = os.environ | {
        "HFGATE_HOME": str(hfgate_home),
        "COLUMNS": "80",
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    process = subprocess.Popen(
        [str(BIN / "hfgate"), "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = _read_until_ready(process)
        yield Demo(f"http://127.0.0.1:{port}", hfgate_home / "demo", output)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def shell(script: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run pasted text as a person's shell would: bash, reading it line by line."""
    env = os.environ | {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name in ("HFGATE_URL", "HFGATE_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        env.pop(name, None)  # only what the snippet itself says
    return subprocess.run(
        ["bash", "-c", script],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_printed_curl_works_as_pasted(demo: Demo) -> None:
    curl = demo.block("curl")
    assert curl.startswith("curl ") and all(len(line) <= 80 for line in curl.splitlines()), curl
    ran = shell(curl)
    assert ran.returncode == 0, ran.stderr
    answer = json.loads(ran.stdout)
    assert answer["model"] == DEMO_NAME and answer["choices"][0]["message"]["content"], answer


def test_the_printed_chat_command_works_as_pasted(demo: Demo) -> None:
    chat = demo.block("chat in the terminal")
    assert all(len(line) <= 80 for line in chat.splitlines()), chat
    ran = shell(chat, stdin="Hello\n")  # not a terminal: `hfgate chat` sends stdin once
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.strip() and "error:" not in ran.stdout, ran.stdout


def test_the_printed_python_snippet_works_as_pasted(demo: Demo) -> None:
    pytest.importorskip("openai")
    ran = shell(demo.block("python"))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip(), ran.stdout


def test_the_printed_credential_is_valid_json_the_gateway_accepts(demo: Demo) -> None:
    credential = json.loads(demo.block("a credential to paste"))
    assert set(credential) == {"api_key", "endpoint", "model_name", "context_window"}
    headers = {"Authorization": f"Bearer {demo.key()}"}
    checked = httpx.post(
        f"{demo.url}/api/integrations/validate", json=credential, headers=headers, timeout=60
    )
    assert checked.status_code == 200, checked.text
    assert checked.json()["report"]["outcome"] == "valid", checked.text


def test_the_demo_writes_its_environment_and_snippets_privately(demo: Demo) -> None:
    ran = shell(
        f"source {demo.home / ENV_FILE} && curl -sS -o /dev/null -w '%{{http_code}}' "
        '-H "Authorization: Bearer $HFGATE_API_KEY" "$OPENAI_BASE_URL/models"'
    )
    assert (ran.returncode, ran.stdout) == (0, "200"), ran.stderr
    snippets = (demo.home / SNIPPETS_FILE).read_text()
    assert demo.block("curl") in snippets and demo.block("chat in the terminal") in snippets
    for path in (demo.home / ENV_FILE, demo.home / SNIPPETS_FILE, demo.home / "hfgate.db"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in (demo.home, demo.home.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_no_command_was_wrapped_by_the_terminal_width(demo: Demo) -> None:
    """Every line of a command ends a command or continues it explicitly (``\\``), or is inside
    the JSON's quotes, the heredoc or the credential: nothing was folded by a renderer."""
    curl = demo.block("curl").splitlines()
    assert all(line.endswith("\\") for line in curl[:3]), curl
    chat = demo.block("chat in the terminal").splitlines()
    assert [line.endswith("\\") for line in chat] == [True, True, False], chat
    assert len(demo.block("a credential to paste").splitlines()) == 1
