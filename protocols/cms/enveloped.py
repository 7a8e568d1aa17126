"""CMS EnvelopedData for one recipient certificate (RFC 5652 section 6), and its opening.

RFC 7030 4.4.2 encrypts the key the server generated to a key of the client: the SignedData
holding the key package (:mod:`protocols.cms.signed`) becomes the encrypted content of an
EnvelopedData, with contentType id-signedData. The encrypted octets are the SignedData
itself, not a ContentInfo around it: the content of a content type is that type's value
(RFC 5652 section 3), and the type is in encryptedContentInfo. :func:`envelope` makes one:

- the content is encrypted with AES-256-CBC (RFC 3565 section 4.1: parameters are the IV),
  padded as RFC 5652 6.3 says, under a fresh random 256-bit content-encryption key (CEK);
- the CEK goes to the recipient in one RecipientInfo chosen by the certificate's key:
  for RSA, KeyTransRecipientInfo (6.2.1) with RSAES-OAEP, SHA-256 and MGF1-SHA-256 (RFC 8017
  7.1; the parameters of RFC 4055 4.1, hash identifiers with NULL parameters as its 2.1
  lists them); for EC P-256 and P-384, KeyAgreeRecipientInfo (6.2.2) with ephemeral-static
  ECDH as RFC 5753 3.1.1 has it: dhSinglePass-stdDH-sha256kdf-scheme (7.1.4), the KEK
  derived with the ANSI X9.63 KDF over ECC-CMS-SharedInfo (7.2) and wrapped with AES-256
  key wrap (RFC 3394, RFC 3565 2.3.2), the ephemeral public key as originatorKey;
- or, when the caller gives an originator (its EC private key and certificate), static-static
  ECDH (RFC 6278, allowed by RFC 9481 4.1.1): the same algorithms, the originator named by
  its certificate's subjectKeyIdentifier (issuerAndSerialNumber without one) instead of an
  ephemeral originatorKey, and a random 256-bit ukm, which RFC 6278 3 requires (it goes into
  the KDF as entityUInfo) so that each envelope has its own KEK. RFC 9483 4.1.6.2 asks for
  this in CMP central key generation: the originator is the server's CMP protection
  certificate;
- the recipient is named by subjectKeyIdentifier when the caller has a key identifier
  (RFC 7030 4.4.2: the AsymmetricDecryptKeyIdentifier of the request), otherwise by the
  certificate's issuerAndSerialNumber.

Versions (RFC 5652 6.1): no originatorInfo, no unprotectedAttrs and no pwri or ori here, so
the EnvelopedData is version 0 when all its RecipientInfos are version 0 and version 2
otherwise; KeyTransRecipientInfo is version 0 with issuerAndSerialNumber and 2 with
subjectKeyIdentifier (6.2.1); KeyAgreeRecipientInfo is always version 3 (6.2.2). So: RSA
by issuer and serial, 0; RSA by key identifier, or any EC recipient, 2.

:func:`open_envelope` is the inverse, for tests and for clients written in Python: it takes
what :func:`envelope` makes, and the same algorithms from other senders (such as OpenSSL's
``cms -encrypt``); a static-static envelope opens with the originator's certificate.
"""

from __future__ import annotations

import os

from asn1crypto import algos, cms, core, keys
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, keywrap, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asymmetric_padding
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from protocols.cms.signed import _certificate, _issuer_and_serial_number, _oid

__all__ = ["ID_DH_SINGLE_PASS_STD_DH_SHA256KDF", "ID_ENVELOPED_DATA", "envelope", "open_envelope"]

ID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"  # RFC 5652 section 6.1
ID_DH_SINGLE_PASS_STD_DH_SHA256KDF = "1.3.132.1.11.1"  # RFC 5753 7.1.4

_CEK_BYTES = 32  # AES-256
_UKM_BYTES = 32  # RFC 6278 3: a ukm MUST be present with static-static ECDH
_KEK_BYTES = 32  # aes256-wrap
_EC_CURVES = frozenset({"secp256r1", "secp384r1"})
_OAEP = asymmetric_padding.OAEP(
    mgf=asymmetric_padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)


