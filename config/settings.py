"""Typed settings for one CA home.

A CA home is a folder with `settings.toml`, the registry and (for the software backend) the
encrypted key files. Settings are read once at start: the TOML file first, then environment
overrides of the form `CA_<SECTION>__<KEY>=value` (for example `CA_SERVER__HTTP=127.0.0.1:9000`
or `CA_PIPELINE__MAX_BATCH=8`). Unknown keys and bad values are refused at once with the key
named, so a typo never silently falls back to a default.

Secrets (the HSM PIN, the software key passphrase) are never settings: the settings only say
which environment variable or file holds them (`hsm.pin_env`, `hsm.pin_file`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from config import registry_url

ENV_PREFIX = "CA_"

# GOST R 34.10-2012 keys by size and gost-engine's parameter set (hsm/backend.py)
GOST_KEY_ALGORITHMS = (
    *(f"gost2012-256-{p}" for p in ("a", "b", "c", "xa", "xb", "tca", "tcb", "tcc", "tcd")),
    *(f"gost2012-512-{p}" for p in ("a", "b", "c")),
)
KEY_ALGORITHMS = (
    "ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519", *GOST_KEY_ALGORITHMS
)  # fmt: skip


def key_algorithm_named(text: str) -> str:
    """The KEY_ALGORITHMS name of `text`, which may also spell a GOST key as init's option
    does: "gost2012-256" (CryptoPro-A, what CryptoPro CSP makes by default) or
    "gost2012-512" (TC26-A), optionally with gost-engine's parameter set after a colon,
    "gost2012-256:TCA". Raises ValueError naming the choices."""
    name, _, paramset = text.strip().lower().partition(":")
    if name in ("gost2012-256", "gost2012-512"):
        name = f"{name}-{paramset or 'a'}"
    elif paramset:
        name = text
    if name not in KEY_ALGORITHMS:
        raise ValueError(
            f"unknown key algorithm {text!r}: one of {', '.join(KEY_ALGORITHMS[:6])}, "
            "gost2012-256[:A|B|C|XA|XB|TCA|TCB|TCC|TCD] or gost2012-512[:A|B|C]"
        )
    return name


KEY_USAGES = (
    "digital_signature",
    "non_repudiation",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)
SUBJECT_ATTRIBUTES = (
    "C", "ST", "L", "street", "O", "OU", "CN", "SN", "GN", "title", "emailAddress",
    "serialNumber", "OGRN", "OGRNIP", "SNILS", "INN", "INNLE",
)  # fmt: skip
SAN_TYPES = ("dns", "ip", "email")
OUTBOX_SENDERS = ("jsonl-file",)
REGISTER_CHECKS = ("none",)
# Subject attributes that identify a person or an organisation in Russian state registers
# (SNILS, INN, INNLE, OGRN, OGRNIP): a profile taking any of them issues only to registered
# subscribers (`requires_registered_subscriber`).
PERSONAL_IDENTIFIERS = ("SNILS", "INN", "INNLE", "OGRN", "OGRNIP")
CLASS_POLICY_ARC = "1.2.643.100.113."  # classes of signature tool, KC1 .1 ... KA1 .6


class SettingsError(ValueError):
    """A settings file or override is wrong; the message names the key."""


@dataclass(frozen=True)
class IssuerSignTool:
    """issuerSignTool (1.2.643.100.112): the CA's tools and their conformance certificates."""

    sign_tool: str = ""
    ca_tool: str = ""
    sign_tool_cert: str = ""
    ca_tool_cert: str = ""


COMPROMISE_CERTIFICATES = ("revoke", "mark")


@dataclass(frozen=True)
class CASettings:
    name: str = "demo"
    subject: str = "CN=Demo CA,O=Demo,C=RU"
    algorithm: str = "ec-p256"
    validity_days: int = 3650
    base_url: str = "http://127.0.0.1:8080"
    ocsp_url: str = ""  # the OCSP URL put in certificates; "" means <base_url>/ocsp
    ocsp_responder_validity_days: int = 30
    ocsp_responder_renew_before_days: int = 10  # a new responder certificate this early
    # K2, D10: the CA key's permitted lifetime, from its certificate's notBefore (0: the CA
    # certificate's validity); the background duty rolls over to a new key
    # `rollover_before_days` before it ends (server/node/scheduled_rollover.py).
    key_usage_days: int = 0
    rollover_before_days: int = 14
    # K4: what a CA key compromise does to the certificates issued under that key:
    # "revoke" them (cACompromise), or "mark" them (left good; audit entries naming them
    # and the generation's state record them) for the CA to decide one by one.
    compromise_certificates: str = "revoke"
    # The Russian profile's content of new CA certificates (RFC 9215 5.2-5.4; issue 15):
    # set, they carry this subjectSignTool (the CA's own signature tool), issuerSignTool
    # from [ca.issuer_sign_tool] (a self-signed CA certified itself with its own tools) and
    # certificatePolicies of the classes its profiles issue; "" leaves them all out.
    subject_sign_tool: str = ""
    issuer_sign_tool: IssuerSignTool = field(default_factory=IssuerSignTool)

    def check(self) -> None:
        _require(self.algorithm in KEY_ALGORITHMS, "ca.algorithm", f"one of {KEY_ALGORITHMS}")
        _require(self.validity_days > 0, "ca.validity_days", "a positive number of days")
        _require(
            self.ocsp_responder_validity_days > 0,
            "ca.ocsp_responder_validity_days",
            "a positive number of days",
        )
        _require(
            0 < self.ocsp_responder_renew_before_days < self.ocsp_responder_validity_days,
            "ca.ocsp_responder_renew_before_days",
            "positive and below ca.ocsp_responder_validity_days",
        )
        _require(
            0 <= self.key_usage_days <= self.validity_days,
            "ca.key_usage_days",
            "0 (the CA certificate's validity) or a number of days up to ca.validity_days",
        )
        _require(
            0 < self.rollover_before_days < (self.key_usage_days or self.validity_days),
            "ca.rollover_before_days",
            "positive and below the CA key's lifetime (ca.key_usage_days, or "
            "ca.validity_days when it is 0)",
        )
        _require(
            self.compromise_certificates in COMPROMISE_CERTIFICATES,
            "ca.compromise_certificates",
            f"one of {COMPROMISE_CERTIFICATES}",
        )
        _require(
            len(self.subject_sign_tool) <= 200,
            "ca.subject_sign_tool",
            "at most 200 characters (RFC 9215 5.3)",
        )
        if self.subject_sign_tool:
            tool = self.issuer_sign_tool
            for key, value, most in (
                ("sign_tool", tool.sign_tool, 200),
                ("ca_tool", tool.ca_tool, 200),
                ("sign_tool_cert", tool.sign_tool_cert, 100),
                ("ca_tool_cert", tool.ca_tool_cert, 100),
            ):
                _require(
                    0 < len(value) <= most,
                    f"ca.issuer_sign_tool.{key}",
                    f"1 to {most} characters when ca.subject_sign_tool is set (RFC 9215 5.4)",
                )
        _require(
            self.name.replace("-", "").replace("_", "").isalnum(),
            "ca.name",
            "letters, digits, '-' and '_' only (it is part of URLs)",
        )
        _require(
            self.base_url.startswith(("http://", "https://")),
            "ca.base_url",
            "an http:// or https:// URL",
        )

    def check_profiles(self, profiles: Mapping[str, ProfileSettings]) -> None:
        """D10 without truncation: a certificate issued on the CA key's last permitted
        day, for the longest validity any profile gives, still ends within the CA
        certificate."""
        if not self.key_usage_days or not profiles:
            return
        name, days = max(
            ((name, profile.longest_validity_days) for name, profile in profiles.items()),
            key=lambda item: item[1],
        )
        _require(
            self.key_usage_days + days <= self.validity_days,
            "ca.key_usage_days",
            f"at most ca.validity_days ({self.validity_days}) less the longest profile "
            f"validity ({days} days, profiles.{name}), so that a certificate issued on the "
            "CA key's last day ends before the CA certificate (D10)",
        )


