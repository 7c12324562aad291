"""Secrets at rest and signing keys, all derived from the one secret key.

- Credentials the hub must give back (actor client secrets, application credentials) are
  encrypted with Fernet under a key derived from ``SECRET_KEY``.
- Credentials the hub only checks (account API keys) are stored as a SHA-256 digest: they are
  long random strings, so a plain digest is enough and survives a change of ``SECRET_KEY``.
- Access tokens are signed with a second derived key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(secret_key: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode("utf-8")
    )


class DecryptionError(RuntimeError):
    """A stored secret cannot be decrypted: the secret key changed or the value is damaged."""


@dataclass(frozen=True)
class Keyring:
    """The keys derived from one ``SECRET_KEY``."""

    fernet: Fernet
    signing_key: bytes

    @classmethod
    def from_secret(cls, secret_key: str) -> Keyring:
        fernet_key = base64.urlsafe_b64encode(_derive(secret_key, b"interop-hub/encryption/v1"))
        return cls(
            fernet=Fernet(fernet_key),
            signing_key=_derive(secret_key, b"interop-hub/token-signing/v1"),
        )

    def encrypt(self, plaintext: str) -> str:
        return self.fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self.fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise DecryptionError(
                "a stored secret cannot be decrypted with the current INTEROP_HUB_SECRET_KEY"
            ) from exc


def random_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret that does not begin with ``-``.

    Secrets are pasted into command lines (``--client-secret SECRET``); one that begins with a
    dash reads as an option there (one in 64 would). Drawing again costs the secret nothing but
    that first character's one choice in 64.
    """
    while (secret := secrets.token_urlsafe(nbytes)).startswith("-"):
        pass
    return secret


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