class _EccCmsSharedInfo(core.Sequence):
    """ECC-CMS-SharedInfo, RFC 5753 7.2: the SharedInfo input of the X9.63 KDF."""

    _fields = [  # noqa: RUF012 (asn1crypto's declaration style)
        ("key_info", cms.KeyEncryptionAlgorithm),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


def envelope(
    content_type: str,
    content: bytes,
    recipient_certificate_der: bytes,
    key_identifier: bytes | None = None,
    originator: tuple[ec.EllipticCurvePrivateKey, bytes] | None = None,
) -> bytes:
    """DER ContentInfo { id-envelopedData, EnvelopedData } (RFC 5652 6) whose
    encryptedContentInfo has contentType `content_type` and `content` encrypted with
    AES-256-CBC (random key and IV). One RecipientInfo for the certificate's public key:
    - RSA key: KeyTransRecipientInfo (6.2.1), key encryption RSAES-OAEP with SHA-256 and
      MGF1-SHA-256 (RFC 8017, RFC 4055 parameters);
    - EC key on P-256 or P-384: KeyAgreeRecipientInfo (6.2.2), ephemeral-static ECDH,
      keyEncryptionAlgorithm dhSinglePass-stdDH-sha256kdf-scheme (RFC 5753 / RFC 8418
      section naming, OID 1.3.132.1.11.1) with parameters aes256-wrap (RFC 3394 key wrap),
      the ANSI X9.63 KDF with SHA-256 over ECC-CMS-SharedInfo (RFC 5753 7.2), originator as
      originatorKey (the ephemeral public key);
    - anything else: ValueError.
    The recipient is identified by subjectKeyIdentifier = `key_identifier` when given (RFC
    7030 4.4.2: the request's AsymmetricDecryptKeyIdentifier), else by issuerAndSerialNumber.
    With ``originator`` (an EC private key and the DER certificate of its public key) an EC
    recipient gets static-static ECDH (RFC 6278) from that key instead, on the same curve
    (ValueError otherwise); an RSA recipient ignores it (key transport has no originator).

    ``content_type`` is a dotted OID and ``content`` the value of that type (RFC 5652
    section 3): for RFC 7030 4.4.2, id-signedData and the DER SignedData itself, not the
    ContentInfo :func:`protocols.cms.signed_data` returns (the contentType is already
    here). Versions as the module says (RFC 5652 6.1).

    Raises ValueError as above, and for a certificate that is not one DER Certificate, an
    empty key identifier or an OID that is not dotted."""
    content_type = _oid("content_type", content_type)
    if key_identifier is not None and not key_identifier:
        raise ValueError("an empty key identifier")
    certificate = _certificate("recipient certificate", recipient_certificate_der)
    public_key = _public_key(certificate)
    cek = os.urandom(_CEK_BYTES)
    if isinstance(public_key, rsa.RSAPublicKey):
        rid = _key_trans_rid(certificate, key_identifier)
        recipient = _key_trans(public_key, cek, rid)
    elif isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name in _EC_CURVES:
        rid = _key_agree_rid(certificate, key_identifier)
        recipient = _key_agree(public_key, cek, rid, originator)
    else:
        raise ValueError(f"cannot encrypt to {_key_name(certificate)}: RSA, EC P-256 or P-384 only")
    # RFC 5652 6.1: version 0 only when every RecipientInfo is version 0.
    version = "v0" if recipient.chosen["version"].native == "v0" else "v2"
    enveloped = cms.EnvelopedData(
        {
            "version": version,
            "recipient_infos": [recipient],
            "encrypted_content_info": _encrypted_content_info(content_type, content, cek),
        }
    )
    return bytes(cms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}).dump())


