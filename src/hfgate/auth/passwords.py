"""Passwords: argon2id (people choose low-entropy secrets, so hashing must be slow).

Slow on purpose means it must never run on the event loop: hashing and checking happen in a
worker thread, so password guessing cannot stall the gateway's traffic.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hfgate.errors import InvalidRequest

MIN_LENGTH = 8
_hasher = PasswordHasher()
# Checked when the email is unknown, so that case takes as long as a wrong password.
_DECOY = _hasher.hash("hfgate decoy password, never valid")


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidRequest(
            f"the password must have at least {MIN_LENGTH} characters", param="password"
        )
    if len(password) > 1024:
        raise InvalidRequest(
            "the password is too long (1,024 characters at most)", param="password"
        )


async def hash_password(password: str) -> str:
    check_strength(password)
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored: str | None, password: str) -> bool:
    return await asyncio.to_thread(_verify, stored or _DECOY, password) and stored is not None


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
