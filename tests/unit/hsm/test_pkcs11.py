"""PKCS11Backend against a real SoftHSM2 token."""

from __future__ import annotations

import logging
import uuid

import pkcs11
import pytest
from pkcs11 import Attribute, ObjectClass
from pkcs11.exceptions import AttributeSensitive

from hsm.backend import HSMError, KeyAlgorithm, KeyRef
from hsm.pkcs11 import PKCS11Backend
from hsm.pkcs11_uri import parse_uri
from tests.softhsm import Token
from tests.unit.hsm.helpers import verify

MESSAGES = [b"", b"to be signed", b"\x00" * 5000]


def label() -> str:
    return f"ca-{uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize(
    "algorithm",
    [KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P384, KeyAlgorithm.RSA_2048, KeyAlgorithm.ED25519],
)
def test_sign_many_verifies(pkcs11_backend: PKCS11Backend, algorithm: KeyAlgorithm) -> None:
    key = pkcs11_backend.generate_key(label(), algorithm)
    signatures = pkcs11_backend.sign_many(key, MESSAGES)
    spki = pkcs11_backend.public_key_der(key)
    for message, signature in zip(MESSAGES, signatures, strict=True):
        verify(spki, algorithm, signature, message)


def test_private_key_is_sensitive_non_extractable_token_object(
    pkcs11_backend: PKCS11Backend, softhsm_token: Token
) -> None:
    name = label()
    pkcs11_backend.generate_key(name, KeyAlgorithm.EC_P256)
    token = pkcs11.lib(softhsm_token.module).get_token(token_label=softhsm_token.label)
    with token.open() as session:  # the backend has logged this process in
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=name)
        attrs = {
            a: private[a]
            for a in (
                Attribute.TOKEN,
                Attribute.PRIVATE,
                Attribute.SENSITIVE,
                Attribute.EXTRACTABLE,
                Attribute.ALWAYS_SENSITIVE,
                Attribute.NEVER_EXTRACTABLE,
                Attribute.SIGN,
                Attribute.DECRYPT,
                Attribute.DERIVE,
            )
        }
        with pytest.raises(AttributeSensitive):
            private[Attribute.VALUE]
    assert attrs == {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.ALWAYS_SENSITIVE: True,
        Attribute.NEVER_EXTRACTABLE: True,
        Attribute.SIGN: True,
        Attribute.DECRYPT: False,
        Attribute.DERIVE: False,
    }


def test_key_reference_is_a_pkcs11_uri_without_secret(
    pkcs11_backend: PKCS11Backend, softhsm_token: Token
) -> None:
    name = label()
    key = pkcs11_backend.generate_key(name, KeyAlgorithm.EC_P256)
    uri = parse_uri(key.uri)
    assert (uri.token, uri.object, uri.type) == (softhsm_token.label, name, "private")
    assert uri.id is not None and len(uri.id) == 16
    assert softhsm_token.pin not in key.uri


def test_another_session_finds_the_key_by_uri(
    pkcs11_backend: PKCS11Backend, softhsm_token: Token
) -> None:
    key = pkcs11_backend.generate_key(label(), KeyAlgorithm.RSA_2048)
    other = PKCS11Backend(softhsm_token.module, softhsm_token.label, softhsm_token.pin)
    try:
        [signature] = other.sign_many(key, [b"hello"])
        assert other.public_key_der(key) == pkcs11_backend.public_key_der(key)
    finally:
        other.close()
    verify(pkcs11_backend.public_key_der(key), key.algorithm, signature, b"hello")


def test_duplicate_label_is_refused(pkcs11_backend: PKCS11Backend) -> None:
    name = label()
    pkcs11_backend.generate_key(name, KeyAlgorithm.EC_P256)
    with pytest.raises(HSMError, match="already exists"):
        pkcs11_backend.generate_key(name, KeyAlgorithm.EC_P256)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("pkcs11:token=test;object=no-such-key;type=private", "no private key matches"),
        ("pkcs11:token=other;object=x;type=private", "on token 'other'"),
        ("pkcs11:token=test;object=x;type=public", "does not name a private key"),
        ("pkcs11:object=x?pin-value=1234", "bad key reference"),
        ("file:/etc/passwd", "bad key reference"),
    ],
)
def test_bad_key_reference_is_an_hsm_error(
    pkcs11_backend: PKCS11Backend, uri: str, reason: str
) -> None:
    with pytest.raises(HSMError, match=reason):
        pkcs11_backend.sign_many(KeyRef(uri, KeyAlgorithm.EC_P256), [b"x"])


def test_algorithm_that_does_not_match_the_key_is_refused(pkcs11_backend: PKCS11Backend) -> None:
    key = pkcs11_backend.generate_key(label(), KeyAlgorithm.EC_P256)
    with pytest.raises(HSMError, match="is not rsa-2048"):
        pkcs11_backend.sign_many(KeyRef(key.uri, KeyAlgorithm.RSA_2048), [b"x"])


def test_wrong_pin_never_appears_in_errors_or_logs(
    softhsm_token: Token, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-pin-660417"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(HSMError, match="login to token 'test' failed") as caught:
        PKCS11Backend(softhsm_token.module, softhsm_token.label, wrong)
    text = str(caught.value) + repr(caught.value) + caplog.text
    assert wrong not in text
    assert softhsm_token.pin not in text


def test_unknown_token_and_module_are_hsm_errors(softhsm_token: Token) -> None:
    with pytest.raises(HSMError, match="cannot find token 'absent'") as caught:
        PKCS11Backend(softhsm_token.module, "absent", softhsm_token.pin)
    assert softhsm_token.pin not in str(caught.value)
    with pytest.raises(HSMError, match="cannot load module"):
        PKCS11Backend("/nonexistent/libpkcs11.so", "test", softhsm_token.pin)


def test_closing_one_backend_does_not_log_out_another(
    pkcs11_backend: PKCS11Backend, softhsm_token: Token
) -> None:
    key = pkcs11_backend.generate_key(label(), KeyAlgorithm.EC_P256)
    other = PKCS11Backend(softhsm_token.module, softhsm_token.label, softhsm_token.pin)
    other.sign_many(key, [b"x"])
    other.close()
    [signature] = pkcs11_backend.sign_many(key, [b"after"])
    verify(pkcs11_backend.public_key_der(key), key.algorithm, signature, b"after")


def test_second_backend_in_the_process_needs_the_same_pin(
    pkcs11_backend: PKCS11Backend, softhsm_token: Token
) -> None:
    wrong = "wrong-pin-31337"
    with pytest.raises(HSMError, match="login to token 'test' failed") as caught:
        PKCS11Backend(softhsm_token.module, softhsm_token.label, wrong)
    assert wrong not in str(caught.value)
    assert softhsm_token.pin not in str(caught.value)
