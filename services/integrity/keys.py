"""The audit signing key: an Ed25519 key kept outside the database.

Whoever holds the database can rewrite the whole hash chain consistently; they cannot sign. The
private key is a PEM file named by ``DUTYLEDGER_AUDIT_KEY_FILE`` (``dutyledger audit keygen``
makes one); on the embedded default a key is made once under the data dir; with
``DUTYLEDGER_PRODUCTION=true`` a missing key is an error at start. A key is named by its id, the
first 16 hex digits of the SHA-256 of its raw public key. Retired keys' public keys
(``DUTYLEDGER_AUDIT_TRUSTED_KEYS``) keep older checkpoints verifiable after a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.core.settings import Settings

DEFAULT_KEY_NAME = "audit-signing-key.pem"


class MissingSigningKey(RuntimeError):
    """Production settings without a key file: refuse to start rather than sign nothing."""


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_from_b64(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text))


def write_new_key(path: Path) -> Ed25519PrivateKey:
    """A new key in a file no one else can read, created only if it does not exist: two
    processes starting together on one data dir keep the same key (FileExistsError to the
    second, which then reads the first's)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key


def load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise MissingSigningKey(f"{path} is not an Ed25519 private key")
    return key


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def id(self) -> str:
        return key_id(self.public)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode()


def signing_key(settings: Settings) -> SigningKey:
    """The configured key; on the embedded default one made (once) under the data dir."""
    path = settings.audit_key_file
    if path is not None:
        if not path.exists():
            raise MissingSigningKey(f"DUTYLEDGER_AUDIT_KEY_FILE {path} does not exist")
        return SigningKey(load_private(path))
    if settings.production:
        raise MissingSigningKey(
            "production settings need DUTYLEDGER_AUDIT_KEY_FILE (make one with "
            "`dutyledger audit keygen --out FILE`)"
        )
    kept = (settings.data_dir / DEFAULT_KEY_NAME).resolve()
    if not kept.exists():
        try:
            return SigningKey(write_new_key(kept))
        except FileExistsError:
            pass  # another process made it a moment ago: use theirs
    return SigningKey(load_private(kept))


def trusted_keys(settings: Settings) -> dict[str, Ed25519PublicKey]:
    """Key id → public key: the current key's and every retired one configured."""
    keys = {key_id(k): k for k in map(public_from_b64, settings.audit_trusted_keys)}
    current = signing_key(settings).public
    keys[key_id(current)] = current
    return keys


def signature_ok(public: Ed25519PublicKey, signature: str, message: bytes) -> bool:
    try:
        public.verify(base64.b64decode(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True
