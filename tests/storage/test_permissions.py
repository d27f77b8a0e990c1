"""Data at rest: ``HFGATE_HOME`` is 0700 and every file hfgate writes in it 0600; a start with
loosened permissions warns, naming what is open and how to fix it, and still starts."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from hfgate.services import Services
from hfgate.settings import Settings
from hfgate.storage.private import create_private, loose_paths, private_dir, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def started(home: Path, **env: str) -> Services:
    services = Services(Settings.from_env({"HFGATE_HOME": str(home), **env}))
    await services.prepare(setup_base_url="http://127.0.0.1:8000")  # a setup link file too
    return services


async def test_a_fresh_home_is_private_with_every_file_in_it(tmp_path: Path) -> None:
    home = tmp_path / "hfgate"
    services = await started(home)
    try:
        names = {path.name for path in home.iterdir()}
        assert {"hfgate.db", "secret.key", "setup.token"} <= names, names
        assert mode(home) == 0o700
        for path in home.iterdir():  # the database's -wal and -shm files included
            assert mode(path) == 0o600, path
        assert loose_paths(home) == []
    finally:
        await services.close()


async def test_loosened_permissions_are_named_in_one_warning_and_the_start_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "hfgate"
    await (await started(home)).close()
    home.chmod(0o755)
    (home / "hfgate.db").chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="hfgate"):
        services = await started(home, HFGATE_OWNER_PASSWORD="a-long-owner-password")
        await services.close()
    warnings = [r.getMessage() for r in caplog.records if "readable by other" in r.getMessage()]
    assert len(warnings) == 1, caplog.text
    assert str(home) in warnings[0] and "hfgate.db" in warnings[0]
    assert "secret.key" not in warnings[0]  # only what is open is named
    assert f"chmod -R go-rwx {home}" in warnings[0]
    assert mode(home / "hfgate.db") == 0o644  # warned about, not changed behind anyone's back


async def test_a_sqlite_database_outside_the_home_is_created_private_and_checked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "elsewhere" / "gate.db"
    url = f"sqlite:///{database}"
    await (await started(tmp_path / "home", HFGATE_DATABASE_URL=url)).close()
    assert (mode(database), mode(database.parent)) == (0o600, 0o700)
    database.chmod(0o640)
    with caplog.at_level(logging.WARNING, logger="hfgate"):
        await (await started(tmp_path / "home", HFGATE_DATABASE_URL=url)).close()
    assert str(database) in caplog.text and "readable by other" in caplog.text


def test_the_helpers_create_private_files_and_folders(tmp_path: Path) -> None:
    folder = private_dir(tmp_path / "a" / "b")
    assert mode(folder) == 0o700
    create_private(folder / "db")
    write_private(folder / "note", "secret\n")
    write_private(folder / "note", "replaced\n")  # atomically, still 0600
    assert (folder / "note").read_text() == "replaced\n"
    assert [mode(folder / name) for name in ("db", "note")] == [0o600, 0o600]
    assert sorted(p.name for p in folder.iterdir()) == ["db", "note"]  # no temporary left
    (folder / "note").chmod(0o604)
    assert loose_paths(folder) == [folder / "note"]
