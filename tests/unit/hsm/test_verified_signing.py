"""Signatures asked for verified (SigningPipeline.submit_verified): the signer verifies each
one over its message with the key's public key right after the backend made it, and the
pipeline hands it over only for the bytes its caller sent. Real signer processes, or the
signer's own server in this loop for backends and mix-ups a process cannot be given; the
software backend and SoftHSM2."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from prometheus_client import CollectorRegistry

from hsm import wire
from hsm.backend import HSMError, KeyAlgorithm, KeyRef, SigningBackend
from hsm.backend_spec import BackendSpec
from hsm.pipeline import SigningPipeline, WrongSignature
from hsm.signer_pool import SignerPool
from hsm.signer_process import VERIFY_CHUNK, VERIFY_THREADS, sign_groups
from hsm.software import SoftwareBackend
from hsm.verification import SignatureVerifier
from tests.in_process_signer import mixed_up_signer, signer_server
from tests.unit.hsm.helpers import verify
from tests.wrong_signer import OtherKeyBackend

NO_HANG_S = 20
_TAGS = itertools.count()
ALGORITHMS = (KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P384, KeyAlgorithm.RSA_2048)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels or None) or 0.0


@pytest.fixture(params=["soft", "pkcs11"])
def backend(request: pytest.FixtureRequest) -> SigningBackend:
    fixture = "soft_backend" if request.param == "soft" else "pkcs11_backend"
    return request.getfixturevalue(fixture)


def new_keys(backend: SigningBackend, run_dir: Path) -> list[KeyRef]:
    tag = f"{os.getpid()}-{next(_TAGS)}"  # labels are unique on the shared token
    return [backend.generate_key(f"v-{alg.value}-{tag}", alg) for alg in ALGORITHMS]


@pytest.fixture
async def socket_path(run_dir: Path) -> AsyncIterator[Path]:
    run_dir.mkdir(mode=0o700, parents=True)
    yield run_dir / "signer.sock"


@pytest.mark.parametrize("kind", ["soft", "pkcs11"])
async def test_signer_processes_verify_what_they_are_asked_to(
    kind: str, request: pytest.FixtureRequest, run_dir: Path
) -> None:
    """Verified and unverified requests for several keys share batches; each gets a
    signature that verifies over its own message."""
    backend: SigningBackend = request.getfixturevalue(f"{kind}_backend")
    spec: BackendSpec = request.getfixturevalue(f"{kind}_spec")
    keys = new_keys(backend, run_dir)
    registry = CollectorRegistry()
    with SignerPool(spec, run_dir, processes=1) as pool:
        async with SigningPipeline(pool.socket_paths, metrics=registry) as p:
            calls = [(keys[i % 3], b"tbs %d" % i, i % 2 == 0) for i in range(120)]
            async with asyncio.timeout(NO_HANG_S):
                signatures = await asyncio.gather(
                    *((p.submit_verified if v else p.submit)(k, m) for k, m, v in calls)
                )
    for (key, message, _), signature in zip(calls, signatures, strict=True):
        verify(backend.public_key_der(key), key.algorithm, signature, message)
    assert sample(registry, "ca_signing_signatures_total") == 120
    assert sample(registry, "ca_signing_batch_size_count") < 120  # they shared batches


async def test_a_signature_that_does_not_verify_is_an_error_and_never_sent(
    backend: SigningBackend,
    socket_path: Path,
    run_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A backend signing with another key: a verified request fails with WrongSignature,
    logged once by the signer; an unverified one (OCSP's) is signed as before."""
    key = new_keys(backend, run_dir)[0]
    registry = CollectorRegistry()
    caplog.set_level(logging.INFO)
    async with (
        signer_server(OtherKeyBackend(backend), socket_path),
        SigningPipeline([socket_path], metrics=registry) as p,
        asyncio.timeout(NO_HANG_S),
    ):
        verified = p.submit_verified(key, b"a certificate")
        unverified = p.submit(key, b"an OCSP response")
        with pytest.raises(WrongSignature, match="does not verify"):
            await verified
        signature = await unverified
    with pytest.raises(InvalidSignature):  # made with the other key, handed over unverified
        verify(backend.public_key_der(key), key.algorithm, signature, b"an OCSP response")
    assert sample(registry, "ca_signing_failures_total", kind="wrong") == 1
    assert sample(registry, "ca_signing_signatures_total") == 1
    failed = [r for r in caplog.records if "does not verify" in r.getMessage()]
    assert [r.name for r in failed] == ["hsm.signer"]