@dataclass(frozen=True)
class HSMSettings:
    backend: str = "soft"  # "soft" (encrypted PKCS#8 files) or "pkcs11"
    key_dir: str = "keys"  # soft: relative to the CA home
    module: str = "/usr/lib/softhsm/libsofthsm2.so"  # pkcs11: the vendor module
    token_label: str = "ca"  # pkcs11: the token holding the CA keys
    pin_env: str = "CA_HSM_PIN"  # environment variable holding the PIN / passphrase
    pin_file: str = ""  # or a file holding it (relative to the CA home)

    def check(self) -> None:
        _require(self.backend in ("soft", "pkcs11"), "hsm.backend", "'soft' or 'pkcs11'")
        _require(
            bool(self.pin_env or self.pin_file),
            "hsm.pin_env",
            "set (or hsm.pin_file): the PIN must come from somewhere",
        )


@dataclass(frozen=True)
class RootSettings:
    """A root CA in the home, above the issuing CA (`init --hierarchy root+issuing`; issue
    15, Hierarchy). Its key is used only by commands (`init`, `root ...`), never by the
    server: its key folder and PIN can stay offline between uses. `name` "" (the default):
    no root in this home."""

    name: str = ""  # used in URLs: /ca/<name>.crt, /crl/<name>.crl
    subject: str = "CN=Demo Root CA,O=Demo,C=RU"
    algorithm: str = ""  # "" = ca.algorithm
    validity_days: int = 7300
    crl_validity_days: int = 365  # the root's CRL: nextUpdate this long after thisUpdate
    backend: str = "soft"  # like hsm.backend; pkcs11 uses hsm.module with this token
    key_dir: str = "root/keys"
    token_label: str = "root"
    pin_env: str = "CA_ROOT_PIN"
    pin_file: str = "root/pin.txt"

    def check(self) -> None:
        if self.name:
            _require(_is_url_name(self.name), "root.name", "letters, digits, '-' and '_'")
        _require(not self.algorithm or self.algorithm in KEY_ALGORITHMS, "root.algorithm",
                 f"'' (ca.algorithm) or one of {KEY_ALGORITHMS}")  # fmt: skip
        _require(self.validity_days > 0, "root.validity_days", "a positive number of days")
        _require(0 < self.crl_validity_days <= self.validity_days, "root.crl_validity_days",
                 "positive and at most root.validity_days")  # fmt: skip
        _require(self.backend in ("soft", "pkcs11"), "root.backend", "'soft' or 'pkcs11'")
        _require(bool(self.pin_env or self.pin_file), "root.pin_env",
                 "set (or root.pin_file): the root's PIN must come from somewhere")  # fmt: skip


def _is_url_name(text: str) -> bool:
    return bool(text) and all(c.isascii() and (c.isalnum() or c in "-_") for c in text)


@dataclass(frozen=True)
class RegistrySettings:
    """Where the registry lives (config/registry_url.py): `sqlite:///<file>`, relative to
    the CA home unless absolute (`sqlite:////...`), or `postgresql://user@host/database`
    with its password in ~/.pgpass or the file PGPASSFILE names, never here. Homes made
    before the URL wrote `path = "<file>"`: that is read as `sqlite:///<file>`."""

    url: str = "sqlite:///registry.sqlite3"
    pool_size: int = 10  # PostgreSQL: connections each process (worker, command) may open
    # Group commit (server/registry/group_commit.py), in each process: at most this many
    # requests share one write transaction; when this many writes wait already, a new
    # request is answered busy (EST 503, CMP systemUnavail).
    max_write_group: int = 64
    max_write_queue: int = 4096

    def check(self) -> None:
        problem = registry_url.url_problem(self.url)
        _require(problem is None, "registry.url", problem or "")
        _require(1 <= self.pool_size <= 100, "registry.pool_size", "1..100")
        _require(1 <= self.max_write_group <= 1024, "registry.max_write_group", "1..1024")
        _require(1 <= self.max_write_queue <= 1_000_000, "registry.max_write_queue", "1..1000000")


