"""How to open a signing backend, as a value that can cross a process boundary.

A signer process receives a `BackendSpec`, not a backend: it names the kind of backend,
where the keys are, and where the secret (passphrase or PIN) can be read, but never holds
the secret itself, so it can be pickled, logged, written to JSON or put on a command line
without leaking anything. The secret is read in `open()`, in the process that will use it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from hsm.backend import HSMError, SigningBackend
from hsm.pkcs11 import PKCS11Backend
from hsm.software import SoftwareBackend

BackendKind = Literal["soft", "pkcs11"]


@dataclass(frozen=True)
class BackendSpec:
    """A picklable description of a backend. `secret_env` is read first, then
    `secret_file`; a trailing newline is stripped from either."""

    kind: BackendKind
    key_dir: str | None = None
    module_path: str | None = None
    token_label: str | None = None
    secret_env: str | None = None
    secret_file: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("soft", "pkcs11"):
            raise ValueError(f"backend spec: unknown kind {self.kind!r}")
        if self.kind == "soft" and not self.key_dir:
            raise ValueError("backend spec: a soft backend needs key_dir")
        if self.kind == "pkcs11" and not (self.module_path and self.token_label):
            raise ValueError("backend spec: a pkcs11 backend needs module_path and token_label")
        if not (self.secret_env or self.secret_file):
            raise ValueError("backend spec: name secret_env and/or secret_file")

    def read_secret(self) -> str:
        """The passphrase or PIN. Raises HSMError naming the variable or file (never the
        value) if neither gives a non-empty secret."""
        tried: list[str] = []
        if self.secret_env:
            value = os.environ.get(self.secret_env)
            if value:
                return value.rstrip("\r\n")
            tried.append(f"environment variable {self.secret_env} is not set or empty")
        if self.secret_file:
            try:
                value = Path(self.secret_file).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                tried.append(f"cannot read secret file {self.secret_file}: {exc.strerror}")
            except UnicodeDecodeError:
                tried.append(f"secret file {self.secret_file} is not UTF-8")
            else:
                if value:
                    return value
                tried.append(f"secret file {self.secret_file} is empty")
        raise HSMError(f"{self.kind} backend: no secret: " + "; ".join(tried))

    def open(self) -> SigningBackend:
        """Read the secret and open the backend. Raises HSMError."""
        secret = self.read_secret()
        if self.kind == "soft":
            return SoftwareBackend(Path(self.key_dir or ""), secret.encode("utf-8"))
        return PKCS11Backend(self.module_path or "", self.token_label or "", secret)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BackendSpec:
        """Raises ValueError on anything but a JSON object of BackendSpec fields."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"backend spec: not JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise ValueError("backend spec: not a JSON object")
        try:
            return cls(**data)
        except TypeError:
            raise ValueError("backend spec: unknown or missing fields") from None