def open_envelope(
    envelope_der: bytes,
    private_key: object,
    key_identifier: bytes | None = None,
    originator_certificate_der: bytes | None = None,
) -> tuple[str, bytes]:
    """(content type, content) decrypted with the recipient's private key (a cryptography
    RSA or EC private key object): the inverse of `envelope`, for tests and for clients
    written in Python. Raises ValueError when it cannot be opened.

    The content type is a dotted OID. When ``key_identifier`` is given, only RecipientInfos
    naming that subjectKeyIdentifier are tried; otherwise every one the key's type fits (the
    key has no certificate here to match an issuerAndSerialNumber with). The algorithms are
    those of :func:`envelope`; the content may be AES-CBC of any key size the CEK has. A
    static-static envelope (an originator named by certificate, RFC 6278) needs
    ``originator_certificate_der``, the certificate it names."""
    if not isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("the private key must be a cryptography RSA or EC private key")
    try:
        info = cms.ContentInfo.load(envelope_der, strict=True)
        if info["content_type"].dotted != ID_ENVELOPED_DATA:
            raise ValueError(f"content type {info['content_type'].dotted}, not id-envelopedData")
        enveloped = info["content"]
        recipients = list(enveloped["recipient_infos"])
        encrypted = enveloped["encrypted_content_info"]
        originator = (
            None
            if originator_certificate_der is None
            else _certificate("originator certificate", originator_certificate_der)
        )
        cek = _recipient_cek(recipients, private_key, key_identifier, originator)
        return encrypted["content_type"].dotted, _decrypt_content(encrypted, cek)
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"not a DER EnvelopedData: {exc}") from None


# --- envelope ----------------------------------------------------------------------------


def _public_key(certificate: asn1_x509.Certificate) -> PublicKeyTypes:
    spki = certificate["tbs_certificate"]["subject_public_key_info"]
    try:
        return serialization.load_der_public_key(spki.dump())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"the recipient certificate's key is not supported: {exc}") from None


def _key_name(certificate: asn1_x509.Certificate) -> str:
    """'an rsa key', 'an ec secp521r1 key', 'an ed25519 key': for error messages."""
    spki = certificate["tbs_certificate"]["subject_public_key_info"]
    algorithm = spki.algorithm
    return f"an {algorithm} {spki.curve[1]} key" if algorithm == "ec" else f"an {algorithm} key"


def _key_trans_rid(
    certificate: asn1_x509.Certificate, key_identifier: bytes | None
) -> cms.RecipientIdentifier:
    if key_identifier is not None:
        return cms.RecipientIdentifier(name="subject_key_identifier", value=key_identifier)
    return cms.RecipientIdentifier(
        name="issuer_and_serial_number", value=_issuer_and_serial_number(certificate)
    )


def _key_agree_rid(
    certificate: asn1_x509.Certificate, key_identifier: bytes | None
) -> cms.KeyAgreementRecipientIdentifier:
    if key_identifier is not None:  # rKeyId [0] IMPLICIT RecipientKeyIdentifier (6.2.2)
        return cms.KeyAgreementRecipientIdentifier(
            name="r_key_id", value={"subject_key_identifier": key_identifier}
        )
    return cms.KeyAgreementRecipientIdentifier(
        name="issuer_and_serial_number", value=_issuer_and_serial_number(certificate)
    )


def _key_trans(
    public_key: rsa.RSAPublicKey, cek: bytes, rid: cms.RecipientIdentifier
) -> cms.RecipientInfo:
    """KeyTransRecipientInfo (RFC 5652 6.2.1), the CEK encrypted with RSAES-OAEP."""
    value = cms.KeyTransRecipientInfo(
        {
            "version": "v2" if rid.name == "subject_key_identifier" else "v0",
            "rid": rid,
            "key_encryption_algorithm": _oaep_algorithm(),
            "encrypted_key": public_key.encrypt(cek, _OAEP),
        }
    )
    return cms.RecipientInfo(name="ktri", value=value)


def _oaep_algorithm() -> cms.KeyEncryptionAlgorithm:
    """id-RSAES-OAEP with RSAES-OAEP-params { sha256Identifier, mgf1SHA256Identifier }
    (RFC 4055 4.1 and 2.1; pSourceFunc left at its DEFAULT, the empty label)."""
    sha256 = {"algorithm": "sha256"}  # asn1crypto writes NULL parameters, as RFC 4055 2.1
    parameters = algos.RSAESOAEPParams(
        {
            "hash_algorithm": sha256,
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": sha256},
        }
    )
    return cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_oaep", "parameters": parameters})


