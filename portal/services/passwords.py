"""Password hashing with argon2 and sign-in checks."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 12
# Verified against when the e-mail is unknown, so a wrong address takes as long as a
# wrong password and the timing tells nothing.
_UNKNOWN_USER_HASH = _hasher.hash("no user has this password")


class WeakPasswordError(ValueError):
    pass


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _UNKNOWN_USER_HASH, password) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False
