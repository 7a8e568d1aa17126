"""The signing pipeline end to end: real signer processes, real sockets, real keys."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from hsm.backend import HSMError, KeyAlgorithm, KeyRef
from hsm.backend_spec import BackendSpec
from hsm.pipeline import SignerBusy, SignerUnavailable, SigningPipeline
from hsm.pkcs11 import PKCS11Backend
from hsm.signer_pool import SignerPool
from hsm.software import SoftwareBackend
from tests.softhsm import Token
from tests.unit.hsm.conftest import PIN_ENV
from tests.unit.hsm.helpers import verify

NO_HANG_S = 20  # a generous bound: these tests fail rather than hang


@pytest.fixture
def soft_key(soft_backend: SoftwareBackend) -> tuple[KeyRef, bytes]:
    key = soft_backend.generate_key("ca", KeyAlgorithm.EC_P256)
    return key, soft_backend.public_key_der(key)


@pytest.fixture
def soft_pool(soft_spec: BackendSpec, run_dir: Path) -> Iterator[SignerPool]:
    with SignerPool(soft_spec, run_dir, processes=1) as pool:
        yield pool


@pytest.fixture
async def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def pipeline(
    soft_pool: SignerPool, registry: CollectorRegistry
) -> AsyncIterator[SigningPipeline]:
    async with SigningPipeline(soft_pool.socket_paths, metrics=registry) as p:
        yield p


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else value


async def test_many_concurrent_signatures_all_verify_and_are_batched(
    pipeline: SigningPipeline, soft_key: tuple[KeyRef, bytes], registry: CollectorRegistry
) -> None:
    key, spki = soft_key
    messages = [f"tbs {i}".encode() for i in range(500)]
    async with asyncio.timeout(NO_HANG_S):
        signatures = await asyncio.gather(*(pipeline.sign(key, m) for m in messages))
    for message, signature in zip(messages, signatures, strict=True):
        verify(spki, key.algorithm, signature, message)
    batches = sample(registry, "ca_signing_batch_size_count")
    assert sample(registry, "ca_signing_batch_size_sum") == 500
    assert 500 / batches > 1, "concurrent requests were not batched"
    assert sample(registry, "ca_signing_signatures_total") == 500
    assert sample(registry, "ca_signing_wait_seconds_count") == 500
    assert sample(registry, "ca_signing_signer_latency_seconds_count") == batches
    assert sample(registry, "ca_signing_queue_depth") == 0


async def test_run_directory_and_sockets_are_private(soft_pool: SignerPool) -> None:
    assert stat.S_IMODE(soft_pool.run_dir.stat().st_mode) == 0o700
    for path in soft_pool.socket_paths:
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


async def test_full_queue_raises_signer_busy(
    soft_pool: SignerPool, soft_key: tuple[KeyRef, bytes]
) -> None:
    registry = CollectorRegistry()
    key, spki = soft_key
    async with SigningPipeline(soft_pool.socket_paths, max_queue=4, metrics=registry) as p:
        # All 50 calls reach the queue in one turn of the loop, before a worker runs.
        results = await asyncio.gather(
            *(p.sign(key, b"m%d" % i) for i in range(50)), return_exceptions=True
        )
    busy = [r for r in results if isinstance(r, SignerBusy)]
    signed = [r for r in results if isinstance(r, bytes)]
    assert len(signed) == 4 and len(busy) == 46
    assert all(isinstance(b, HSMError) for b in busy)
    verify(spki, key.algorithm, signed[0], b"m0")
    assert sample(registry, "ca_signing_busy_rejections_total") == 46


async def test_bad_key_fails_only_its_own_requests(
    pipeline: SigningPipeline, soft_key: tuple[KeyRef, bytes], key_dir: Path
) -> None:
    key, spki = soft_key
    bad = KeyRef(f"file:{key_dir}/missing.pem", KeyAlgorithm.EC_P256)
    calls = [pipeline.sign(bad if i % 5 == 0 else key, b"m%d" % i) for i in range(100)]
    async with asyncio.timeout(NO_HANG_S):
        results = await asyncio.gather(*calls, return_exceptions=True)
    for i, result in enumerate(results):
        if i % 5 == 0:
            assert isinstance(result, HSMError)
            assert "cannot read key" in str(result)
        else:
            assert isinstance(result, bytes)
            verify(spki, key.algorithm, result, b"m%d" % i)


async def test_killed_signer_gives_an_error_not_a_hang(
    soft_pool: SignerPool, soft_key: tuple[KeyRef, bytes]
) -> None:
    key, _ = soft_key
    async with SigningPipeline(soft_pool.socket_paths, reconnect_delay_s=60) as p:
        await p.sign(key, b"before")
        os.kill(soft_pool.pids[0], signal.SIGKILL)
        await asyncio.to_thread(soft_pool.wait_for_exit, 0)
        async with asyncio.timeout(NO_HANG_S):
            results = await asyncio.gather(
                *(p.sign(key, b"after") for _ in range(10)), return_exceptions=True
            )
            assert all(isinstance(r, SignerUnavailable) for r in results), results
            with pytest.raises(SignerUnavailable):
                await p.sign(key, b"later")


async def test_other_signer_takes_over_when_one_dies(
    soft_spec: BackendSpec, run_dir: Path, soft_key: tuple[KeyRef, bytes]
) -> None:
    key, spki = soft_key
    with SignerPool(soft_spec, run_dir, processes=2) as pool:
        async with SigningPipeline(pool.socket_paths, reconnect_delay_s=60) as p:
            await asyncio.gather(*(p.sign(key, b"warm") for _ in range(20)))
            os.kill(pool.pids[0], signal.SIGKILL)
            await asyncio.to_thread(pool.wait_for_exit, 0)
            async with asyncio.timeout(NO_HANG_S):
                signatures = await asyncio.gather(*(p.sign(key, b"x") for _ in range(200)))
    for signature in signatures:
        verify(spki, key.algorithm, signature, b"x")


async def test_closed_pipeline_refuses(pipeline: SigningPipeline, soft_key: tuple[KeyRef, bytes]):
    await pipeline.close()
    with pytest.raises(SignerUnavailable, match="no signer"):
        await pipeline.sign(soft_key[0], b"x")


async def test_no_reachable_signer_fails_start(run_dir: Path) -> None:
    pipeline = SigningPipeline([run_dir / "absent.sock"])
    with pytest.raises(SignerUnavailable, match="no signer process is reachable"):
        await pipeline.start()


async def test_pkcs11_signers_sign_mixed_keys_in_one_batch(
    pkcs11_spec: BackendSpec, pkcs11_backend: PKCS11Backend, run_dir: Path
) -> None:
    keys = [
        pkcs11_backend.generate_key(f"pipe-{alg.value}-{os.getpid()}-{id(run_dir)}", alg)
        for alg in (KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P384, KeyAlgorithm.RSA_2048)
    ]
    spkis = {k: pkcs11_backend.public_key_der(k) for k in keys}
    registry = CollectorRegistry()
    with SignerPool(pkcs11_spec, run_dir, processes=2) as pool:
        async with SigningPipeline(pool.socket_paths, metrics=registry) as p:
            calls = [(keys[i % 3], b"m%d" % i) for i in range(300)]
            async with asyncio.timeout(NO_HANG_S):
                signatures = await asyncio.gather(*(p.sign(k, m) for k, m in calls))
    for (key, message), signature in zip(calls, signatures, strict=True):
        verify(spkis[key], key.algorithm, signature, message)
    assert sample(registry, "ca_signing_signatures_total") == 300


async def test_pin_never_appears_in_errors_or_logs(
    softhsm_token: Token,
    pkcs11_spec: BackendSpec,
    run_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    # A pool with the right PIN, asked for keys that do not exist.
    with SignerPool(pkcs11_spec, run_dir, processes=1) as pool:
        async with SigningPipeline(pool.socket_paths) as p:
            for uri in (
                "pkcs11:token=test;object=absent;type=private",
                "pkcs11:object=x?pin-value=1234",
            ):
                with pytest.raises(HSMError) as caught:
                    await p.sign(KeyRef(uri, KeyAlgorithm.EC_P256), b"x")
                seen.append(str(caught.value))
        logs = [path.read_text() for path in pool.log_paths]
    # A pool with a wrong PIN does not start, and says so without the PIN.
    wrong = "wrong-pin-27181"
    monkeypatch.setenv(PIN_ENV, wrong)
    with pytest.raises(HSMError, match="failed to start: PKCS#11: login") as caught:
        SignerPool(pkcs11_spec, run_dir, processes=1).start()
    seen.append(str(caught.value))
    logs += [path.read_text() for path in run_dir.glob("*.log")]
    text = "\n".join([*seen, *logs, caplog.text])
    assert softhsm_token.pin not in text
    assert wrong not in text


async def test_unencodable_request_fails_alone_and_the_worker_goes_on(
    pipeline: SigningPipeline, soft_key: tuple[KeyRef, bytes]
) -> None:
    key, spki = soft_key
    too_long = KeyRef("file:/" + "x" * 70000, KeyAlgorithm.EC_P256)  # over the u16 URI length
    async with asyncio.timeout(NO_HANG_S):
        with pytest.raises(HSMError):
            await pipeline.sign(too_long, b"x")
        signature = await pipeline.sign(key, b"still working")
    verify(spki, key.algorithm, signature, b"still working")


async def wait_for(condition, what: str) -> None:
    """Poll `condition` until true, failing after NO_HANG_S."""
    try:
        async with asyncio.timeout(NO_HANG_S):
            while not condition():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {NO_HANG_S}s: {what}") from None


async def test_a_signer_killed_while_idle_is_shown_down_and_a_restarted_one_signs_again(
    soft_pool: SignerPool, soft_key: tuple[KeyRef, bytes], registry: CollectorRegistry
) -> None:
    key, spki = soft_key
    async with SigningPipeline(
        soft_pool.socket_paths, metrics=registry, reconnect_delay_s=0.1
    ) as p:
        await p.sign(key, b"before")
        assert sample(registry, "ca_signing_signers_up") == 1
        os.kill(soft_pool.pids[0], signal.SIGKILL)
        await asyncio.to_thread(soft_pool.wait_for_exit, 0)
        # no request was made: the watcher alone notices the closed connections
        await wait_for(lambda: p.signers_up == 0, "the signer shown down")
        assert sample(registry, "ca_signing_signers_up") == 0
        assert sample(registry, "ca_signing_signer_connections_up") == 0
        with pytest.raises(SignerUnavailable):  # fails fast while none is up
            await p.sign(key, b"meanwhile")
        await asyncio.to_thread(soft_pool.restart, 0)
        await wait_for(lambda: p.signers_up == 1, "the restarted signer taken up")
        assert sample(registry, "ca_signing_signers_up") == 1
        async with asyncio.timeout(NO_HANG_S):
            signature = await p.sign(key, b"after")
    verify(spki, key.algorithm, signature, b"after")
