"""Passwords: argon2id (people choose low-entropy secrets, so hashing must be slow)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hfgate.errors import InvalidRequest

MIN_LENGTH = 8
_hasher = PasswordHasher()


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidRequest(
            f"the password must have at least {MIN_LENGTH} characters", param="password"
        )
    if len(password) > 1024:
        raise InvalidRequest(
            "the password is too long (1,024 characters at most)", param="password"
        )


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
