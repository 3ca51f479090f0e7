"""Password hashing with argon2 and sign-in checks."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a wrong address takes as long as a
# wrong password and the timing tells nothing.
_unknown_user_hash = _hasher.hash("no user has this password")


def set_hash_cost(time_cost: int, memory_kib: int) -> None:
    """Change argon2's work factors (the library's defaults otherwise; tests lower them)."""
    global _hasher, _unknown_user_hash  # noqa: PLW0603 - one hasher for the process
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
    _unknown_user_hash = _hasher.hash("no user has this password")


class WeakPasswordError(ValueError):
    pass


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _unknown_user_hash, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False
