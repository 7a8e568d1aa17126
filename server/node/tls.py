"""The server's own TLS certificate and the TLS settings of the HTTPS listener.

At `init` the CA issues a `tls-server` certificate for the host it serves on (a software
P-256 key: Python's ssl module must hold it; encrypted at rest with the CA home's secret).
The listener allows TLS 1.2 and 1.3 only and asks for, without requiring, a client
certificate from this CA (EST re-enrollment, RFC 7030 3.3.2)."""

from __future__ import annotations

import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from config import Settings
from config.settings import GOST_KEY_ALGORITHMS
from hsm import gost_engine
from server.authority import Authority, der_to_pem


@dataclass(frozen=True)
class ServerIdentity:
    """The server's TLS certificate chain (leaf first) and its private key."""

    chain: list[bytes]
    private_key: ec.EllipticCurvePrivateKey


def _host_names(host: str) -> list[x509.GeneralName]:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return [x509.DNSName(host)]
    names: list[x509.GeneralName] = [x509.IPAddress(address)]
    if address.is_loopback:
        names.append(x509.DNSName("localhost"))
    return names


async def issue_server_certificate(
    settings: Settings, authority: Authority, secret: str, actor: str
) -> None:
    """Make the server's key, have the CA certify it, write both files (mode 0600)."""
    host = settings.server.https.rpartition(":")[0] or "localhost"
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host.strip("[]"))]))
        .add_extension(x509.SubjectAlternativeName(_host_names(host)), critical=False)
        .sign(key, hashes.SHA256())
    )
    issued = await authority.issue(
        "tls-server", request.public_bytes(serialization.Encoding.DER), actor
    )
    generation = await authority.generation()
    key_path = settings.resolve(settings.server.tls_key)
    cert_path = settings.resolve(settings.server.tls_cert)
    key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(secret.encode("utf-8")),
        ),
    )
    # the CA's certificate, then a parent CA's chain above it (issue 15, Hierarchy)
    above = (generation.certificate_der, *generation.parent_chain)
    chain = issued.pem + "".join(der_to_pem(der) for der in above)
    _write_private(cert_path, chain.encode())


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def server_context(settings: Settings, secret: str, client_ca_pem: str) -> ssl.SSLContext:
    """TLS 1.2+ server context; client certificates are checked against `client_ca_pem`
    when offered (RFC 7030 3.3.2) and not required. Those CA certificates are trust
    anchors whether self-signed or not (partial chains): a CA under a parent outside
    accepts the certificates it issued, not every one its parent's root certifies."""
    if settings.ca.algorithm in GOST_KEY_ALGORITHMS:
        # The handshake verifies a client certificate's GOST signature (and a GOST client
        # key's CertificateVerify, TLS 1.2) in this process's OpenSSL, the one Python's ssl
        # links: only with the GOST engine registered there (hsm/gost_engine.py).
        reason = gost_engine.available()
        if reason is not None:
            raise ValueError(f"a GOST CA's TLS listener needs OpenSSL's GOST engine: {reason}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(
        settings.resolve(settings.server.tls_cert),
        settings.resolve(settings.server.tls_key),
        password=secret,
    )
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(cadata=client_ca_pem)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def load_server_identity(settings: Settings, secret: str) -> ServerIdentity:
    """The server's certificate chain and key, for what the EST server signs itself: the
    key packages of server-generated keys (RFC 7030 4.4.2)."""
    chain_pem = settings.resolve(settings.server.tls_cert).read_bytes()
    chain = [c.public_bytes(serialization.Encoding.DER)
             for c in x509.load_pem_x509_certificates(chain_pem)]  # fmt: skip
    key = serialization.load_pem_private_key(
        settings.resolve(settings.server.tls_key).read_bytes(), secret.encode("utf-8")
    )
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the server key is not the EC key `init` makes")
    return ServerIdentity(chain=chain, private_key=key)