@dataclass(frozen=True)
class ServerSettings:
    http: str = "127.0.0.1:8080"
    https: str = ""  # HOST:PORT for TLS 1.2/1.3 (EST needs it)
    tls_cert: str = ""  # PEM chain of the server certificate (relative to the CA home)
    tls_key: str = ""  # its key, PEM, encrypted with the CA home's secret (hsm.pin_*)
    workers: int = 1  # HTTP worker processes; all feed the same signer processes
    ocsp: str = ""  # HOST:PORT of a dedicated OCSP listener (server/web/ocsp_listener.py)
    # Reverse proxies (addresses or networks) whose X-Forwarded-For names the client, for
    # the public search's limit per client (server/web/pages/rate_limit.py)
    trusted_proxies: tuple[str, ...] = ()

    def check(self) -> None:
        _require(1 <= self.workers <= 64, "server.workers", "1..64")
        for proxy in self.trusted_proxies:
            _require(_is_network(proxy), "server.trusted_proxies", "IP addresses or networks")
        for key in ("http", "https", "ocsp"):
            value = getattr(self, key)
            if value:
                _require(_is_host_port(value), f"server.{key}", "HOST:PORT")
        if self.https:
            _require(bool(self.tls_cert and self.tls_key), "server.tls_cert",
                     "set, with server.tls_key, when server.https is")  # fmt: skip


@dataclass(frozen=True)
class LimitsSettings:
    """What one client may cost a listener (main HTTP, HTTPS, dedicated OCSP), per worker
    process: request sizes, timeouts, buffered answers, connections (server/web/limits.py)."""

    max_target_bytes: int = 8190  # request-target (URL); longer: 414 (RFC 9110 15.5.15)
    max_field_bytes: int = 8192  # one header field, name and value; longer: 431 (RFC 6585 5)
    max_fields: int = 100  # header fields of one request; more: 431
    header_timeout_seconds: float = 20.0  # a complete head this soon after connect/answer
    body_timeout_seconds: float = 30.0  # a complete body this soon after its head
    max_connections: int = 1000  # open connections per listener and worker; more: 503
    max_pending_answers: int = 64  # OCSP listener: answers in the making per connection
    write_buffer_bytes: int = 262144  # unsent answer bytes per connection before reading stops
    log_interval_seconds: float = 60.0  # one log line per kind of refusal and listener

    def check(self) -> None:
        _require(256 <= self.max_target_bytes <= 1 << 20, "limits.max_target_bytes", "256..1048576")
        _require(256 <= self.max_field_bytes <= 1 << 20, "limits.max_field_bytes", "256..1048576")
        # aiohttp reports which limit a long line passed only by the limit's size (414 or 431)
        _require(
            self.max_field_bytes != self.max_target_bytes,
            "limits.max_field_bytes",
            "different from limits.max_target_bytes",
        )
        _require(1 <= self.max_fields <= 1000, "limits.max_fields", "1..1000")
        _require(0 < self.header_timeout_seconds <= 3600, "limits.header_timeout_seconds",
                 "in 0..3600")  # fmt: skip
        _require(0 < self.body_timeout_seconds <= 3600, "limits.body_timeout_seconds",
                 "in 0..3600")  # fmt: skip
        _require(1 <= self.max_connections <= 1_000_000, "limits.max_connections", "1..1000000")
        _require(1 <= self.max_pending_answers <= 10000, "limits.max_pending_answers", "1..10000")
        _require(self.write_buffer_bytes >= 4096, "limits.write_buffer_bytes", "at least 4096")
        _require(self.log_interval_seconds >= 0, "limits.log_interval_seconds", ">= 0")


@dataclass(frozen=True)
class PipelineSettings:
    signer_processes: int = 1
    max_batch: int = 64
    max_delay_ms: float = 2.0
    max_queue: int = 10000

    def check(self) -> None:
        _require(1 <= self.signer_processes <= 64, "pipeline.signer_processes", "1..64")
        _require(1 <= self.max_batch <= 4096, "pipeline.max_batch", "1..4096")
        _require(0 <= self.max_delay_ms <= 1000, "pipeline.max_delay_ms", "0..1000")
        _require(self.max_queue >= 1, "pipeline.max_queue", "at least 1")


@dataclass(frozen=True)
class SupervisorSettings:
    """`serve` as a supervisor (server/node/supervisor.py, server/node/duties.py): dead signer and
    HTTP worker processes are restarted with exponential backoff, and the background
    duties are held by an expiring lease in the registry."""

    restart_delay_seconds: float = 0.5  # wait before the first restart of a dead child
    restart_delay_max_seconds: float = 30.0  # doubled on each death in a row, up to this
    duty_lease_seconds: float = 15.0  # a duty holder that stops renewing loses it after this
    duty_renew_seconds: float = 5.0  # how often every worker renews or tries to take it

    def check(self) -> None:
        _require(0 < self.restart_delay_seconds <= 60, "supervisor.restart_delay_seconds",
                 "in 0..60")  # fmt: skip
        _require(
            self.restart_delay_seconds <= self.restart_delay_max_seconds <= 3600,
            "supervisor.restart_delay_max_seconds",
            "at least supervisor.restart_delay_seconds and at most 3600",
        )
        # the registry stores lease expiry in whole seconds
        _require(3 <= self.duty_lease_seconds <= 3600, "supervisor.duty_lease_seconds",
                 "in 3..3600")  # fmt: skip
        _require(
            0.1 <= self.duty_renew_seconds <= self.duty_lease_seconds / 3,
            "supervisor.duty_renew_seconds",
            "at least 0.1 and at most a third of supervisor.duty_lease_seconds",
        )


