"""A CA in this process on real files: settings from the defaults, a real SQLite registry,
the software backend with keys in encrypted PKCS#8 files, and a clock the test sets.

Signing goes through `BackendSigner`, a small stand-in for the pipeline that calls the same
backend in this process; the pipeline itself is tested in tests/unit/hsm and end to end in
tests/integration."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from config import Settings, load_settings
from hsm.backend import KeyRef, SigningBackend
from hsm.pipeline import WrongSignature
from hsm.software import SoftwareBackend
from hsm.verification import SignatureVerifier
from server.authority import Authority
from server.context import open_registry
from server.enrollment.credentials import EnrollmentCredentials
from server.generations.ca_certificate import create_generation
from server.generations.responder import issue_ocsp_responder
from server.ra.applications import Applications
from server.ra.register_check import RegisterCheck
from server.ra.subscribers import NewIdentity, NewSubscriber, Subscribers
from server.registry import CAGeneration, IntentHolds, OCSPResponseRow, Registry
from server.status.publication import StatusPublication
from server.status.revocation import Revocation


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class BackendSigner:
    """The pipeline's `submit` and `submit_verified` on a backend in this process: a
    signature asked for verified is verified as a signer process verifies it."""

    def __init__(self, backend: SigningBackend) -> None:
        self.backend = backend
        self.verifier = SignatureVerifier(backend)
        self.calls = 0

    def submit(self, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
        self.calls += 1
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        future.set_result(self.backend.sign_many(key, [data])[0])
        return future

    def submit_verified(self, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
        future = self.submit(key, data)
        if not self.verifier.verifies(key, future.result(), data):
            future = asyncio.get_running_loop().create_future()
            future.set_exception(WrongSignature("the signature made does not verify"))
        return future


class GatedSigner:
    """A signer that signs at once but answers only when the test opens the gate, so a
    test can stop an issuance after its intent is recorded (before or after the signature
    exists), or never let it finish: a crash's seam. `asked` is set at the first request."""

    def __init__(self, backend: SigningBackend) -> None:
        self.backend = backend
        self.asked = asyncio.Event()
        self._waiting: list[tuple[asyncio.Future[bytes], bytes]] = []

    def submit(self, key: KeyRef, data: bytes) -> asyncio.Future[bytes]:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting.append((future, self.backend.sign_many(key, [data])[0]))
        self.asked.set()
        return future

    submit_verified = submit  # the backend is the local CA's: its signatures verify

    def open(self) -> None:
        """Answer every request made so far."""
        for future, signature in self._waiting:
            if not future.done():
                future.set_result(signature)
        self._waiting.clear()


class Crash(BaseException):
    """The process dies here (raised by a seam; nothing after it runs)."""


class DiesAfterCommit:
    """Status publication (server.authority.IssuancePublisher) whose process dies once a
    certificate is committed, before anything else happens: a crash's seam."""

    def __init__(self, status: StatusPublication) -> None:
        self._status = status

    async def prepare_issued(self, serial: str, generation_id: int) -> OCSPResponseRow | None:
        return await self._status.prepare_issued(serial, generation_id)

    def issued(self, row: OCSPResponseRow) -> None:
        raise Crash


@dataclass
class LocalCA:
    settings: Settings
    registry: Registry
    backend: SoftwareBackend
    signer: BackendSigner
    authority: Authority
    revocation: Revocation
    clock: Clock


def settings_for(home: Path, extra: str = "", **env: str) -> Settings:
    text = (resources.files("config") / "default.toml").read_text(encoding="utf-8")
    (home / "settings.toml").write_text(text + "\n" + extra + "\n", encoding="utf-8")
    return load_settings(home, environ=env)