def _key_agree(
    public_key: ec.EllipticCurvePublicKey,
    cek: bytes,
    rid: cms.KeyAgreementRecipientIdentifier,
    originator: tuple[ec.EllipticCurvePrivateKey, bytes] | None = None,
) -> cms.RecipientInfo:
    """KeyAgreeRecipientInfo (RFC 5652 6.2.2) with ECDH, dhSinglePass-stdDH-sha256kdf and
    AES-256 wrap (RFC 5753 7.1.4, 7.1.5; RFC 6278 2, RFC 9481 4.1.1).

    Without ``originator``, ephemeral-static (RFC 5753 3.1.1): the originatorKey is the
    ephemeral key's SubjectPublicKeyInfo, id-ecPublicKey with the namedCurve parameters
    (RFC 5753 3.1.1 allows absent or ECParameters as namedCurve) and the uncompressed point;
    there is no ukm (it is OPTIONAL; the key is new each time). With it, static-static
    (RFC 6278 3): see :func:`_static_originator`; the ukm is present (RFC 6278 3: MUST) and
    random, so the KEK is new each time though both keys are static."""
    ukm: bytes | None = None
    if originator is None:
        own_key = ec.generate_private_key(public_key.curve)
        identifier = cms.OriginatorIdentifierOrKey(
            name="originator_key",
            value=keys.PublicKeyInfo.load(
                own_key.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            ),
        )
    else:
        own_key, identifier = _static_originator(public_key, *originator)
        ukm = os.urandom(_UKM_BYTES)
    kek = _kek(own_key.exchange(ec.ECDH(), public_key), ukm)
    fields: dict[str, object] = {
        "version": "v3",  # RFC 5652 6.2.2: always 3
        "originator": identifier,
        "key_encryption_algorithm": {
            "algorithm": ID_DH_SINGLE_PASS_STD_DH_SHA256KDF,
            "parameters": _aes256_wrap(),  # KeyWrapAlgorithm (RFC 5753 7.1.5)
        },
        "recipient_encrypted_keys": [{"rid": rid, "encrypted_key": keywrap.aes_key_wrap(kek, cek)}],
    }
    if ukm is not None:
        fields["ukm"] = ukm
    return cms.RecipientInfo(name="kari", value=cms.KeyAgreeRecipientInfo(fields))


def _static_originator(
    public_key: ec.EllipticCurvePublicKey,
    originator_key: ec.EllipticCurvePrivateKey,
    originator_certificate_der: bytes,
) -> tuple[ec.EllipticCurvePrivateKey, cms.OriginatorIdentifierOrKey]:
    """The static originator of RFC 6278 3: its key, and its name, by its certificate's
    subjectKeyIdentifier when it has one, else issuerAndSerialNumber (RFC 9483 4.1.6.2).
    ValueError when the certificate is not of that key or the curves differ."""
    certificate = _certificate("originator certificate", originator_certificate_der)
    own = _public_key(certificate)
    if not isinstance(own, ec.EllipticCurvePublicKey) or own.public_numbers() != (
        originator_key.public_key().public_numbers()
    ):
        raise ValueError("the originator certificate is not of the originator's key")
    if own.curve.name != public_key.curve.name:
        raise ValueError(
            f"static-static ECDH needs one curve: the originator's is {own.curve.name}, "
            f"the recipient's {public_key.curve.name}"
        )
    key_id = certificate.key_identifier
    if key_id is not None:
        return originator_key, cms.OriginatorIdentifierOrKey(
            name="subject_key_identifier", value=key_id
        )
    return originator_key, cms.OriginatorIdentifierOrKey(
        name="issuer_and_serial_number", value=_issuer_and_serial_number(certificate)
    )


def _aes256_wrap() -> cms.KeyEncryptionAlgorithm:
    """id-aes256-wrap, parameters absent (RFC 3565 2.3.2)."""
    return cms.KeyEncryptionAlgorithm({"algorithm": "aes256_wrap"})


