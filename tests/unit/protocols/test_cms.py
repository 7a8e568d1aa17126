"""CMS for RFC 7030 4.4.2: envelopes, SignedData and key packages, checked by OpenSSL.

Vectors and their origin: a CA (EC P-256) and leaves with a SubjectKeyIdentifier for RSA-2048,
EC P-256, P-384, P-521 and Ed25519 keys, all made with `cryptography` in the test; the
signatures over the signed attributes are made with `cryptography` too, as the server's
signer would. The third party is the OpenSSL 3.0 CLI:

- `openssl cms -decrypt` opens what :func:`envelope` makes (RSA-OAEP and ECDH, recipient by
  subjectKeyIdentifier and by issuer and serial number);
- `openssl cms -encrypt` makes envelopes with the same algorithms that :func:`open_envelope`
  must open (so the KDF, SharedInfo and OAEP parameters are checked against an independent
  sender, whose OAEP hash and originatorKey parameters are absent, not NULL or a curve);
- `openssl cms -verify` checks what :func:`signed_data` makes (ECDSA P-256 and P-384, RSA
  PKCS#1 v1.5), and refuses it once tampered with.

OpenSSL 3.0 cannot verify (nor make) a CMS signature with Ed25519: it passes the SHA-512
digest to its EdDSA provider, which fails with "invalid digest" (eddsa_sig.c). The Ed25519
SignedData is checked with `cryptography` instead (:func:`test_ed25519_signed_data`).
"""

import random
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
)
from cryptography.x509.oid import NameOID

from protocols.cms import (
    ID_CT_KP_AKEYPACKAGE,
    ID_DATA,
    ID_DH_SINGLE_PASS_STD_DH_SHA256KDF,
    ID_ENVELOPED_DATA,
    ID_SIGNED_DATA,
    asymmetric_key_package,
    envelope,
    open_envelope,
    parse_asymmetric_key_package,
    signed_attributes,
    signed_data,
)

NOW = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
CONTENT = bytes(range(256)) * 3 + b"not a whole number of AES blocks"
ENCRYPTION_KINDS = ["rsa", "p256", "p384"]
# signature algorithm and the digest algorithm it needs (RFC 5753 2.1.1, RFC 8419 3.1)
SIGNERS = {
    "p256": ("sha256_ecdsa", "sha256"),
    "rsa": ("sha256_rsa", "sha256"),
    "p384": ("sha384_ecdsa", "sha384"),
    "ed25519": ("ed25519", "sha512"),
}
SHA256_ABSENT = bytes.fromhex("300b0609608648016503040201")  # RFC 5754 section 2
# RFC 4055 4.1 rSAES-OAEP-SHA256-Params with the NULL hash parameters of its 2.1
OAEP_SHA256_PARAMS = bytes.fromhex(
    "302fa00f300d06096086480165030402010500"
    "a11c301a06092a864886f70d010108300d06096086480165030402010500"
)
AES256_WRAP = bytes.fromhex("300b060960864801650304012d")  # RFC 3565 2.3.2, no parameters


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CMS Test"),
        ]
    )


def _new_key(kind: str):
    if kind == "rsa":
        return rsa.generate_private_key(65537, 2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    curve = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1()}[kind]
    return ec.generate_private_key(curve)


class PKI:
    """A self-signed CA (EC P-256) and one leaf per key kind, each with a
    SubjectKeyIdentifier; valid from a day before NOW for ten years."""

    def __init__(self) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = self._issue(_name("CMS Test CA"), self.ca_key, ca=True)
        self.keys = {kind: _new_key(kind) for kind in ["rsa", "p256", "p384", "p521", "ed25519"]}
        self.leaves = {
            kind: self._issue(_name(f"device {kind}"), key, ca=False)
            for kind, key in self.keys.items()
        }

    def _issue(self, subject: x509.Name, key, ca: bool) -> x509.Certificate:
        usage = dict.fromkeys(
            [
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "key_cert_sign",
                "crl_sign",
                "encipher_only",
                "decipher_only",
            ],
            False,
        )
        if ca:
            usage.update(key_cert_sign=True, crl_sign=True)
        else:
            usage.update(digital_signature=True, key_encipherment=True, key_agreement=True)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(_name("CMS Test CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(**usage), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(self.ca_key, hashes.SHA256())
        )

    def der(self, kind: str) -> bytes:
        return self.leaves[kind].public_bytes(Encoding.DER)

    def ski(self, kind: str) -> bytes:
        extension = self.leaves[kind].extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return extension.value.digest

    def write(self, directory: Path, kind: str) -> dict[str, Path]:
        """ca.pem, and the leaf of ``kind`` as leaf.pem with its PKCS#8 key in leaf.key."""
        paths = {name: directory / name for name in ("ca.pem", "leaf.pem", "leaf.key")}
        paths["ca.pem"].write_bytes(self.ca.public_bytes(Encoding.PEM))
        paths["leaf.pem"].write_bytes(self.leaves[kind].public_bytes(Encoding.PEM))
        paths["leaf.key"].write_bytes(
            self.keys[kind].private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        )
        return paths


@pytest.fixture(scope="module")
def pki() -> PKI:
    return PKI()


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)