@dataclass(frozen=True)
class OCSPSettings:
    """OCSP responses (RFC 6960, RFC 5019): pre-signed for every certificate, refreshed
    ahead of nextUpdate, fresh for requests with a nonce (RFC 8954)."""

    validity_hours: float = 24.0  # nextUpdate - thisUpdate of pre-signed responses
    refresh_before_hours: float = 8.0  # re-sign when nextUpdate is closer than this
    max_nonce_length: int = 32  # RFC 8954 section 2: 1..32 octets; longer is malformed
    unknown_max_age_seconds: int = 60  # HTTP caching of "unknown" answers
    propagation_timeout_seconds: float = 5.0  # how long a status change waits for servers
    poll_interval_ms: float = 50.0  # a server reads others' status changes at least this often
    # the node's pre-signed responses, mapped by every worker (server/status/ocsp_index.py);
    # relative to the CA home
    index_file: str = "ocsp-index.bin"
    index_rewrite_rows: int = 50_000  # responses changed since the file: write it anew

    def check(self) -> None:
        _require(self.validity_hours > 0, "ocsp.validity_hours", "positive")
        _require(bool(self.index_file), "ocsp.index_file", "a file name")
        _require(self.index_rewrite_rows >= 1, "ocsp.index_rewrite_rows", "at least 1")
        _require(
            0 < self.refresh_before_hours < self.validity_hours,
            "ocsp.refresh_before_hours",
            "positive and below ocsp.validity_hours",
        )
        _require(1 <= self.max_nonce_length <= 128, "ocsp.max_nonce_length", "1..128")
        _require(self.unknown_max_age_seconds >= 0, "ocsp.unknown_max_age_seconds", ">= 0")
        _require(self.propagation_timeout_seconds > 0, "ocsp.propagation_timeout_seconds", "> 0")
        _require(5 <= self.poll_interval_ms <= 10000, "ocsp.poll_interval_ms", "5..10000")


@dataclass(frozen=True)
class CRLSettings:
    """CRLs (RFC 5280 section 5): a full CRL per CA generation (and shard), delta CRLs
    against a base full CRL made every `base_interval_hours`."""

    validity_hours: float = 24.0  # nextUpdate - thisUpdate
    refresh_before_hours: float = 8.0  # rebuild when nextUpdate is closer than this
    deltas: bool = True  # publish delta CRLs and point certificates at them (freshestCRL)
    base_interval_hours: float = 24.0  # how often the base of delta CRLs moves on
    shards: int = 1  # partitions by serial, each its own CRL and distribution point
    coalesce_ms: float = 200.0  # status changes within this window make one rebuild
    keep_expired_days: int = 0  # entries stay this long past the certificate's expiry

    def check(self) -> None:
        _require(self.validity_hours > 0, "crl.validity_hours", "positive")
        _require(
            0 < self.refresh_before_hours < self.validity_hours,
            "crl.refresh_before_hours",
            "positive and below crl.validity_hours",
        )
        _require(self.base_interval_hours > 0, "crl.base_interval_hours", "positive")
        _require(1 <= self.shards <= 1024, "crl.shards", "1..1024")
        _require(0 <= self.coalesce_ms <= 60000, "crl.coalesce_ms", "0..60000")
        _require(self.keep_expired_days >= 0, "crl.keep_expired_days", ">= 0")


@dataclass(frozen=True)
class ESTSettings:
    """EST (RFC 7030): which profile each label selects (/.well-known/est/<label>/...)."""

    default_profile: str = "tls-client"  # for /.well-known/est/ without a label
    labels: Mapping[str, str] = field(default_factory=dict)  # label -> profile
    # Labels whose simpleenroll also accepts a TLS client certificate of this CA instead of
    # an enrollment code (the certificate's subject is used).
    client_certificate_labels: tuple[str, ...] = ()
    max_body_bytes: int = 65536
    # RFC 7030 4.2.3: Retry-After of a 202 while an application awaits an operator.
    pending_retry_after_seconds: int = 60

    def check_profiles(self, profiles: Mapping[str, object]) -> None:
        _require(self.default_profile in profiles, "est.default_profile", "a profile name")
        _require(self.max_body_bytes > 0, "est.max_body_bytes", "a positive size")
        _require(
            self.pending_retry_after_seconds > 0, "est.pending_retry_after_seconds", "> 0 seconds"
        )
        for label, profile in self.labels.items():
            _require(
                label.replace("-", "").replace("_", "").isalnum(),
                "est.labels",
                f"made of URL-safe labels, not {label!r}",
            )
            _require(profile in profiles, f"est.labels.{label}", "a profile name")
        for label in self.client_certificate_labels:
            _require(
                label in self.labels, "est.client_certificate_labels", f"labels, not {label!r}"
            )