@asynccontextmanager
async def opened_local_ca(folder: Path, extra: str = "", **env: str) -> AsyncIterator[LocalCA]:
    """A CA with its first generation and OCSP responder in `folder`, opened in the running
    loop (tests/unit/server/conftest.py's `local_ca`, and tests that open several); `extra`
    and `env` change its settings as in `settings_for`."""
    settings = settings_for(folder, extra, **env)
    clock = Clock(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    registry = await open_registry(settings)
    (folder / "keys").mkdir(mode=0o700)
    backend = SoftwareBackend(folder / "keys", b"test passphrase")
    signer = BackendSigner(backend)
    authority = Authority(settings, registry, signer, clock)
    generation = await create_generation(settings, registry, backend, authority, clock(), "t")
    await issue_ocsp_responder(settings, backend, authority, generation, clock(), "t")
    try:
        yield LocalCA(settings, registry, backend, signer, authority,
                      Revocation(registry, clock), clock)  # fmt: skip
    finally:
        await registry.close()
        backend.close()
        shutil.rmtree(folder / "keys", ignore_errors=True)


async def second_generation(local_ca: LocalCA) -> CAGeneration:
    """A second CA generation with its OCSP responder, made as `init` makes the first
    (without the link certificates of a rollover, server/generations/rollover.py): issuance moves to
    it, the first stays live."""
    generation = await create_generation(local_ca.settings, local_ca.registry, local_ca.backend,
                                         local_ca.authority, local_ca.clock(), "t")  # fmt: skip
    await issue_ocsp_responder(local_ca.settings, local_ca.backend, local_ca.authority,
                               generation, local_ca.clock(), "t")  # fmt: skip
    return generation


def ra_services(
    local_ca: LocalCA,
    credentials: EnrollmentCredentials,
    settings: Settings | None = None,
    authority: Authority | None = None,
    register_check: RegisterCheck | None = None,
    metrics: CollectorRegistry | None = None,
) -> tuple[Subscribers, Applications]:
    """The registration authority's services over this CA (settings may differ from its)."""
    settings = settings or local_ca.settings
    subscribers = Subscribers(settings, local_ca.registry, credentials, local_ca.clock)
    applications = Applications(
        settings, local_ca.registry, credentials, authority or local_ca.authority, subscribers,
        local_ca.clock, register_check, metrics,
    )  # fmt: skip
    return subscribers, applications


# A person and a legal entity with valid identifiers (those of tests/csr_factory.py).
REGISTERED = {
    "person": NewSubscriber(kind="individual", surname="Иванов", given_names="Иван Иванович",
                            snils="11223344595", inn="500100732259"),
    "organisation": NewSubscriber(kind="legal_entity", name="ООО Ромашка", ogrn="1027700132195",
                                  inn="7707083893"),
}  # fmt: skip


async def approved_application(local_ca: LocalCA, profile: str = "person") -> dict[str, Any]:
    """What `Authority.issue` needs under a profile with personal identifiers
    (server/ra/registered_issuance.py), as keyword arguments: a registered subscriber,
    identified and having acknowledged the notice, and an application of theirs for the
    profile, held by the issuance as `approve` holds it. For tests of
    issuance's own rules; the RA's route itself is tested in test_ra_applications.py."""
    credentials = EnrollmentCredentials(
        local_ca.settings, local_ca.registry, lambda: b"k" * 32, local_ca.clock
    )
    subscribers, applications = ra_services(local_ca, credentials)
    data = REGISTERED[profile]
    existing = [row for row in await subscribers.listing() if row.kind == data.kind]
    if existing:
        subscriber = existing[0]
    else:
        subscriber = await subscribers.register(data, "test")
        identity = NewIdentity("passport_rf", "4510 123456", "OVD", date(2015, 3, 1))
        await subscribers.add_identity(subscriber.id, identity, "test")
        await subscribers.acknowledge_notice(subscriber.id, "test")
    application = await applications.submit(subscriber.id, profile, "test")
    return {
        "subscriber_id": subscriber.id,
        "application_id": application.id,
        "holds": IntentHolds(application_id=application.id),
    }
