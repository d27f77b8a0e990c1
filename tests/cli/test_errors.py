"""hfgate's own refusals reach a terminal as one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_bad_secret_key_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = os.environ | {"HFGATE_HOME": str(tmp_path), "HFGATE_SECRET_KEY": "not-a-key"}
    done = subprocess.run(
        [sys.executable, "-m", "hfgate", "secrets", "rotate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: HFGATE_SECRET_KEY"), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
