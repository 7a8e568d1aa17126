"""GOST R 34.10-2012 keys in a PKCS#11 token (hsm/pkcs11_gost.py), against SoftHSM2 built
with its GOST mechanisms (scripts/build_softhsm_gost.sh) and Debian's SoftHSM2, which has
none. Signatures are checked by gostcrypto (tests/gost_oracle.py), not the engine."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from cryptography.exceptions import InvalidSignature
from pkcs11 import Attribute, MechanismFlag, ObjectClass
from pkcs11.exceptions import AttributeSensitive

from hsm import gost_engine, pkcs11_gost
from hsm.backend import HSMError, KeyAlgorithm, KeyRef
from hsm.pkcs11 import PKCS11Backend
from protocols import gost
from tests.softhsm import Token
from tests.unit.hsm.helpers import verify

MESSAGES = [b"", b"to be signed", b"\x00" * 5000]
GOST_256 = KeyAlgorithm.GOST2012_256_A  # CryptoPro-A: the one set SoftHSM2 makes keys on
ROOT = Path(__file__).resolve().parents[3]


def label() -> str:
    return f"gost-{uuid.uuid4().hex[:12]}"


def objects_labelled(token: Token, name: str) -> list[int]:
    """The classes of the token's objects labelled `name`."""
    with pkcs11.lib(token.module).get_token(token_label=token.label).open() as session:
        # the backend has logged this process in
        return [o[Attribute.CLASS] for o in session.get_objects({Attribute.LABEL: name})]


def test_rfc9215_3_1_a_token_key_signs_streebog_256_as_s_r_that_gostcrypto_verifies(
    gost_pkcs11_backend: PKCS11Backend,
) -> None:
    key = gost_pkcs11_backend.generate_key(label(), GOST_256)
    signatures = gost_pkcs11_backend.sign_many(key, MESSAGES)
    spki = gost_pkcs11_backend.public_key_der(key)
    for message, signature in zip(MESSAGES, signatures, strict=True):
        assert len(signature) == 64
        verify(spki, GOST_256, signature, message)
    with pytest.raises(InvalidSignature):
        verify(spki, GOST_256, signatures[1], b"to be signed, and more")


def test_rfc9215_4_3_the_public_key_is_the_canonical_spki_of_the_token_point(
    gost_pkcs11_backend: PKCS11Backend,
) -> None:
    spki = gost_pkcs11_backend.public_key_der(gost_pkcs11_backend.generate_key(label(), GOST_256))
    read = gost.read_spki(spki)
    assert read.key_size == 256
    assert read.parameter_set.title == "CryptoPro-A"
    assert gost.canonical_spki(read) == spki  # digestParamSet with a CryptoPro set


def test_a_gost_key_found_again_by_its_uri_in_another_backend_signs(
    gost_softhsm_token: Token, gost_pkcs11_backend: PKCS11Backend
) -> None:
    key = gost_pkcs11_backend.generate_key(label(), GOST_256)
    spki = gost_pkcs11_backend.public_key_der(key)
    token = gost_softhsm_token
    other = PKCS11Backend(token.module, token.label, token.pin)
    try:
        assert other.public_key_der(key) == spki
        verify(spki, GOST_256, other.sign_many(key, [b"again"])[0], b"again")
    finally:
        other.close()


def test_the_gost_private_key_is_sensitive_non_extractable_and_only_signs(
    gost_softhsm_token: Token, gost_pkcs11_backend: PKCS11Backend
) -> None:
    name = label()
    gost_pkcs11_backend.generate_key(name, GOST_256)
    token = gost_softhsm_token
    attributes = (Attribute.SENSITIVE, Attribute.EXTRACTABLE, Attribute.SIGN, Attribute.DERIVE)
    with pkcs11.lib(token.module).get_token(token_label=token.label).open() as session:
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=name)
        found = {a: private[a] for a in attributes}
        with pytest.raises(AttributeSensitive):
            private[Attribute.VALUE]
    assert found == {
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: True,
        Attribute.DERIVE: False,
    }