def openssl_decrypt(tmp_path: Path, paths: dict[str, Path], der: bytes) -> bytes:
    """What `openssl cms -decrypt` takes out of the envelope (it must succeed)."""
    (tmp_path / "env.der").write_bytes(der)
    out = tmp_path / "out.bin"
    result = openssl(
        "cms", "-decrypt", "-inform", "DER", "-in", tmp_path / "env.der",
        "-recip", paths["leaf.pem"], "-inkey", paths["leaf.key"], "-out", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out.read_bytes()


def openssl_verify(tmp_path: Path, der: bytes) -> tuple[int, bytes | None, str]:
    """`openssl cms -verify` of a SignedData against ca.pem (in ``tmp_path``): the exit
    status, the content it wrote out (None when it wrote none) and its messages."""
    (tmp_path / "sd.der").write_bytes(der)
    out = tmp_path / "content.bin"
    out.unlink(missing_ok=True)
    result = openssl(
        "cms", "-verify", "-inform", "DER", "-in", tmp_path / "sd.der",
        "-CAfile", tmp_path / "ca.pem", "-purpose", "any",
        "-attime", str(int(NOW.timestamp())), "-out", out,
    )  # fmt: skip
    content = out.read_bytes() if out.exists() and out.stat().st_size else None
    return result.returncode, content, result.stdout + result.stderr


def sign(key, algorithm: str, data: bytes) -> bytes:
    """The signature the server's signer makes over the signed attributes."""
    if algorithm == "sha256_rsa":
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if algorithm == "ed25519":
        return key.sign(data)
    return key.sign(data, ec.ECDSA(hashes.SHA384() if "384" in algorithm else hashes.SHA256()))


def make_signed_data(
    pki: PKI, kind: str, content_type: str, content: bytes, certificates=()
) -> bytes:
    algorithm, digest = SIGNERS[kind]
    attributes = signed_attributes(content_type, content, digest)
    signature = sign(pki.keys[kind], algorithm, attributes)
    return signed_data(
        content_type, content, attributes, pki.der(kind), algorithm, signature, certificates
    )


def pkcs8(key) -> bytes:
    return key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())


def enveloped_data(der: bytes) -> asn1_cms.EnvelopedData:
    info = asn1_cms.ContentInfo.load(der, strict=True)
    assert info["content_type"].dotted == ID_ENVELOPED_DATA
    return info["content"]


def signer_info_and_data(der: bytes) -> tuple[asn1_cms.SignerInfo, asn1_cms.SignedData]:
    info = asn1_cms.ContentInfo.load(der, strict=True)
    assert info["content_type"].dotted == ID_SIGNED_DATA
    data = info["content"]
    assert len(data["signer_infos"]) == 1
    return data["signer_infos"][0], data


# --- envelope: OpenSSL opens it ------------------------------------------------------------


@pytest.mark.parametrize("by_key_identifier", [True, False], ids=["ski", "issuer-serial"])
@pytest.mark.parametrize("kind", ENCRYPTION_KINDS)
def test_openssl_decrypts_the_envelope(pki, tmp_path, kind, by_key_identifier):
    paths = pki.write(tmp_path, kind)
    key_identifier = pki.ski(kind) if by_key_identifier else None
    der = envelope(ID_DATA, CONTENT, pki.der(kind), key_identifier)
    assert openssl_decrypt(tmp_path, paths, der) == CONTENT