async def test_a_verified_signature_for_another_message_is_refused(
    backend: SigningBackend, socket_path: Path, run_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Results handed back in another order (a mix-up between signer and caller): each
    signature verified, but over the other caller's message; both callers are refused,
    and the unverified request in the same batch is not told apart (as before)."""
    key = new_keys(backend, run_dir)[0]
    caplog.set_level(logging.INFO)
    async with (
        mixed_up_signer(backend, socket_path, mix=lambda results: results[::-1]),
        SigningPipeline([socket_path], connections_per_signer=1) as p,
        asyncio.timeout(NO_HANG_S),
    ):
        first, second = p.submit_verified(key, b"one"), p.submit_verified(key, b"two")
        for future in (first, second):
            with pytest.raises(WrongSignature, match="another message"):
                await future
    mix_ups = [r for r in caplog.records if "another message" in r.getMessage()]
    assert len(mix_ups) == 2 and {r.name for r in mix_ups} == {"hsm.pipeline"}


async def test_a_message_altered_on_its_way_to_the_signer_is_refused(
    soft_backend: SoftwareBackend, socket_path: Path, run_dir: Path
) -> None:
    """The signer signs and verifies other bytes than the caller sent (framing): the
    signature is the key's and verifies, over the wrong bytes; the digest catches it."""
    key = new_keys(soft_backend, run_dir)[0]
    async with (
        mixed_up_signer(soft_backend, socket_path, alter=lambda m: m + b"\x00"),
        SigningPipeline([socket_path]) as p,
        asyncio.timeout(NO_HANG_S),
    ):
        with pytest.raises(WrongSignature, match="another message"):
            await p.submit_verified(key, b"tbs")


@pytest.mark.parametrize(
    ("mode", "answer"),
    [
        (wire.Mode.SIGN_VERIFIED, wire.Status.SIGNED),  # unverified, asked for verified
        (wire.Mode.SIGN, wire.Status.VERIFIED),
    ],
)
async def test_an_answer_of_the_other_mode_is_refused(
    soft_backend: SoftwareBackend,
    socket_path: Path,
    run_dir: Path,
    mode: wire.Mode,
    answer: wire.Status,
) -> None:
    key = new_keys(soft_backend, run_dir)[0]

    def relabel(results: list[wire.Result]) -> list[wire.Result]:
        return [(answer, octets) for _, octets in results]

    async with (
        mixed_up_signer(soft_backend, socket_path, mix=relabel),
        SigningPipeline([socket_path]) as p,
        asyncio.timeout(NO_HANG_S),
    ):
        submit = p.submit_verified if mode is wire.Mode.SIGN_VERIFIED else p.submit
        with pytest.raises(WrongSignature, match="answered"):
            await submit(key, b"x" * 40)


def test_the_verifier_checks_each_scheme_and_refuses_a_public_key_of_another_algorithm(
    backend: SigningBackend, run_dir: Path
) -> None:
    keys = new_keys(backend, run_dir)
    verifier = SignatureVerifier(backend)
    for key in keys:
        signature = backend.sign_many(key, [b"m"])[0]
        assert verifier.verifies(key, signature, b"m")
        assert not verifier.verifies(key, signature, b"n")
    p256, p384, _ = keys
    assert not verifier.verifies(p384, backend.sign_many(p256, [b"m"])[0], b"m")
    reports_p256 = OtherKeyBackend(backend)
    reports_p256.public_key_der = lambda key: backend.public_key_der(p256)  # type: ignore[method-assign]
    with pytest.raises(HSMError, match="not a ec-p384 key"):
        SignatureVerifier(reports_p256).verifies(p384, b"sig", b"m")


class _OneBadSignature:
    """A backend signing every message with the key asked for, except b"bad", which it
    signs with another key of the same algorithm."""

    def __init__(self, backend: SigningBackend) -> None:
        self.backend = backend
        self.other = OtherKeyBackend(backend)

    def public_key_der(self, key: KeyRef) -> bytes:
        return self.backend.public_key_der(key)

    def sign_many(self, key: KeyRef, messages: Sequence[bytes]) -> list[bytes]:
        return [
            (self.other if m == b"bad" else self.backend).sign_many(key, [m])[0] for m in messages
        ]


@pytest.mark.parametrize("size", [VERIFY_CHUNK - 1, VERIFY_CHUNK, 3 * VERIFY_CHUNK + 1])
def test_large_groups_are_verified_on_the_verifying_threads_with_the_same_verdicts(
    soft_backend: SigningBackend, run_dir: Path, size: int
) -> None:
    """sign_groups with its verifying threads gives, message by message and in order, the
    verdicts it gives on one thread: VERIFIED with the message's own digest, WRONG for the
    one signed with another key, SIGNED for the unverified group after it. A group of
    VERIFY_CHUNK or more is verified on the threads, a smaller one on the caller's."""
    key, responder = new_keys(soft_backend, run_dir)[:2]
    backend = _OneBadSignature(soft_backend)
    messages = [b"tbs %d" % n for n in range(size)]
    messages[size // 2] = b"bad"
    groups = [
        (key.uri, key.algorithm.value, wire.Mode.SIGN_VERIFIED, messages),
        (responder.uri, responder.algorithm.value, wire.Mode.SIGN, [b"ocsp 1", b"ocsp 2"]),
    ]
    checked_on: set[str] = set()
    verifier = SignatureVerifier(backend)  # type: ignore[arg-type]
    checker = verifier.checker

    def recording_checker(key: KeyRef) -> Callable[[bytes, bytes], bool]:
        check = checker(key)

        def recorded(signature: bytes, message: bytes) -> bool:
            checked_on.add(threading.current_thread().name)
            return check(signature, message)

        return recorded

    verifier.checker = recording_checker  # type: ignore[method-assign]
    with ThreadPoolExecutor(VERIFY_THREADS, thread_name_prefix="verify") as verifying:
        threaded = sign_groups(backend, verifier, groups, verifying)  # type: ignore[arg-type]
    on_threads = {name.startswith("verify") for name in checked_on}
    assert on_threads == ({True} if size >= VERIFY_CHUNK else {False})
    alone = sign_groups(backend, verifier, groups)  # type: ignore[arg-type]
    statuses = [status for status, _ in threaded]
    expected = [wire.Status.VERIFIED] * size + [wire.Status.SIGNED] * 2
    expected[size // 2] = wire.Status.WRONG
    assert statuses == expected == [status for status, _ in alone]
    for message, (status, octets) in zip(messages, threaded, strict=False):
        if status is wire.Status.VERIFIED:
            assert octets[:32] == hashlib.sha256(message).digest()
            verify(soft_backend.public_key_der(key), key.algorithm, octets[32:], message)


def test_an_ed25519_signature_is_verified_under_its_own_scheme(
    soft_backend: SigningBackend, run_dir: Path
) -> None:
    """RFC 8410 3: Ed25519 signs the message itself (no separate hash), and the signer's
    verification follows: a good signature is VERIFIED, another key's is WRONG."""
    key = soft_backend.generate_key(f"v-ed25519-{os.getpid()}-{next(_TAGS)}", KeyAlgorithm.ED25519)
    group = (key.uri, key.algorithm.value, wire.Mode.SIGN_VERIFIED, [b"tbs"])
    verifier = SignatureVerifier(soft_backend)
    [(status, octets)] = sign_groups(soft_backend, verifier, [group])
    assert status is wire.Status.VERIFIED
    verify(soft_backend.public_key_der(key), key.algorithm, octets[32:], b"tbs")
    other = OtherKeyBackend(soft_backend)
    assert [s for s, _ in sign_groups(other, verifier, [group])] == [wire.Status.WRONG]  # type: ignore[arg-type]


async def test_gost_signatures_are_verified_in_the_signer_process_under_streebog(
    soft_backend: SoftwareBackend, soft_spec: BackendSpec, run_dir: Path
) -> None:
    """GOST R 34.10-2012 keys of both sizes through the signer processes, verified there by
    the engine, then here by gostcrypto (RFC 9215: s || r, Streebog of the key's size)."""
    keys = [
        soft_backend.generate_key(f"g-{alg.value}", alg)
        for alg in (KeyAlgorithm.GOST2012_256_A, KeyAlgorithm.GOST2012_512_C)
    ]
    with SignerPool(soft_spec, run_dir, processes=1) as pool:
        async with SigningPipeline(pool.socket_paths) as p:
            calls = [(keys[i % 2], b"tbs %d" % i) for i in range(6)]
            async with asyncio.timeout(NO_HANG_S):
                signatures = await asyncio.gather(*(p.submit_verified(k, m) for k, m in calls))
    for (key, message), signature in zip(calls, signatures, strict=True):
        verify(soft_backend.public_key_der(key), key.algorithm, signature, message)


def test_the_verifier_refuses_a_gost_key_of_another_parameter_set(
    soft_backend: SoftwareBackend,
) -> None:
    key = soft_backend.generate_key("g-tcb", KeyAlgorithm.GOST2012_256_TCB)
    verifier = SignatureVerifier(soft_backend)
    signature = soft_backend.sign_many(key, [b"m"])[0]
    assert verifier.verifies(key, signature, b"m")
    assert not verifier.verifies(key, signature, b"n")
    other = soft_backend.generate_key("g-tca", KeyAlgorithm.GOST2012_256_TCA)
    reports_tca = OtherKeyBackend(soft_backend)
    reports_tca.public_key_der = lambda _key: soft_backend.public_key_der(other)  # type: ignore[method-assign]
    with pytest.raises(HSMError, match="not a gost2012-256-tcb key"):
        SignatureVerifier(reports_tca).verifies(key, signature, b"m")