@dataclass(frozen=True)
class CMPSettings:
    """CMP (RFC 4210/9480, Lightweight CMP Profile RFC 9483) at /.well-known/cmp."""

    default_profile: str = "tls-client"  # for /.well-known/cmp without a path label
    labels: Mapping[str, str] = field(default_factory=dict)  # /.well-known/cmp/p/<label>
    implicit_confirm: bool = True  # grant implicitConfirm when a client asks for it
    confirm_wait_seconds: int = 300  # an unconfirmed certificate is revoked after this
    check_after_seconds: int = 10  # pollRep's checkAfter while an application waits
    max_clock_skew_seconds: int = 300  # messageTime further off is refused (badTime)
    # RFC 9483 3.1 only RECOMMENDS messageTime in requests; required by default, so that a
    # request can be replayed at most max_clock_skew_seconds after it was made (badTime).
    require_message_time: bool = True
    # Finished (done, expired) CMP transactions are forgotten this long after they began
    # (the sweeper in server/cmp/server.py): the table cannot grow without bound, yet a request
    # replayed within max_clock_skew_seconds of its messageTime finds its transactionID
    # still used (transactionIdInUse, RFC 4210 5.1.1).
    transaction_retention_days: int = 3
    mac_min_iterations: int = 100  # PasswordBasedMac / PBMAC1 iteration counts accepted
    # PBMAC1 as RFC 9481 6.1.2 examples and conformance suites use it: 262144. The code is
    # looked up before any hashing, so only a holder of a valid reference makes us hash.
    mac_max_iterations: int = 300_000
    suspend_by_revocation_request: bool = False  # rr hold; removeFromCRL lifts it (S8)
    max_body_bytes: int = 65536
    # RFC 9483 5.2.2, 5.2.3: RAs trusted to send nested messages and to ask for end
    # entities in their own name (replaced protection, raVerified POP): a
    # name (for logs and the actor) -> the SHA-256 fingerprint of the RA's certificate,
    # one this CA issued, hex with or without colons.
    ras: Mapping[str, str] = field(default_factory=dict)
    max_batch_messages: int = 10  # inner messages of one nested message (RFC 9483 5.2.2.2)
    # The CMP server's own protection certificate (server/cmp/identity.py), renewed like the
    # OCSP responder's.
    protection_validity_days: int = 30
    protection_renew_before_days: int = 10

    def check(self) -> None:
        for name, fingerprint in self.ras.items():
            _require(
                sha256_fingerprint(fingerprint) is not None,
                f"cmp.ras.{name}",
                "the SHA-256 fingerprint of a certificate (64 hex digits, colons allowed)",
            )
        _require(0 < self.max_batch_messages <= 1000, "cmp.max_batch_messages", "1..1000")
        _require(
            self.protection_validity_days > 0,
            "cmp.protection_validity_days",
            "a positive number of days",
        )
        _require(
            0 < self.protection_renew_before_days < self.protection_validity_days,
            "cmp.protection_renew_before_days",
            "positive and below cmp.protection_validity_days",
        )
        _require(self.confirm_wait_seconds > 0, "cmp.confirm_wait_seconds", "> 0 seconds")
        _require(self.check_after_seconds > 0, "cmp.check_after_seconds", "> 0 seconds")
        _require(self.max_clock_skew_seconds > 0, "cmp.max_clock_skew_seconds", "> 0 seconds")
        _require(
            self.transaction_retention_days * 86400 > 2 * self.max_clock_skew_seconds,
            "cmp.transaction_retention_days",
            "longer than twice cmp.max_clock_skew_seconds",
        )
        _require(
            0 < self.mac_min_iterations <= self.mac_max_iterations,
            "cmp.mac_min_iterations",
            "positive and at most cmp.mac_max_iterations",
        )
        _require(self.max_body_bytes > 0, "cmp.max_body_bytes", "a positive size")

    def check_profiles(self, profiles: Mapping[str, object]) -> None:
        _require(self.default_profile in profiles, "cmp.default_profile", "a profile name")
        for label, profile in self.labels.items():
            _require(profile in profiles, f"cmp.labels.{label}", "a profile name")


@dataclass(frozen=True)
class EnrollmentSettings:
    """Issuance left unfinished by a crash (server/node/intent_sweeper.py): an intent whose
    owning process is known to be gone is settled at once; any other (its owner on another
    host or container, or alive but stuck) once it is older than `intent_timeout_seconds`,
    which must exceed the longest a live request can take: a request that outlives it
    fails whole when it tries to record its certificate."""

    intent_timeout_seconds: int = 600
    sweep_interval_seconds: float = 15.0  # how often the duty holder looks for them

    def check(self) -> None:
        _require(
            60 <= self.intent_timeout_seconds <= 86400,
            "enrollment.intent_timeout_seconds",
            "60..86400",
        )
        _require(
            0 < self.sweep_interval_seconds <= 3600,
            "enrollment.sweep_interval_seconds",
            "in 0..3600",
        )


@dataclass(frozen=True)
class OutboxSettings:
    """Reporting (D6, D7): events (certificate issued, holder registered) are written to an
    outbox in the same transaction as the change and delivered at least once by a sender."""

    enabled: bool = True  # run the delivery task; events are recorded either way
    sender: str = "jsonl-file"  # one of OUTBOX_SENDERS
    path: str = "outbox/events.jsonl"  # jsonl-file: relative to the CA home
    batch_size: int = 100  # events handed to the sender at once
    poll_interval_seconds: float = 1.0  # how often undelivered events are looked for
    retry_initial_seconds: float = 1.0  # wait after a failed delivery, doubled each time
    retry_max_seconds: float = 300.0  # up to this

    def check(self) -> None:
        _require(self.sender in OUTBOX_SENDERS, "outbox.sender", f"one of {OUTBOX_SENDERS}")
        _require(bool(self.path), "outbox.path", "a file path")
        _require(1 <= self.batch_size <= 10000, "outbox.batch_size", "1..10000")
        _require(0 < self.poll_interval_seconds <= 60, "outbox.poll_interval_seconds", "in 0..60")
        _require(
            0 < self.retry_initial_seconds <= self.retry_max_seconds,
            "outbox.retry_initial_seconds",
            "positive and at most outbox.retry_max_seconds",
        )


@dataclass(frozen=True)
class AuditSettings:
    """Checkpoints anchor the audit trail's head outside the registry (D3): each is the
    newest entry's number and hash, signed with the CA key, appended to `checkpoints` and
    logged, so deleting the newest entries is detected, not only editing them."""

    checkpoint_interval_seconds: float = 300.0  # how often the duty holder anchors the head
    checkpoints: str = "audit-checkpoints"  # relative to the CA home; one line each, mode 0600

    def check(self) -> None:
        _require(
            0 < self.checkpoint_interval_seconds <= 86400,
            "audit.checkpoint_interval_seconds",
            "in 0..86400",
        )
        _require(bool(self.checkpoints), "audit.checkpoints", "a file path")


