"""A backend whose signatures are not the key's: for the tests of verify-after-sign.

`OtherKeyBackend` signs every request for a key with another key of the same algorithm
made in the same backend (a software key file or a SoftHSM2 token object), and reports the
asked-for key's public key. Its signatures are well formed and would verify, but not under
the key they were asked of: only a verification under that key's public key catches them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hsm.backend import KeyAlgorithm, KeyRef, SigningBackend

_labels = itertools.count()


class OtherKeyBackend:
    def __init__(self, backend: SigningBackend) -> None:
        self.backend = backend
        self._others: dict[KeyRef, KeyRef] = {}

    def generate_key(self, label: str, algorithm: KeyAlgorithm) -> KeyRef:
        return self.backend.generate_key(label, algorithm)

    def public_key_der(self, key: KeyRef) -> bytes:
        return self.backend.public_key_der(key)

    def sign_many(self, key: KeyRef, messages: Sequence[bytes]) -> list[bytes]:
        other = self._others.get(key)
        if other is None:
            other = self.backend.generate_key(f"other-{next(_labels)}", key.algorithm)
            self._others[key] = other
        return self.backend.sign_many(other, messages)

    def close(self) -> None:
        """Nothing of its own to close: the wrapped backend is its owner's to close."""
