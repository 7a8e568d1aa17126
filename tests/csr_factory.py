"""PKCS#10 requests for tests, made with pyca/cryptography (the CA re-encodes every subject
attribute itself, so how a request encodes it does not matter)."""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "street": NameOID.STREET_ADDRESS,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "SN": NameOID.SURNAME,
    "GN": NameOID.GIVEN_NAME,
    "title": NameOID.TITLE,
    "emailAddress": NameOID.EMAIL_ADDRESS,
    "OGRN": ObjectIdentifier("1.2.643.100.1"),
    "SNILS": ObjectIdentifier("1.2.643.100.3"),
    "INNLE": ObjectIdentifier("1.2.643.100.4"),
    "OGRNIP": ObjectIdentifier("1.2.643.100.5"),
    "INN": ObjectIdentifier("1.2.643.3.131.1.1"),
}


def new_key(kind: str = "ec-p256"):
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind.startswith("rsa-"):
        return rsa.generate_private_key(65537, int(kind[4:]))
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def make_csr(
    subject: list[tuple[str, str]],
    key=None,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    emails: tuple[str, ...] = (),
    extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
) -> bytes:
    """A signed request, DER; its extensionRequest asks for `extensions` ((extension,
    critical) each, RFC 2985 5.4.2) besides the subjectAltName of `dns`, `ips`, `emails`."""
    key = key or new_key()
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(OIDS[a], v) for a, v in subject])
    )
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    names += [x509.RFC822Name(e) for e in emails]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.DER)


def tamper(csr_der: bytes) -> bytes:
    """The same request with one bit of its signature flipped."""
    return csr_der[:-1] + bytes([csr_der[-1] ^ 0x01])


PERSON = [("CN", "Иванов Иван Иванович"), ("SN", "Иванов"), ("GN", "Иван Иванович"),
          ("C", "RU"), ("SNILS", "11223344595"), ("INN", "500100732259")]  # fmt: skip
ORGANISATION = [("CN", "ООО Ромашка"), ("O", "ООО Ромашка"), ("C", "RU"),
                ("OGRN", "1027700132195"), ("INNLE", "7707083893")]  # fmt: skip