@dataclass(frozen=True)
class RASettings:
    """The registration authority: applications' due dates (P4), the conditions notice
    applicants acknowledge (D1), the state-register check (R2).

    Working days are Monday to Friday except the public holidays of the Labour Code,
    article 112 (server/ra/working_days.py); each year's government decree moves some days
    off and makes some weekend days working: list them here."""

    due_working_days: int = 5  # P4: issuance within 5 working days of a complete application
    holidays: tuple[str, ...] = ()  # YYYY-MM-DD: days off beyond article 112 (transfers)
    working_weekends: tuple[str, ...] = ()  # YYYY-MM-DD: Saturdays or Sundays made working
    time_zone: str = "Europe/Moscow"  # whose days count
    notice_version: str = "1"  # the conditions-and-risks notice applicants acknowledge (D1)
    register_check: str = "none"  # R2: one of REGISTER_CHECKS; none records that it did not

    def check(self) -> None:
        _require(1 <= self.due_working_days <= 60, "ra.due_working_days", "1..60")
        for key in ("holidays", "working_weekends"):
            for text in getattr(self, key):
                _require(_is_date(text), f"ra.{key}", f"dates YYYY-MM-DD, not {text!r}")
        _require(_is_zone(self.time_zone), "ra.time_zone", "an IANA time zone name")
        _require(bool(self.notice_version.strip()), "ra.notice_version", "a version text")
        _require(
            self.register_check in REGISTER_CHECKS, "ra.register_check", f"one of {REGISTER_CHECKS}"
        )


@dataclass(frozen=True)
class ConfirmationSettings:
    """Signature confirmation (S10, S11): the other CAs whose subscribers' signatures this CA
    confirms, as PEM or DER certificate files (relative to the home); this CA's own
    generations are always trusted. Confirmation cases (regulation 8.2, V3;
    server/confirmation/cases.py): when one is due, in the working days of the RA's
    calendar (`ra.holidays`, `ra.working_weekends`, `ra.time_zone`), how large a request's
    files may be, and where and how long they are kept (removing them past that is a duty
    of issue #18)."""

    trusted_ca_files: tuple[str, ...] = ()
    due_working_days: int = 30  # V3: answered within 30 working days of its receipt
    files: str = "confirmations"  # relative to the CA home: <case id>/<role>, folders 0700
    files_kept_days: int = 1825  # the files are kept this long after receipt
    max_upload_bytes: int = 10485760  # a request's whole body; larger: 413

    def check(self) -> None:
        for name in self.trusted_ca_files:
            _require(bool(name.strip()), "confirmation.trusted_ca_files", "certificate file paths")
        _require(1 <= self.due_working_days <= 120, "confirmation.due_working_days", "1..120")
        _require(bool(self.files), "confirmation.files", "a folder path")
        _require(1 <= self.files_kept_days <= 36500, "confirmation.files_kept_days", "1..36500")
        _require(
            1024 <= self.max_upload_bytes <= 1 << 30,
            "confirmation.max_upload_bytes",
            "1024..1073741824",
        )


@dataclass(frozen=True)
class RetentionSettings:
    """How long personal data are kept once their purpose ended (C1; 152-FZ art. 5 part 7),
    removed by the duty holder every `interval_hours` (server/node/retention.py; the README's
    "Retention" says why each default). Days count from when the thing ended: an
    application when decided (rejected, or approved with a code never used) or, issued,
    when its certificate expired or was revoked; a subscriber when the last of its
    certificates, applications, identity records and enrollment codes ended. 0 keeps them
    for ever (an accredited CA must keep identity documents' details while it operates).
    Confirmation files are kept `confirmation.files_kept_days`. The registry of
    certificates and the audit trail are never removed."""

    interval_hours: float = 24.0  # how often the duty holder removes what expired
    attachments_days: int = 1825  # an application's attachment records (names, SHA-256)
    subscriber_days: int = 1825  # a subscriber's personal data and identity records

    def check(self) -> None:
        _require(0 < self.interval_hours <= 168, "retention.interval_hours", "in 0..168")
        for key in ("attachments_days", "subscriber_days"):
            _require(0 <= getattr(self, key) <= 36500, f"retention.{key}",
                     "0 (kept for ever) or a number of days up to 36500")  # fmt: skip