def test_a_token_without_gost_mechanisms_refuses_by_name_and_makes_nothing(
    softhsm_token: Token, pkcs11_backend: PKCS11Backend
) -> None:
    name = label()
    with pytest.raises(HSMError) as refused:
        pkcs11_backend.generate_key(name, GOST_256)
    assert str(refused.value) == (
        "PKCS#11: the token offers no CKM_GOSTR3410_KEY_PAIR_GEN or CKM_GOSTR3410"
    )
    assert objects_labelled(softhsm_token, name) == []


@pytest.mark.parametrize(
    ("algorithm", "message"),
    [
        (
            KeyAlgorithm.GOST2012_512_A,
            "PKCS#11: GOST R 34.10-2012 512-bit keys need TC26's vendor-defined mechanisms "
            "(CKM_GOSTR3410_512), which python-pkcs11 cannot name; use the soft backend",
        ),
        # SoftHSM2 makes CryptoPro-A keys only and fails on TC26-A: the failure is the answer
        (
            KeyAlgorithm.GOST2012_256_TCA,
            "PKCS#11: generate gost2012-256-tca key {name!r}: GeneralError",
        ),
    ],
)
def test_a_gost_key_the_token_cannot_hold_is_refused_and_nothing_is_left(
    gost_softhsm_token: Token,
    gost_pkcs11_backend: PKCS11Backend,
    algorithm: KeyAlgorithm,
    message: str,
) -> None:
    name = label()
    with pytest.raises(HSMError) as refused:
        gost_pkcs11_backend.generate_key(name, algorithm)
    assert str(refused.value) == message.format(name=name)
    assert objects_labelled(gost_softhsm_token, name) == []


def made_on_cryptopro_a(session: Any, name: str, key_id: bytes) -> tuple[Any, Any]:
    """A key pair made in the token directly, as hsm.pkcs11 makes one, and not checked."""
    return session.generate_keypair(  # type: ignore[no-any-return]
        pkcs11_gost.KEY_TYPE,
        None,
        id=key_id,
        label=name,
        store=True,
        mechanism=pkcs11_gost.GENERATE,
        capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
        public_template=pkcs11_gost.public_template(GOST_256),
    )


def test_a_new_key_on_another_curve_than_named_is_destroyed_and_refused(
    gost_softhsm_token: Token, gost_pkcs11_backend: PKCS11Backend
) -> None:
    """A token that stores CryptoPro-B as the key's set but makes the key on CryptoPro-A
    (as SoftHSM2 would, were it not to fail on B): the backend's check of a new key sees
    it and destroys the pair. SoftHSM2 cannot be made to lie, so the pair is made on A and
    checked as if B had been asked for."""
    token = gost_softhsm_token
    name, key_id = label(), os.urandom(8)
    with pkcs11.lib(token.module).get_token(token_label=token.label).open(rw=True) as session:
        public, private = made_on_cryptopro_a(session, name, key_id)
        point = bytes(public[Attribute.VALUE])
        as_made = gost.canonical_spki(gost.GostPublicKey(256, gost.parameter_set(256, "A"), point))
        assert pkcs11_gost.signs_as_named(as_made, private)
        with pytest.raises(HSMError, match=r"^PKCS#11: the token's key is not gost2012-256-b$"):
            pkcs11_gost.spki_der(KeyAlgorithm.GOST2012_256_B, public)
        assert len(objects_labelled(token, name)) == 2
        with pytest.raises(HSMError) as refused:
            gost_pkcs11_backend._check_gost_key(
                KeyAlgorithm.GOST2012_256_B, name, key_id, public, private
            )
    assert str(refused.value) == (
        f"PKCS#11: the token made no gost2012-256-b key {name!r} "
        "(the token's key is not gost2012-256-b); destroyed"
    )
    assert objects_labelled(token, name) == []


