"""Secrets inside task data: stored encrypted, opened only for the tenant's driver.

``task_payloads`` holds task data as plain JSON, so data that carries credentials (an
``authenticate`` task's pending application properties, DESIGN §3.7) is stored *sealed*: the
values encrypted with the hub's keyring, only the property names in clear. The task is
rendered (``tasks.service.render``) with the values decrypted for its driver, and masked for
everyone else (an operator's views).
"""

from __future__ import annotations

from typing import Any

import orjson

from interop_hub.auth.principal import Principal
from interop_hub.kit.crypto import Keyring

SEALED = "$sealed"
NAMES = "$names"
MASK = "********"


def encrypt_props(keyring: Keyring, values: dict[str, str]) -> str:
    """A JSON object of credentials, encrypted (the form of the tenant row's columns)."""
    return keyring.encrypt(orjson.dumps(values).decode())


def decrypt_props(keyring: Keyring, token: str | None) -> dict[str, str]:
    if token is None:
        return {}
    found: dict[str, str] = orjson.loads(keyring.decrypt(token))
    return found


def seal(keyring: Keyring, values: dict[str, str]) -> dict[str, Any]:
    """A payload body that holds ``values`` encrypted."""
    return {SEALED: encrypt_props(keyring, values), NAMES: sorted(values)}


def unseal(body: Any, keyring: Keyring | None) -> Any:
    """The values of a sealed body: decrypted with ``keyring``, each masked without one.
    Anything else comes back as it is."""
    if not isinstance(body, dict) or SEALED not in body:
        return body
    if keyring is None:
        return dict.fromkeys(body.get(NAMES, ()), MASK)
    return decrypt_props(keyring, body[SEALED])


def readable_by(p: Principal, keyring: Keyring | None) -> Keyring | None:
    """The keyring for rendering tasks to ``p``: a tenant's driver (its actor or its vendor)
    reads sealed data in clear; an operator sees it masked."""
    return None if p.is_operator else keyring