@dataclass(frozen=True)
class ProfileSettings:
    """A certificate profile: data, not code. Each field names what the profile allows."""

    description: str = ""
    validity_days: int = 365
    # K1: the private key's permitted lifetime; > 0 adds privateKeyUsagePeriod and caps
    # the certificate's validity at it.
    private_key_usage_days: int = 0
    key_algorithms: tuple[str, ...] = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096")
    key_usage: tuple[str, ...] = ("digital_signature",)
    # Key usages granted beyond key_usage when a CMP certTemplate asks for them (RFC 9810
    # 5.2.3: honoured rather than grantedWithMods), each only where the key type can have
    # it (RFC 5480 3, RFC 8813: no keyEncipherment for EC; RFC 4055 1.2: no keyAgreement
    # for RSA). Unasked, and for EST, a certificate carries key_usage alone.
    requestable_key_usages: tuple[str, ...] = ()
    extended_key_usage: tuple[str, ...] = ()
    subject_attributes: tuple[str, ...] = ("CN",)  # taken from the request, in this order
    required_attributes: tuple[str, ...] = ("CN",)
    san_types: tuple[str, ...] = ()  # subjectAltName types taken from the request
    require_san: bool = False
    policies: tuple[str, ...] = ()  # certificatePolicies OIDs
    subject_sign_tool: str = ""  # subjectSignTool (1.2.643.100.111), when set
    identification_kind: int = -1  # identificationKind (1.2.643.100.114), when >= 0
    # Enrollment requests (EST, CMP) become applications that an operator approves or
    # rejects (`approve`, `reject`); the certificate is issued on approval.
    requires_approval: bool = False
    # D2, P2, P3: certificates are issued only to a registered subscriber, identified and
    # having acknowledged the notice, through an approved application; the subject comes
    # from the registry. Unset: on exactly when the subject takes a personal identifier
    # (PERSONAL_IDENTIFIERS); it may be turned on for any profile, never off for those.
    requires_registered_subscriber: bool | None = None

    @property
    def longest_validity_days(self) -> int:
        """The longest validity a certificate of this profile can have."""
        if self.private_key_usage_days:
            return min(self.validity_days, self.private_key_usage_days)
        return self.validity_days

    @property
    def carries_personal_identifiers(self) -> bool:
        return any(a in PERSONAL_IDENTIFIERS for a in self.subject_attributes)

    @property
    def registered_subscribers_only(self) -> bool:
        """Whether certificates of this profile go only to registered subscribers through
        approved applications (server/ra/registered_issuance.py)."""
        if self.requires_registered_subscriber is None:
            return self.carries_personal_identifiers
        return self.requires_registered_subscriber

    def check(self, where: str) -> None:
        _require(
            self.requires_registered_subscriber is not False
            or not self.carries_personal_identifiers,
            f"{where}.requires_registered_subscriber",
            "true for a profile whose subject takes "
            f"{', '.join(PERSONAL_IDENTIFIERS)} (D2, P2, P3)",
        )
        _require(self.validity_days > 0, f"{where}.validity_days", "a positive number of days")
        _require(self.private_key_usage_days >= 0, f"{where}.private_key_usage_days", ">= 0")
        for algorithm in self.key_algorithms:
            _require(
                algorithm in KEY_ALGORITHMS,
                f"{where}.key_algorithms",
                f"made of {KEY_ALGORITHMS}, not {algorithm!r}",
            )
        for usage in self.key_usage:
            _require(
                usage in KEY_USAGES, f"{where}.key_usage", f"made of {KEY_USAGES}, not {usage!r}"
            )
        for usage in self.requestable_key_usages:
            _require(
                usage in KEY_USAGES,
                f"{where}.requestable_key_usages",
                f"made of {KEY_USAGES}, not {usage!r}",
            )
        for attribute in (*self.subject_attributes, *self.required_attributes):
            _require(
                attribute in SUBJECT_ATTRIBUTES,
                f"{where}.subject_attributes",
                f"made of {SUBJECT_ATTRIBUTES}, not {attribute!r}",
            )
        for attribute in self.required_attributes:
            _require(
                attribute in self.subject_attributes,
                f"{where}.required_attributes",
                f"a subset of subject_attributes ({attribute!r} is not taken)",
            )
        for san in self.san_types:
            _require(san in SAN_TYPES, f"{where}.san_types", f"made of {SAN_TYPES}")
        _require(
            not self.require_san or bool(self.san_types),
            f"{where}.require_san",
            "false when san_types is empty",
        )
        _require(
            -1 <= self.identification_kind <= 3,
            f"{where}.identification_kind",
            "-1 (absent) or 0..3",
        )
        # RFC 9215 5.2: a tool of class N is also of every class below it, so the class
        # policies 1.2.643.100.113.1 .. .N are listed together.
        classes = sorted(
            int(oid.rpartition(".")[2])
            for oid in self.policies
            if oid.startswith(CLASS_POLICY_ARC) and oid.rpartition(".")[2].isdigit()
        )
        _require(
            classes == list(range(1, len(classes) + 1)),
            f"{where}.policies",
            f"the class policies {CLASS_POLICY_ARC}1 up to the strongest one (RFC 9215 5.2)",
        )