def test_openssl_decrypts_an_empty_and_a_block_sized_content(pki, tmp_path):
    paths = pki.write(tmp_path, "p256")
    for content in (b"", b"0123456789abcdef"):  # padding adds a whole block to both
        der = envelope(ID_DATA, content, pki.der("p256"))
        assert openssl_decrypt(tmp_path, paths, der) == content


# --- envelope: the fields, against RFC 5652 6, RFC 4055, RFC 5753 ------------------------------


@pytest.mark.parametrize("by_key_identifier", [True, False], ids=["ski", "issuer-serial"])
def test_rsa_envelope_fields(pki, by_key_identifier):
    key_identifier = pki.ski("rsa") if by_key_identifier else None
    data = enveloped_data(envelope(ID_SIGNED_DATA, CONTENT, pki.der("rsa"), key_identifier))
    # RFC 5652 6.1: 0 only when all RecipientInfos are version 0; 6.2.1: 2 with a SKI rid
    expected_version = "v2" if by_key_identifier else "v0"
    assert data["version"].native == expected_version
    assert data["originator_info"].native is None
    assert data["unprotected_attrs"].native is None
    (recipient,) = data["recipient_infos"]
    assert recipient.name == "ktri"
    ktri = recipient.chosen
    assert ktri["version"].native == expected_version
    leaf = pki.leaves["rsa"]
    if by_key_identifier:
        assert ktri["rid"].name == "subject_key_identifier"
        assert ktri["rid"].chosen.native == pki.ski("rsa")
    else:
        assert ktri["rid"].name == "issuer_and_serial_number"
        assert ktri["rid"].chosen["serial_number"].native == leaf.serial_number
        assert ktri["rid"].chosen["issuer"].dump() == leaf.issuer.public_bytes()
    algorithm = ktri["key_encryption_algorithm"]
    assert algorithm["algorithm"].dotted == "1.2.840.113549.1.1.7"  # id-RSAES-OAEP
    assert algorithm["parameters"].dump() == OAEP_SHA256_PARAMS
    assert len(ktri["encrypted_key"].native) == 256  # RSA-2048
    _check_encrypted_content_info(data, ID_SIGNED_DATA)