def _kek(shared_secret: bytes, ukm: bytes | None = None) -> bytes:
    """The key-encryption key of RFC 5753 3.1.1 and 7.2: the X9.63 KDF with SHA-256 over Z,
    with SharedInfo = ECC-CMS-SharedInfo { keyInfo aes256-wrap, entityUInfo the ukm when
    there is one (RFC 5753 7.2), suppPubInfo 256 (the KEK length in bits, 32-bit
    big-endian) }."""
    fields: dict[str, object] = {
        "key_info": _aes256_wrap(),
        "supp_pub_info": (8 * _KEK_BYTES).to_bytes(4, "big"),
    }
    if ukm is not None:
        fields["entity_u_info"] = ukm
    shared_info = _EccCmsSharedInfo(fields)
    kdf = X963KDF(algorithm=hashes.SHA256(), length=_KEK_BYTES, sharedinfo=shared_info.dump())
    return kdf.derive(shared_secret)


def _encrypted_content_info(content_type: str, content: bytes, cek: bytes) -> dict[str, object]:
    """EncryptedContentInfo (RFC 5652 6.1): AES-256-CBC, the IV as parameters (RFC 3565
    4.1), the content padded to whole blocks as RFC 5652 6.3 says (PKCS #7 padding)."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(content) + padder.finalize()
    encryptor = Cipher(algorithms.AES(cek), modes.CBC(iv)).encryptor()
    return {
        "content_type": content_type,
        "content_encryption_algorithm": {"algorithm": "aes256_cbc", "parameters": iv},
        "encrypted_content": encryptor.update(padded) + encryptor.finalize(),
    }


# --- open_envelope -----------------------------------------------------------------------


def _recipient_cek(
    recipients: list[cms.RecipientInfo],
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    key_identifier: bytes | None,
    originator: asn1_x509.Certificate | None = None,
) -> bytes:
    """The CEK from the first RecipientInfo this key opens."""
    for recipient in recipients:
        if isinstance(private_key, rsa.RSAPrivateKey) and recipient.name == "ktri":
            cek = _open_key_trans(recipient.chosen, private_key, key_identifier)
        elif isinstance(private_key, ec.EllipticCurvePrivateKey) and recipient.name == "kari":
            cek = _open_key_agree(recipient.chosen, private_key, key_identifier, originator)
        else:
            continue
        if cek is not None:
            return cek
    raise ValueError("no RecipientInfo of the envelope opens with this private key")


def _open_key_trans(
    info: cms.KeyTransRecipientInfo, private_key: rsa.RSAPrivateKey, key_identifier: bytes | None
) -> bytes | None:
    if not _names(info["rid"], key_identifier):
        return None
    algorithm = info["key_encryption_algorithm"]
    if algorithm["algorithm"].native != "rsaes_oaep" or not _oaep_sha256(algorithm["parameters"]):
        raise ValueError("key transport other than RSAES-OAEP with SHA-256 is not supported")
    try:
        return private_key.decrypt(info["encrypted_key"].native, _OAEP)
    except ValueError:  # another key, or not for us
        return None


def _oaep_sha256(parameters: algos.RSAESOAEPParams) -> bool:
    """SHA-256, MGF1 with SHA-256 and the empty label, however the parameters are spelt
    (absent or NULL hash parameters, RFC 4055 2.1)."""
    mgf = parameters["mask_gen_algorithm"]
    return bool(
        parameters["hash_algorithm"]["algorithm"].native == "sha256"
        and mgf["algorithm"].native == "mgf1"
        and mgf["parameters"]["algorithm"].native == "sha256"
        and parameters["p_source_algorithm"]["parameters"].native == b""
    )


def _open_key_agree(
    info: cms.KeyAgreeRecipientInfo,
    private_key: ec.EllipticCurvePrivateKey,
    key_identifier: bytes | None,
    originator_certificate: asn1_x509.Certificate | None = None,
) -> bytes | None:
    algorithm = info["key_encryption_algorithm"]
    wrap = algorithm["parameters"]
    if (
        algorithm["algorithm"].dotted != ID_DH_SINGLE_PASS_STD_DH_SHA256KDF
        or cms.KeyEncryptionAlgorithm.load(wrap.dump())["algorithm"].native != "aes256_wrap"
    ):
        raise ValueError("key agreement other than ECDH, SHA-256 KDF, AES-256 wrap")
    originator = info["originator"]
    ukm = info["ukm"].native
    if originator.name == "originator_key":  # ephemeral-static, RFC 5753 3.1.1
        public_key = _originator_public_key(originator.chosen, private_key.curve)
    else:  # static-static, RFC 6278 3: named by certificate
        public_key = _named_originator_key(originator, originator_certificate)
    kek = _kek(private_key.exchange(ec.ECDH(), public_key), ukm)
    for encrypted_key in info["recipient_encrypted_keys"]:
        if not _names(encrypted_key["rid"], key_identifier):
            continue
        try:
            return keywrap.aes_key_unwrap(kek, encrypted_key["encrypted_key"].native)
        except keywrap.InvalidUnwrap:  # another key, or not for us
            continue
    return None


def _named_originator_key(
    originator: cms.OriginatorIdentifierOrKey, certificate: asn1_x509.Certificate | None
) -> ec.EllipticCurvePublicKey:
    """The static key of an originator named by subjectKeyIdentifier or issuer and serial
    (RFC 6278 3), from the certificate the caller has; ValueError when it is not that."""
    if certificate is None:
        raise ValueError("the originator is named by certificate: the certificate is needed")
    if originator.name == "subject_key_identifier":
        named = originator.chosen.native == certificate.key_identifier
    else:
        named = originator.chosen.dump() == _issuer_and_serial_number(certificate).dump()
    public_key = _public_key(certificate)
    if not named or not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise ValueError("the originator certificate given is not the one the envelope names")
    return public_key


def _originator_public_key(
    originator: keys.PublicKeyInfo, curve: ec.EllipticCurve
) -> ec.EllipticCurvePublicKey:
    """The ephemeral key, on the recipient's curve when its parameters are absent or NULL
    (RFC 5753 3.1.1), otherwise on the curve it names, which must be the recipient's."""
    if originator["algorithm"]["algorithm"].native != "ec":
        raise ValueError("the originatorKey is not id-ecPublicKey (RFC 5753 3.1.1)")
    parameters = originator["algorithm"]["parameters"]
    if parameters.native is not None and parameters.chosen.native != curve.name:
        raise ValueError(f"an originatorKey on {parameters.chosen.native}, not {curve.name}")
    point = originator["public_key"].native
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    except ValueError as exc:
        raise ValueError(f"the originatorKey is not a point on {curve.name}: {exc}") from None