@dataclass(frozen=True)
class Settings:
    home: Path
    ca: CASettings = field(default_factory=CASettings)
    hsm: HSMSettings = field(default_factory=HSMSettings)
    root: RootSettings = field(default_factory=RootSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    supervisor: SupervisorSettings = field(default_factory=SupervisorSettings)
    ocsp: OCSPSettings = field(default_factory=OCSPSettings)
    crl: CRLSettings = field(default_factory=CRLSettings)
    est: ESTSettings = field(default_factory=ESTSettings)
    cmp: CMPSettings = field(default_factory=CMPSettings)
    enrollment: EnrollmentSettings = field(default_factory=EnrollmentSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    ra: RASettings = field(default_factory=RASettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    confirmation: ConfirmationSettings = field(default_factory=ConfirmationSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    profiles: Mapping[str, ProfileSettings] = field(default_factory=dict)

    def resolve(self, relative: str) -> Path:
        """A path from the settings, relative to the CA home unless absolute."""
        path = Path(relative)
        return path if path.is_absolute() else self.home / path

    @property
    def registry_url(self) -> str:
        """`registry.url` with a relative sqlite path made absolute against the home."""
        return registry_url.resolve(self.registry.url, self.home)

    @property
    def registry_file(self) -> Path | None:
        """The registry's file when it is on SQLite (with its -wal and -shm beside it)."""
        return registry_url.sqlite_file(self.registry.url, self.home)

    def profile(self, name: str) -> ProfileSettings:
        try:
            return self.profiles[name]
        except KeyError:
            raise SettingsError(f"no profile named {name!r}") from None


SECTIONS = {
    "ca": CASettings,
    "hsm": HSMSettings,
    "root": RootSettings,
    "registry": RegistrySettings,
    "server": ServerSettings,
    "limits": LimitsSettings,
    "pipeline": PipelineSettings,
    "supervisor": SupervisorSettings,
    "ocsp": OCSPSettings,
    "crl": CRLSettings,
    "est": ESTSettings,
    "cmp": CMPSettings,
    "enrollment": EnrollmentSettings,
    "outbox": OutboxSettings,
    "ra": RASettings,
    "audit": AuditSettings,
    "confirmation": ConfirmationSettings,
    "retention": RetentionSettings,
}


def load_settings(home: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read `<home>/settings.toml` and the `CA_*` environment overrides.

    Raises SettingsError naming the key for unknown keys, wrong types and bad values.
    """
    environ = os.environ if environ is None else environ
    path = home / "settings.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{path}: no settings file (run `python -m server init`)") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    _apply_environment(raw, environ)
    _read_registry_path_as_url(raw)

    unknown = set(raw) - set(SECTIONS) - {"profiles"}
    if unknown:
        raise SettingsError(f"unknown settings section {sorted(unknown)[0]!r}")
    sections = {name: _build(cls, raw.get(name, {}), name) for name, cls in SECTIONS.items()}
    profiles_raw = raw.get("profiles", {})
    if not isinstance(profiles_raw, dict):
        raise SettingsError("profiles: expected a table of profiles")
    profiles = {
        name: _build(ProfileSettings, body, f"profiles.{name}")
        for name, body in profiles_raw.items()
    }
    for name, profile in profiles.items():
        profile.check(f"profiles.{name}")
    for section in sections.values():
        check = getattr(section, "check", None)
        if check:
            check()
    sections["est"].check_profiles(profiles)
    sections["cmp"].check_profiles(profiles)
    sections["ca"].check_profiles(profiles)
    _require(
        sections["root"].name != sections["ca"].name,
        "root.name",
        "different from ca.name: both name files under /ca/ and /crl/",
    )
    # hsm/pkcs11_gost.py: a token holds 512-bit GOST keys only through vendor-defined
    # mechanisms that python-pkcs11 cannot name.
    _require(
        sections["hsm"].backend == "soft"
        or not sections["ca"].algorithm.startswith("gost2012-512"),
        "hsm.backend",
        '"soft" for a 512-bit GOST CA key: the PKCS#11 backend drives 256-bit GOST keys only',
    )
    _require(
        sections["root"].backend == "soft"
        or not (sections["root"].algorithm or sections["ca"].algorithm).startswith("gost2012-512"),
        "root.backend",
        '"soft" for a 512-bit GOST root key: the PKCS#11 backend drives 256-bit GOST keys only',
    )
    ocsp_days = sections["ocsp"].validity_hours / 24
    _require(
        sections["ca"].ocsp_responder_renew_before_days > ocsp_days,
        "ca.ocsp_responder_renew_before_days",
        "longer than ocsp.validity_hours, so every response is re-signed by a renewed "
        "responder before the old one expires",
    )
    return Settings(home=home, profiles=profiles, **sections)


def _apply_environment(raw: dict, environ: Mapping[str, str]) -> None:
    """`CA_SECTION__KEY=value` sets raw[section][key]; the value is parsed as TOML."""
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if section not in SECTIONS:
            raise SettingsError(f"{name}: unknown settings section {section!r}")
        raw.setdefault(section, {})[key] = _parse_env_value(name, text)


def _read_registry_path_as_url(raw: dict) -> None:
    """Homes made before `registry.url` say `[registry] path = "<file>"`: a sqlite URL."""
    section = raw.get("registry")
    if not isinstance(section, dict) or "path" not in section:
        return
    path = section.pop("path")
    if not isinstance(path, str) or not path:
        raise SettingsError("registry.path: expected a file path (or set registry.url)")
    if "url" in section:
        raise SettingsError("registry.path: the old form of registry.url; set only registry.url")
    section["url"] = registry_url.SQLITE + path


def _parse_env_value(name: str, text: str) -> object:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare string such as 127.0.0.1:9000


def _build(cls: type, body: object, where: str) -> typing.Any:
    if not isinstance(body, dict):
        raise SettingsError(f"{where}: expected a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(body) - names
    if unknown:
        raise SettingsError(f"unknown setting {where}.{sorted(unknown)[0]}")
    values = {key: _convert(hints[key], value, f"{where}.{key}") for key, value in body.items()}
    return cls(**values)


def _convert(hint: object, value: object, where: str) -> object:
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type, hint), value, where)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SettingsError(f"{where}: expected a list of strings")
        return tuple(value)
    if origin in (dict, Mapping):
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise SettingsError(f"{where}: expected a table of strings")
        return dict(value)
    if hint is bool or hint == bool | None:  # None only as a default: TOML has no null
        if not isinstance(value, bool):
            raise SettingsError(f"{where}: expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{where}: expected an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(f"{where}: expected a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise SettingsError(f"{where}: expected a string")
        return value
    raise SettingsError(f"{where}: unsupported type {hint!r}")


def _require(condition: bool, key: str, expectation: str) -> None:
    if not condition:
        raise SettingsError(f"{key}: must be {expectation}")


def sha256_fingerprint(text: str) -> bytes | None:
    """The 32 octets of a SHA-256 fingerprint written in hex (colons allowed), or None."""
    try:
        octets = bytes.fromhex(text.replace(":", ""))
    except ValueError:
        return None
    return octets if len(octets) == 32 else None


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        return False
    return True


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _is_host_port(value: str) -> bool:
    host, _, port = value.rpartition(":")
    return _is_host(host) and port.isdigit() and 0 < int(port) < 65536


def _is_host(host: str) -> bool:
    """An IP address (IPv6 in brackets or bare) or a DNS name of labels of 1 to 63 letters,
    digits, hyphens (not first or last) or underscores, IDNA-encoded (RFC 1123 2.1): the
    server's TLS certificate names it, so an empty label ("a..b") must not get that far."""
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(literal)
    except ValueError:
        return _is_dns_name(host)
    return True


def _is_dns_name(host: str) -> bool:
    try:
        name = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = name.split(".")
    return 0 < len(name) <= 253 and all(
        0 < len(label) <= 63
        and label.replace("-", "").replace("_", "").isalnum()
        and not label.startswith("-")
        and not label.endswith("-")
        for label in labels
    )
