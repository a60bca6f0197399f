"""Pseudonymous ids: a keyed hash of a raw id, stamped with the id of the key that made it.

``HMAC-SHA256(key, raw id as UTF-8)``, truncated to its first 128 bits (``DIGEST_BYTES``) and
written as 22 characters of unpadded URL-safe base64, after the key id and a dash:
``k1-3q2-7wEAAAB…``. 128 bits make an accidental collision negligible for any number of users a
site has, and the id stays short in every key and row. Without the key the pseudonym cannot be
reversed or recomputed from a guessed id (a plain hash could: ids are guessable); with one key
it is deterministic, so the same user gets the same pseudonym on every record and in every job.
The key id says which key made a pseudonym, so records of two keys are told apart during a
rotation (docs/privacy.md, "Rotating the key").

The secret comes from the environment variable named by ``privacy.pseudonym_key_env``, never
from code or YAML; ``from_environ`` refuses a missing or short one with what to do. Pure: the
environment is passed in.

``Pseudonymiser.record`` is the publisher helper: a site (or ``adstream privacy pseudonymise``,
or replay) hands it an event or request as a mapping and gets it back with every direct
identifier (``IDENTIFIERS``) replaced.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Mapping

from udfs.errors import ConfigError
from udfs.messages.dead_letter import IDENTIFIERS  # noqa: F401 - one list: dead letters drop the same fields

DIGEST_BYTES = 16            # 128 bits of the HMAC kept
ENCODED_CHARS = 22           # their unpadded URL-safe base64
MIN_KEY_BYTES = 32           # a 256-bit secret, as HMAC-SHA256's block suggests


def pseudonym(raw_id: str, key: bytes, key_id: str) -> str:
    """``<key_id>-<22 characters>``: the keyed hash of ``raw_id``."""
    mac = hmac.new(key, raw_id.encode("utf-8"), hashlib.sha256).digest()[:DIGEST_BYTES]
    return f"{key_id}-{base64.urlsafe_b64encode(mac).rstrip(b'=').decode('ascii')}"


def key_id_of(value: str) -> str | None:
    """The key id a pseudonym was made with, or None when ``value`` is not shaped as one."""
    # the first dash: a key id has none, but the URL-safe base64 after it may (1 pseudonym in 3)
    kid, sep, tail = value.partition("-")
    return kid if sep and kid and len(tail) == ENCODED_CHARS else None


class Pseudonymiser:
    def __init__(self, key: bytes, key_id: str):
        if len(key) < MIN_KEY_BYTES:
            raise ConfigError("privacy.pseudonym_key_env", f"the key has {len(key)} bytes; at least "
                                                           f"{MIN_KEY_BYTES} are needed")
        self._key, self.key_id = key, key_id

    def __repr__(self) -> str:   # never the key, in a log line or a traceback
        return f"Pseudonymiser(key_id={self.key_id!r})"

    @classmethod
    def from_environ(cls, privacy, environ: Mapping[str, str]) -> "Pseudonymiser":
        """The pseudonymiser of the ``privacy`` config section, its secret read from ``environ``."""
        name = privacy.pseudonym_key_env
        secret = environ.get(name, "")
        if not secret:
            raise ConfigError("privacy.pseudonym_key_env",
                              f"the pseudonymisation key is not set: export {name}=<a secret of at least "
                              f"{MIN_KEY_BYTES} bytes> (e.g. `openssl rand -base64 48`); it is never read "
                              "from the config files")
        return cls(secret.encode("utf-8"), privacy.pseudonym_key_id)

    def id(self, raw_id: str) -> str:
        return pseudonym(raw_id, self._key, self.key_id)

    def record(self, record: Mapping[str, Any]) -> dict:
        """``record`` with every identifier in ``IDENTIFIERS`` replaced by its pseudonym (a null or
        absent one stays so; a non-text one is hashed as its text, so that it never passes raw)."""
        out = dict(record)
        for name in IDENTIFIERS:
            v = out.get(name)
            if v is not None and v != "":
                out[name] = self.id(v if isinstance(v, str) else str(v))
        return out
