"""Encryption at rest for endpoint tokens (Fernet; the first key encrypts, every key decrypts).

Keys come from ``HFGATE_SECRET_KEY`` (comma-separated, newest first: that is rotation) or, when
unset, from ``HFGATE_HOME/secret.key``, generated once with 0600 permissions.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from hfgate.errors import HfgateError
from hfgate.storage.private import private_dir


class SecretKeyError(HfgateError):
    code = "secret_key_error"


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SecretKeyError("no encryption key configured")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except ValueError:
            raise SecretKeyError(
                "HFGATE_SECRET_KEY must be Fernet keys (32 url-safe base64 bytes), comma-separated;"
                " make one with `hfgate secrets new-key`"
            ) from None

    @classmethod
    def from_settings(cls, keys: tuple[str, ...], home: Path) -> SecretBox:
        return cls(list(keys) if keys else [_key_file(home)])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "a stored secret cannot be decrypted with the configured keys:"
                " keep the old key in HFGATE_SECRET_KEY (after the new one) until"
                " `hfgate secrets rotate` has re-encrypted everything"
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt with the first (newest) key."""
        return self._fernet.rotate(token.encode()).decode()


def new_key() -> str:
    return Fernet.generate_key().decode()


def _key_file(home: Path) -> str:
    path = home / "secret.key"
    if path.exists():
        return path.read_text().strip()
    private_dir(home)
    key = new_key()
    # O_EXCL: two processes starting together must not write two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