def test_a_new_key_whose_probe_signature_does_not_verify_is_destroyed_and_refused(
    gost_softhsm_token: Token, gost_pkcs11_backend: PKCS11Backend
) -> None:
    """A token whose public key object holds another key's point (on the right curve): the
    probe, signed by the private key, does not verify under it. The token's answer is
    stood in for by a dict, as no token here answers wrongly."""
    token = gost_softhsm_token
    name, key_id = label(), os.urandom(8)
    other_point = gost_engine.generate_private_key(256, "A").public_key_der()[-64:]
    with pkcs11.lib(token.module).get_token(token_label=token.label).open(rw=True) as session:
        public, private = made_on_cryptopro_a(session, name, key_id)
        wrong_public = {
            Attribute.GOSTR3410_PARAMS: public[Attribute.GOSTR3410_PARAMS],
            Attribute.VALUE: other_point,
        }
        with pytest.raises(HSMError) as refused:
            gost_pkcs11_backend._check_gost_key(GOST_256, name, key_id, wrong_public, private)
    assert str(refused.value) == (
        f"PKCS#11: the token made no gost2012-256-a key {name!r} "
        "(its probe signature does not verify); destroyed"
    )
    assert objects_labelled(token, name) == []


def test_a_new_key_whose_point_is_not_on_the_named_curve_is_destroyed_and_refused(
    gost_softhsm_token: Token, gost_pkcs11_backend: PKCS11Backend
) -> None:
    """A token that names TC26-A and gives a CryptoPro-A point: OpenSSL does not take it."""
    token = gost_softhsm_token
    name, key_id = label(), os.urandom(8)
    with pkcs11.lib(token.module).get_token(token_label=token.label).open(rw=True) as session:
        public, private = made_on_cryptopro_a(session, name, key_id)
        named_tca = {
            **pkcs11_gost.public_template(KeyAlgorithm.GOST2012_256_TCA),
            Attribute.VALUE: public[Attribute.VALUE],
        }
        with pytest.raises(HSMError) as refused:
            gost_pkcs11_backend._check_gost_key(
                KeyAlgorithm.GOST2012_256_TCA, name, key_id, named_tca, private
            )
    # OpenSSL's own reason, which depends on its decoder, ends the middle part
    said = re.escape(
        f"PKCS#11: the token made no gost2012-256-tca key {name!r} (the token's "
        "gost2012-256-tca public key: not a public key OpenSSL reads: error:"
    )
    assert re.fullmatch(said + r"[0-9A-F]{8}:[^\n]+\); destroyed", str(refused.value))
    assert objects_labelled(token, name) == []


def test_a_key_named_on_another_curve_than_the_tokens_is_refused_before_it_signs(
    gost_pkcs11_backend: PKCS11Backend,
) -> None:
    key = gost_pkcs11_backend.generate_key(label(), GOST_256)
    as_b = KeyRef(uri=key.uri, algorithm=KeyAlgorithm.GOST2012_256_B)
    with pytest.raises(HSMError) as refused:
        gost_pkcs11_backend.sign_many(as_b, [b"message"])
    assert str(refused.value) == "PKCS#11: the token's key is not gost2012-256-b"


# In a process of its own: OPENSSL_ENGINES is read when the engine is first loaded.
WITHOUT_ENGINE = """
import sys
from hsm.backend import HSMError, KeyAlgorithm
from hsm.pkcs11 import PKCS11Backend
backend = PKCS11Backend(*sys.argv[1:4])
from hsm import gost_engine
print(gost_engine.available())
try:
    backend.generate_key(sys.argv[4], KeyAlgorithm.GOST2012_256_A)
except HSMError as exc:
    print(exc)
"""


def test_without_the_gost_engine_a_gost_key_is_refused_before_the_token_makes_it(
    gost_softhsm_token: Token, tmp_path: Path
) -> None:
    token, name = gost_softhsm_token, label()
    answer = subprocess.run(
        [sys.executable, "-c", WITHOUT_ENGINE, token.module, token.label, token.pin, name],
        env={**os.environ, **token.environment(), "OPENSSL_ENGINES": str(tmp_path)},
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    why, refusal = answer.stdout.splitlines()
    assert why != "None", answer.stderr  # the engine is missing in that process
    assert refusal == f"PKCS#11: GOST keys need OpenSSL's GOST engine here: {why}"
    assert objects_labelled(token, name) == []