def _names(
    rid: cms.RecipientIdentifier | cms.KeyAgreementRecipientIdentifier,
    key_identifier: bytes | None,
) -> bool:
    """Whether the recipient identifier may name our key: any does without a key
    identifier; with one, only a subjectKeyIdentifier (or rKeyId) equal to it."""
    if key_identifier is None:
        return True
    if rid.name == "subject_key_identifier":
        return bool(rid.chosen.native == key_identifier)
    if rid.name == "r_key_id":
        return bool(rid.chosen["subject_key_identifier"].native == key_identifier)
    return False


def _decrypt_content(encrypted: cms.EncryptedContentInfo, cek: bytes) -> bytes:
    algorithm = encrypted["content_encryption_algorithm"]
    if algorithm.encryption_cipher != "aes" or algorithm.encryption_mode != "cbc":
        raise ValueError(f"content encryption {algorithm['algorithm'].native} is not AES-CBC")
    if algorithm.key_length != len(cek):
        raise ValueError("the content-encryption key does not fit the content's AES key size")
    ciphertext = encrypted["encrypted_content"].native
    if ciphertext is None:
        raise ValueError("the encrypted content is detached (absent)")
    decryptor = Cipher(algorithms.AES(cek), modes.CBC(algorithm.encryption_iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise ValueError(f"the content does not decrypt: {exc}") from None