@pytest.mark.parametrize("by_key_identifier", [True, False], ids=["ski", "issuer-serial"])
@pytest.mark.parametrize("kind", ["p256", "p384"])
def test_ec_envelope_fields(pki, kind, by_key_identifier):
    key_identifier = pki.ski(kind) if by_key_identifier else None
    data = enveloped_data(envelope(ID_SIGNED_DATA, CONTENT, pki.der(kind), key_identifier))
    assert data["version"].native == "v2"  # RFC 5652 6.1: a kari is version 3, not 0
    (recipient,) = data["recipient_infos"]
    assert recipient.name == "kari"
    kari = recipient.chosen
    assert kari["version"].native == "v3"  # RFC 5652 6.2.2
    assert kari["ukm"].native is None
    originator = kari["originator"]
    assert originator.name == "originator_key"
    curve = {"p256": "secp256r1", "p384": "secp384r1"}[kind]
    assert originator.chosen["algorithm"]["algorithm"].native == "ec"
    assert originator.chosen["algorithm"]["parameters"].chosen.native == curve
    point = originator.chosen["public_key"].native
    assert point[0] == 4  # uncompressed (RFC 5753 3.1.1: MUST be supported)
    leaf_point = pki.leaves[kind].public_key().public_numbers()
    assert point != leaf_point.x.to_bytes(len(point) // 2, "big")  # an ephemeral key
    algorithm = kari["key_encryption_algorithm"]
    assert algorithm["algorithm"].dotted == ID_DH_SINGLE_PASS_STD_DH_SHA256KDF == "1.3.132.1.11.1"
    assert algorithm["parameters"].dump() == AES256_WRAP
    (encrypted_key,) = kari["recipient_encrypted_keys"]
    assert len(encrypted_key["encrypted_key"].native) == 40  # RFC 3394: a 256-bit CEK, wrapped
    rid = encrypted_key["rid"]
    if by_key_identifier:
        assert rid.name == "r_key_id"
        assert rid.chosen["subject_key_identifier"].native == pki.ski(kind)
        assert rid.chosen["date"].native is None
    else:
        assert rid.name == "issuer_and_serial_number"
        assert rid.chosen["serial_number"].native == pki.leaves[kind].serial_number
    _check_encrypted_content_info(data, ID_SIGNED_DATA)


def _check_encrypted_content_info(data: asn1_cms.EnvelopedData, content_type: str) -> None:
    encrypted = data["encrypted_content_info"]
    assert encrypted["content_type"].dotted == content_type
    algorithm = encrypted["content_encryption_algorithm"]
    assert algorithm["algorithm"].dotted == "2.16.840.1.101.3.4.1.42"  # id-aes256-CBC
    assert len(algorithm["parameters"].native) == 16  # the IV (RFC 3565 4.1)
    assert len(encrypted["encrypted_content"].native) == (len(CONTENT) // 16 + 1) * 16


def test_each_envelope_has_its_own_key_and_iv(pki):
    first = enveloped_data(envelope(ID_DATA, CONTENT, pki.der("p256")))
    second = enveloped_data(envelope(ID_DATA, CONTENT, pki.der("p256")))
    iv = [d["encrypted_content_info"]["content_encryption_algorithm"]["parameters"].native
          for d in (first, second)]  # fmt: skip
    ciphertext = [d["encrypted_content_info"]["encrypted_content"].native for d in (first, second)]
    assert iv[0] != iv[1]
    assert ciphertext[0] != ciphertext[1]


# --- open_envelope ------------------------------------------------------------------------------


@pytest.mark.parametrize("by_key_identifier", [True, False], ids=["ski", "issuer-serial"])
@pytest.mark.parametrize("kind", ENCRYPTION_KINDS)
def test_open_envelope_round_trips(pki, kind, by_key_identifier):
    key_identifier = pki.ski(kind) if by_key_identifier else None
    der = envelope(ID_CT_KP_AKEYPACKAGE, CONTENT, pki.der(kind), key_identifier)
    assert open_envelope(der, pki.keys[kind]) == (ID_CT_KP_AKEYPACKAGE, CONTENT)
    if by_key_identifier:
        assert open_envelope(der, pki.keys[kind], key_identifier) == (
            ID_CT_KP_AKEYPACKAGE,
            CONTENT,
        )


@pytest.mark.parametrize("kind", ENCRYPTION_KINDS)
def test_open_envelope_refuses_the_wrong_key(pki, kind):
    der = envelope(ID_DATA, CONTENT, pki.der(kind), pki.ski(kind))
    with pytest.raises(ValueError, match="no RecipientInfo"):
        open_envelope(der, _new_key(kind))  # same type, another key
    other = "p256" if kind == "rsa" else "rsa"
    with pytest.raises(ValueError, match="no RecipientInfo"):
        open_envelope(der, pki.keys[other])  # another type of key
    with pytest.raises(ValueError, match="no RecipientInfo"):
        open_envelope(der, pki.keys[kind], b"another key identifier")


def test_open_envelope_refuses_another_curve(pki):
    der = envelope(ID_DATA, CONTENT, pki.der("p384"))
    with pytest.raises(ValueError, match="secp384r1, not secp256r1"):
        open_envelope(der, pki.keys["p256"])


@pytest.mark.parametrize("with_keyid", [True, False], ids=["ski", "issuer-serial"])
@pytest.mark.parametrize("kind", ENCRYPTION_KINDS)
def test_open_envelope_reads_openssl_envelopes(pki, tmp_path, kind, with_keyid):
    """The other direction: OpenSSL as the sender, with the algorithms of envelope()."""
    paths = pki.write(tmp_path, kind)
    (tmp_path / "content.bin").write_bytes(CONTENT)
    if kind == "rsa":
        options = ["rsa_padding_mode:oaep", "rsa_oaep_md:sha256", "rsa_mgf1_md:sha256"]
    else:
        options = ["ecdh_kdf_md:sha256"]
    result = openssl(
        "cms", "-encrypt", "-aes256", "-binary", "-in", tmp_path / "content.bin",
        "-outform", "DER", "-out", tmp_path / "env.der", "-recip", paths["leaf.pem"],
        *(["-keyid"] if with_keyid else []),
        *[arg for option in options for arg in ("-keyopt", option)],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    der = (tmp_path / "env.der").read_bytes()
    key_identifier = pki.ski(kind) if with_keyid else None
    assert open_envelope(der, pki.keys[kind], key_identifier) == (ID_DATA, CONTENT)


# --- envelope and open_envelope: bad input ------------------------------------------------------


def test_envelope_refuses_what_is_not_a_certificate(pki):
    for der in (b"junk", pkcs8(pki.keys["p256"]), pki.der("p256")[:-1], b""):
        with pytest.raises(ValueError, match="recipient certificate is not a DER Certificate"):
            envelope(ID_DATA, CONTENT, der)


@pytest.mark.parametrize(("kind", "named"), [("ed25519", "ed25519"), ("p521", "secp521r1")])
def test_envelope_refuses_other_keys(pki, kind, named):
    with pytest.raises(ValueError, match=f"cannot encrypt to an .*{named} key"):
        envelope(ID_DATA, CONTENT, pki.der(kind), pki.ski(kind))


def test_envelope_refuses_bad_arguments(pki):
    with pytest.raises(ValueError, match="empty key identifier"):
        envelope(ID_DATA, CONTENT, pki.der("rsa"), b"")
    for content_type in ("data", "1", "1.2.x", ""):
        with pytest.raises(ValueError, match="dotted OID"):
            envelope(content_type, CONTENT, pki.der("rsa"))


def test_open_envelope_refuses_bad_input(pki):
    der = envelope(ID_DATA, CONTENT, pki.der("p256"))
    key = pki.keys["p256"]
    for junk in (b"junk", b"", der[:-1], make_signed_data(pki, "p256", ID_DATA, CONTENT)):
        with pytest.raises(ValueError):
            open_envelope(junk, key)
    for not_a_key in (pkcs8(key), None, pki.keys["ed25519"]):
        with pytest.raises(ValueError, match="RSA or EC private key"):
            open_envelope(der, not_a_key)


def test_open_envelope_never_returns_the_content_of_a_tampered_ciphertext(pki):
    """AES-CBC has no integrity of its own (the SignedData inside gives it, RFC 7030
    4.4.2): a changed last block garbles the padding, which is refused, except when the
    garbage happens to end in valid padding (about 1 in 256); never the original content."""
    refused = 0
    for bit in range(8):
        der = bytearray(envelope(ID_DATA, CONTENT, pki.der("p256")))
        der[-1] ^= 1 << bit
        try:
            _, content = open_envelope(bytes(der), pki.keys["p256"])
        except ValueError as exc:
            assert "does not decrypt" in str(exc)
            refused += 1
        else:
            assert content != CONTENT
    assert refused >= 1  # all eight ending in valid padding: about 2**-64


# --- signed_attributes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digest_algorithm", "hash_algorithm"),
    [("sha256", hashes.SHA256()), ("sha384", hashes.SHA384()), ("sha512", hashes.SHA512())],
)
def test_signed_attributes(digest_algorithm, hash_algorithm):
    der = signed_attributes(ID_CT_KP_AKEYPACKAGE, CONTENT, digest_algorithm)
    assert der[0] == 0x31  # SET OF: the signed bytes (RFC 5652 5.4)
    attributes = asn1_cms.CMSAttributes.load(der, strict=True)
    found = {a["type"].dotted: [v.dump() for v in a["values"]] for a in attributes}
    digest = hashes.Hash(hash_algorithm)
    digest.update(CONTENT)
    assert found == {
        "1.2.840.113549.1.9.3": [core.ObjectIdentifier(ID_CT_KP_AKEYPACKAGE).dump()],
        "1.2.840.113549.1.9.4": [core.OctetString(digest.finalize()).dump()],
    }
    encodings = [a.dump() for a in attributes]
    assert encodings == sorted(encodings)  # DER orders a SET OF (X.690 11.6)


def test_signed_attributes_refuses_bad_arguments():
    with pytest.raises(ValueError, match="digest algorithm"):
        signed_attributes(ID_DATA, CONTENT, "md5")
    with pytest.raises(ValueError, match="dotted OID"):
        signed_attributes("id-data", CONTENT)


# --- signed_data: OpenSSL verifies it -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["p256", "rsa", "p384"])
def test_openssl_verifies_a_key_package(pki, tmp_path, kind):
    pki.write(tmp_path, kind)
    package = asymmetric_key_package([pkcs8(_new_key("p256"))])
    der = make_signed_data(pki, kind, ID_CT_KP_AKEYPACKAGE, package)
    code, content, messages = openssl_verify(tmp_path, der)
    assert code == 0, messages
    assert "Verification successful" in messages
    assert content == package


def test_openssl_verifies_id_data_with_extra_certificates(pki, tmp_path):
    pki.write(tmp_path, "p256")
    ca_der = pki.ca.public_bytes(Encoding.DER)
    der = make_signed_data(pki, "p256", ID_DATA, CONTENT, [ca_der, pki.der("p256")])
    code, content, messages = openssl_verify(tmp_path, der)
    assert code == 0, messages
    assert content == CONTENT
    _, data = signer_info_and_data(der)
    assert data["version"].native == "v1"  # RFC 5652 5.1: id-data, v1 SignerInfo only
    found = sorted(c.chosen.dump() for c in data["certificates"])
    assert found == sorted([ca_der, pki.der("p256")])  # the signer's certificate once


@pytest.mark.parametrize("kind", ["p256", "rsa"])
def test_openssl_refuses_a_tampered_signature_or_content(pki, tmp_path, kind):
    pki.write(tmp_path, kind)
    algorithm, digest = SIGNERS[kind]
    content = b"A" * 64
    attributes = signed_attributes(ID_CT_KP_AKEYPACKAGE, content, digest)
    signature = sign(pki.keys[kind], algorithm, attributes)
    tampered = signature[:-1] + bytes([signature[-1] ^ 1])

    def build(sig: bytes) -> bytes:
        return signed_data(ID_CT_KP_AKEYPACKAGE, content, attributes, pki.der(kind), algorithm, sig)

    assert openssl_verify(tmp_path, build(signature))[0] == 0  # the control
    code, out, messages = openssl_verify(tmp_path, build(tampered))
    assert code != 0
    assert out is None
    assert "verification failure" in messages.lower()
    good = build(signature)
    assert good.count(content) == 1
    code, out, messages = openssl_verify(tmp_path, good.replace(content, b"B" * 64))
    assert code != 0
    assert "content verify error" in messages  # the messageDigest no longer matches


# --- signed_data: the fields ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["p256", "rsa", "p384", "ed25519"])
def test_signed_data_fields(pki, kind):
    algorithm, digest = SIGNERS[kind]
    attributes = signed_attributes(ID_CT_KP_AKEYPACKAGE, CONTENT, digest)
    signature = sign(pki.keys[kind], algorithm, attributes)
    der = signed_data(
        ID_CT_KP_AKEYPACKAGE, CONTENT, attributes, pki.der(kind), algorithm, signature
    )
    signer_info, data = signer_info_and_data(der)
    assert data["version"].native == "v3"  # RFC 5652 5.1: eContentType other than id-data
    digest_der = {
        "sha256": SHA256_ABSENT,
        "sha384": bytes.fromhex("300b0609608648016503040202"),
        "sha512": bytes.fromhex("300b0609608648016503040203"),
    }[digest]
    assert [a.dump() for a in data["digest_algorithms"]] == [digest_der]
    assert data["encap_content_info"]["content_type"].dotted == ID_CT_KP_AKEYPACKAGE
    assert data["encap_content_info"]["content"].native == CONTENT
    assert [c.chosen.dump() for c in data["certificates"]] == [pki.der(kind)]
    assert data["crls"].native is None
    assert signer_info["version"].native == "v1"  # RFC 5652 5.3: issuerAndSerialNumber
    sid = signer_info["sid"]
    assert sid.name == "issuer_and_serial_number"
    assert sid.chosen["serial_number"].native == pki.leaves[kind].serial_number
    assert sid.chosen["issuer"].dump() == pki.leaves[kind].issuer.public_bytes()
    assert signer_info["digest_algorithm"].dump() == digest_der
    # the attributes byte for byte, [0] IMPLICIT instead of SET OF (RFC 5652 5.3, 5.4)
    assert signer_info["signed_attrs"].dump() == b"\xa0" + attributes[1:]
    expected_algorithm = {
        "sha256_ecdsa": "300a06082a8648ce3d040302",  # RFC 5753 7.1.3, absent parameters
        "sha384_ecdsa": "300a06082a8648ce3d040303",
        "sha256_rsa": "300d06092a864886f70d01010b0500",  # RFC 5754 3.2, NULL parameters
        "ed25519": "300506032b6570",  # RFC 8419 3.1
    }[algorithm]
    assert signer_info["signature_algorithm"].dump().hex() == expected_algorithm
    assert signer_info["signature"].native == signature
    assert signer_info["unsigned_attrs"].native is None


def test_ed25519_signed_data(pki):
    """OpenSSL 3.0 cannot check an Ed25519 CMS signature (see the module); `cryptography`
    checks what a verifier does (RFC 5652 5.6): the signature over the signed attributes
    as a SET OF, and the messageDigest (SHA-512, RFC 8419 3.1) of the content."""
    der = make_signed_data(pki, "ed25519", ID_CT_KP_AKEYPACKAGE, CONTENT)
    signer_info, _ = signer_info_and_data(der)
    signed = b"\x31" + signer_info["signed_attrs"].dump()[1:]
    pki.keys["ed25519"].public_key().verify(signer_info["signature"].native, signed)
    digests = [a["values"][0].native for a in signer_info["signed_attrs"]
               if a["type"].native == "message_digest"]  # fmt: skip
    digest = hashes.Hash(hashes.SHA512())
    digest.update(CONTENT)
    assert digests == [digest.finalize()]


def test_signed_data_refuses_bad_input(pki):
    key, leaf = pki.keys["p256"], pki.der("p256")
    attributes = signed_attributes(ID_CT_KP_AKEYPACKAGE, CONTENT)
    signature = sign(key, "sha256_ecdsa", attributes)
    good = (ID_CT_KP_AKEYPACKAGE, CONTENT, attributes, leaf, "sha256_ecdsa", signature)
    assert signed_data(*good)  # the control
    cases = {
        "unsupported signature algorithm": {4: "sha1_rsa"},
        "empty signature": {5: b""},
        "signer certificate is not a DER Certificate": {3: b"junk"},
        "contentType is not one value": {0: ID_DATA},
        "messageDigest is not the content's digest": {1: CONTENT + b"!"},
        "not a DER SET OF Attribute": {2: b"\xa0" + attributes[1:]},
        "dotted OID": {0: "aKeyPackage"},
    }
    for message, changes in cases.items():
        args = [changes.get(i, value) for i, value in enumerate(good)]
        with pytest.raises(ValueError, match=message):
            signed_data(*args)
    with pytest.raises(ValueError, match="certificate 1 is not a DER Certificate"):
        signed_data(*good, certificates=[b"junk"])
    # RFC 5753 2.1.1: ecdsa-with-SHA384 needs SHA-384 attributes, not these SHA-256 ones
    with pytest.raises(ValueError, match="messageDigest"):
        signed_data(*good[:4], "sha384_ecdsa", signature)
    # two contentType attributes (RFC 5652 11.1: exactly one)
    doubled = asn1_cms.CMSAttributes.load(attributes)
    twice = asn1_cms.CMSAttributes([*doubled, {"type": "content_type", "values": [ID_DATA]}])
    with pytest.raises(ValueError, match="contentType"):
        signed_data(*good[:2], twice.dump(), *good[3:])


# --- asymmetric key packages ---------------------------------------------------------------


def test_key_package_round_trip():
    keys = [pkcs8(_new_key(kind)) for kind in ("p256", "rsa", "ed25519")]
    package = asymmetric_key_package(keys)
    body = b"".join(keys)
    assert package == b"\x30\x82" + len(body).to_bytes(2, "big") + body  # copied as is
    found = parse_asymmetric_key_package(package)
    assert found == keys
    loaded = [load_der_private_key(der, None) for der in found]
    assert isinstance(loaded[1], rsa.RSAPrivateKey)


def test_key_package_refuses_bad_input(pki):
    with pytest.raises(ValueError, match="at least one key"):
        asymmetric_key_package([])
    with pytest.raises(ValueError, match="key 1 is not a DER PKCS#8"):
        asymmetric_key_package([pkcs8(pki.keys["p256"]), b"junk"])
    with pytest.raises(ValueError, match="key 0 is not a DER PKCS#8"):
        asymmetric_key_package([pki.der("p256")])  # a certificate
    package = asymmetric_key_package([pkcs8(pki.keys["p256"])])
    empty, integers = b"\x30\x00", b"\x30\x03\x02\x01\x00"
    for junk in (b"junk", b"", empty, integers, package[:-1], package + b"\x00"):
        with pytest.raises(ValueError, match="AsymmetricKeyPackage"):
            parse_asymmetric_key_package(junk)


def mutations(good: bytes, count: int, seed: int):
    """``count`` copies of ``good`` with one to four octets changed at random (seeded)."""
    rng = random.Random(seed)
    for _ in range(count):
        mutated = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        yield bytes(mutated)


@pytest.mark.parametrize("kind", ENCRYPTION_KINDS)
def test_mutated_envelopes_open_or_raise_value_error(pki, kind):
    """Any bytes either open or raise ValueError (never another exception)."""
    good = envelope(ID_DATA, CONTENT[:40], pki.der(kind), pki.ski(kind))
    opened = refused = 0
    for der in mutations(good, 400, seed=5652):
        try:
            open_envelope(der, pki.keys[kind])
            opened += 1
        except ValueError:
            refused += 1
    assert refused > 0 and opened + refused == 400  # some hit octets nobody reads


def test_mutated_key_packages_parse_or_raise_value_error(pki):
    good = asymmetric_key_package([pkcs8(pki.keys["p256"]), pkcs8(pki.keys["ed25519"])])
    refused = 0
    for der in mutations(good, 1000, seed=5958):
        try:
            keys = parse_asymmetric_key_package(der)
        except ValueError:
            refused += 1
        else:
            assert len(keys) == 2
            assert b"".join(keys) in der  # each key copied out as it is
    assert 0 < refused < 1000  # most mutations break it; some change only key octets


# --- the whole of RFC 7030 4.4.2 -------------------------------------------------------------


@pytest.mark.parametrize("recipient", ENCRYPTION_KINDS)
def test_server_generated_key_encrypted_to_the_client(pki, tmp_path, recipient):
    """EnvelopedData { SignedData { AsymmetricKeyPackage { PKCS#8 } } } for the client's
    key identified by its SKI: OpenSSL decrypts it, then verifies the SignedData, and the
    key that comes out is the one the server made.

    The encrypted content is the SignedData itself, not its ContentInfo: the
    encryptedContentInfo's contentType already says id-signedData, and the content of a
    type is that type's value (RFC 5652 section 3, 6.1). The client (here, the test) puts
    the SignedData back into a ContentInfo for `openssl cms -verify`."""
    paths = pki.write(tmp_path, recipient)
    generated = ec.generate_private_key(ec.SECP256R1())
    package = asymmetric_key_package([pkcs8(generated)])
    ca_der = pki.ca.public_bytes(Encoding.DER)
    message = make_signed_data(pki, "p256", ID_CT_KP_AKEYPACKAGE, package, [ca_der])
    inner = asn1_cms.ContentInfo.load(message)["content"].untag().dump()
    assert inner[0] == 0x30 and message.endswith(inner)  # the SignedData SEQUENCE
    der = envelope(ID_SIGNED_DATA, inner, pki.der(recipient), pki.ski(recipient))

    decrypted = openssl_decrypt(tmp_path, paths, der)
    assert decrypted == inner
    signed = asn1_cms.SignedData.load(decrypted, strict=True)
    rewrapped = asn1_cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
    assert rewrapped == message
    code, content, messages = openssl_verify(tmp_path, rewrapped)
    assert code == 0, messages
    assert content == package
    (key_der,) = parse_asymmetric_key_package(content)
    key = load_der_private_key(key_der, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.private_numbers() == generated.private_numbers()
    assert open_envelope(der, pki.keys[recipient], pki.ski(recipient)) == (ID_SIGNED_DATA, inner)


# --- password-based envelopes (RFC 9481 4.4.1 / 4.3.1, RFC 9483 4.1.6.3) ------------------


def test_a_password_envelope_opens_with_the_password_only():
    from protocols.cms import envelope_for_password, open_password_envelope

    der = envelope_for_password(ID_DATA, CONTENT, b"shared secret", iterations=2000)
    enveloped = asn1_cms.ContentInfo.load(der)["content"]
    assert enveloped["version"].native == "v3"  # RFC 5652 6.1: a pwri makes it 3
    pwri = enveloped["recipient_infos"][0].chosen
    assert pwri["key_derivation_algorithm"]["parameters"]["iteration_count"].native == 2000
    assert pwri["key_encryption_algorithm"]["algorithm"].native == "aes256_wrap"
    assert open_password_envelope(der, b"shared secret") == (ID_DATA, CONTENT)
    with pytest.raises(ValueError, match="does not open"):
        open_password_envelope(der, b"another secret")
    with pytest.raises(ValueError):
        envelope_for_password(ID_DATA, CONTENT, b"", iterations=2000)
    with pytest.raises(ValueError):
        envelope_for_password(ID_DATA, CONTENT, b"x", iterations=10)
