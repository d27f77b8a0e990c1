"""The data folder is private: ``HFGATE_HOME`` 0700, everything hfgate writes in it 0600.

The folder holds the SQLite database (endpoint tokens encrypted, but also hashed keys, sessions
and people), the encryption key itself and the demo's credentials, so no other account on the
machine may read it. Files are created private (``os.open`` with the mode, never a chmod after
the fact, which would leave a window); at start ``loose_paths`` finds what someone loosened, and
the caller warns instead of failing: refusing to start would turn a fixable setup mistake into
an outage.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("hfgate")
DIR_MODE = 0o700
FILE_MODE = 0o600
OPEN_TO_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) with 0700 for the folder itself.

    ``mkdir(mode=…)`` applies to the last folder only: parents such as ``~/.local/share`` keep
    the usual permissions, which is what the rest of the user's files expect.
    """
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return path


def create_private(path: Path) -> None:
    """Create an empty 0600 file if ``path`` is missing (SQLite then keeps that mode, and gives
    its ``-wal`` and ``-shm`` files the same one)."""
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, readable by this account only, never visible half-written."""
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def loose_paths(home: Path, extra: tuple[Path, ...] = ()) -> list[Path]:
    """The folder and the files in it (one level of sub-folders: ``demo/``) that group or
    others may use; ``extra`` adds files kept elsewhere (a SQLite database outside the home)."""
    found: list[Path] = []
    for path in (home, *_children(home), *extra):
        try:
            mode = path.lstat().st_mode
        except OSError:  # gone meanwhile, or never created: nothing to protect
            continue
        if stat.S_ISLNK(mode):
            continue  # a link's own bits mean nothing; its target is checked if it is here
        if mode & OPEN_TO_OTHERS:
            found.append(path)
    return found


def _children(home: Path) -> list[Path]:
    if not home.is_dir():
        return []
    paths: list[Path] = []
    for child in sorted(home.iterdir()):
        paths.append(child)
        if child.is_dir() and not child.is_symlink():
            paths.extend(sorted(child.iterdir()))
    return paths


def warn_if_loose(home: Path, extra: tuple[Path, ...] = ()) -> list[Path]:
    """Log one warning naming what others can read, with the command that fixes it."""
    loose = loose_paths(home, extra)
    if loose:
        names = ", ".join(f"{p} ({stat.filemode(p.lstat().st_mode)})" for p in loose[:6])
        more = f" and {len(loose) - 6} more" if len(loose) > 6 else ""
        log.warning(
            "hfgate's data is readable by other accounts on this machine: %s%s. It holds the"
            " database and the encryption key; fix it with: chmod -R go-rwx %s",
            names,
            more,
            " ".join(str(p) for p in (home, *extra)),
        )
    return loose
