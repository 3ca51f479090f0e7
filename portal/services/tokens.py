"""What is kept of a secret handed out in a link or a key: its SHA-256 digest.

The secrets are long and random (``secrets.token_urlsafe``), so a plain digest cannot be
reversed or guessed, and a copy of the table alone opens nothing. Looking a secret up is
comparing digests.
"""

from __future__ import annotations

import hashlib


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
