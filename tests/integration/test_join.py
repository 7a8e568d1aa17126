"""`init --join`'s refusals, each exact, each leaving no home behind and the shared registry
as it was: a registry holding no CA, a CA key the secret does not open, a key that is not
the CA certificate's, no CMP protection key; and what a joined node writes to the registry
(its own TLS certificate, nothing else). Its work alongside the first node is shown by
tests/integration/test_two_nodes.py, which builds node B this way."""

from __future__ import annotations

import asyncio
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from server.registry import Registry
from server.registry.registry_copy import row_counts
from tests.integration.cli import run_cli
from tests.integration.conftest import CAHome, new_registry_url
from tests.postgres import Cluster


async def _counts(url: str) -> dict[str, int]:
    registry = await Registry.open_url(url, pool_size=1, migrate=False)
    try:
        return await row_counts(registry)
    finally:
        await registry.close()


def rows(url: str) -> dict[str, int]:
    """The rows of each table of the database (none: it holds no registry)."""
    with ThreadPoolExecutor(1) as thread:  # asyncio.run, whether or not a loop runs here
        return thread.submit(asyncio.run, _counts(url)).result()


def bare_database(request: pytest.FixtureRequest) -> str:
    """A new database with no tables at all (not even a registry's)."""
    cluster: Cluster = request.getfixturevalue("postgres_cluster")
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, cluster.create_database("template0")).result()


def first_node(request: pytest.FixtureRequest, path: Path) -> tuple[CAHome, str]:
    url = new_registry_url(request, "postgresql")
    assert url is not None
    run_cli("init", "--home", path, "--registry-url", url)
    return CAHome(path), url


@pytest.fixture(scope="module")
def cluster_ca(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[CAHome, str]:
    """Node A: a software-key CA on PostgreSQL, left unchanged by these tests."""
    return first_node(request, tmp_path_factory.mktemp("first") / "a")


def refused(home: Path, url: str, *options: str | Path) -> str:
    """`init --join`'s error line; the home it would have made does not exist."""
    result = run_cli("init", "--home", home, "--join", url, *options, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert not home.exists()
    return result.stderr


def test_a_registry_holding_no_ca_is_refused(
    request: pytest.FixtureRequest, cluster_ca: tuple[CAHome, str], tmp_path: Path
) -> None:
    a, url = cluster_ca
    empty = new_registry_url(request, "postgresql")
    assert empty is not None
    error = refused(tmp_path / "b", empty, "--pin-from", a.path / "pin.txt")
    assert error == (
        "error: the registry registry.url names holds no CA named 'demo': --join needs the "
        "registry of a running CA (and --name, when the CA's is not the default)\n"
    )
    assert not any(rows(empty).values())
    bare = bare_database(request)
    assert refused(tmp_path / "b", bare, "--pin-from", a.path / "pin.txt") == error
    assert rows(bare) == {}  # not made a registry
    error = refused(tmp_path / "b", url, "--name", "other", "--pin-from", a.path / "pin.txt")
    assert "holds no CA named 'other'" in error
    error = refused(tmp_path / "b", f"sqlite:///{tmp_path / 'r.sqlite3'}")
    assert error == (
        "error: --join: nodes share a PostgreSQL registry (postgresql://user@host/database)\n"
    )
    assert not (tmp_path / "r.sqlite3").exists()


def test_a_ca_key_this_node_cannot_open_is_refused(
    cluster_ca: tuple[CAHome, str], tmp_path: Path
) -> None:
    a, url = cluster_ca
    before = rows(url)
    wrong = tmp_path / "pin.txt"
    wrong.write_text("not the cluster's secret\n")
    error = refused(tmp_path / "b", url, "--pin-from", wrong, "--cmp-keys", a.path / "cmp-keys")
    key = (a.path / "keys" / "demo-ca-g1.pem").resolve()
    assert error == (
        "error: the CA key is not reachable from this node: software backend: cannot decrypt "
        f"key {key} (wrong passphrase or not an encrypted PKCS#8 key)\n"
    )
    error = refused(tmp_path / "b", url, "--backend", "pkcs11", "--pin-from", a.path / "pin.txt")
    assert error == f"error: the CA key is in a key file (file:{key}): join with --backend soft\n"
    error = refused(tmp_path / "b", url)  # no secret at all
    assert error.startswith("error: no PIN: --join needs the first node's secret")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "pin.txt").write_text("the operator's own\n")
    result = run_cli("init", "--home", tmp_path / "b", "--join", url, "--pin-from", wrong,
                     check=False)  # fmt: skip
    assert result.stderr == f"error: --pin-from: {tmp_path / 'b' / 'pin.txt'} exists already\n"
    assert sorted(path.name for path in (tmp_path / "b").iterdir()) == ["pin.txt"]
    assert (tmp_path / "b" / "pin.txt").read_text() == "the operator's own\n"
    assert rows(url) == before


def test_a_node_without_the_cmp_protection_key_is_refused(
    cluster_ca: tuple[CAHome, str], tmp_path: Path
) -> None:
    a, url = cluster_ca
    before = rows(url)
    error = refused(tmp_path / "b", url, "--pin-from", a.path / "pin.txt")
    assert error == (
        f"error: no CMP protection key of this CA in {tmp_path / 'b' / 'cmp-keys'}: link the "
        "first node's cmp-keys folder with --cmp-keys DIR (a shared mount)\n"
    )
    shared = tmp_path / "shared"  # a cmp-keys folder, but not this CA's
    shared.mkdir()
    (shared / "kept").write_text("another CA's")
    again = refused(tmp_path / "b", url, "--pin-from", a.path / "pin.txt", "--cmp-keys", shared)
    assert again == error
    assert (shared / "kept").read_text() == "another CA's"  # the link went, not its target
    assert rows(url) == before


def test_a_key_that_is_not_the_ca_certificates_is_refused(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Node A's key file replaced by another CA's key of the same name (C's, opened by C's
    secret): the key opens, but it is not the key of the CA certificate in the registry."""
    a, url = first_node(request, tmp_path / "a")
    other = tmp_path / "c"
    run_cli("init", "--home", other)
    shutil.copyfile(other / "keys" / "demo-ca-g1.pem", a.path / "keys" / "demo-ca-g1.pem")
    before = rows(url)
    error = refused(tmp_path / "b", url, "--pin-from", other / "pin.txt",
                    "--cmp-keys", a.path / "cmp-keys")  # fmt: skip
    serial = a.cli("list", "--profile", "ca").stdout.split()[0]
    assert error == (
        f"error: the key file:{(a.path / 'keys' / 'demo-ca-g1.pem').resolve()} is not the key "
        f"of the CA certificate (serial {serial}) in the registry: another CA's key or token?\n"
    )
    assert rows(url) == before


def test_a_joined_node_records_only_its_own_tls_certificate(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    a, url = first_node(request, tmp_path / "a")
    before = rows(url)
    b = CAHome(tmp_path / "b")
    run_cli("init", "--home", b.path, "--join", url, "--pin-from", a.path / "pin.txt",
            "--cmp-keys", a.path / "cmp-keys")  # fmt: skip
    after = rows(url)
    grown = {
        table: after[table] - count for table, count in before.items() if after[table] != count
    }
    # the certificate, its name (CN), status row, audit entry, outbox event and pre-signed
    # OCSP answer
    assert grown == {"certificates": 1, "certificate_holder_names": 1, "status_changes": 1,
                     "audit_log": 1, "outbox_events": 1, "ocsp_responses": 1}  # fmt: skip
    newest = b.cli("list", "--profile", "tls-server").stdout.splitlines()
    assert len(newest) == 2  # A's and B's
    assert b.cli("audit", "verify").stdout.startswith("audit trail intact since checkpoint 1 ")
    settings = (b.path / "settings.toml").read_text()
    assert f'key_dir = "{(a.path / "keys").resolve()}"' in settings
    assert f'url = "{url}"' in settings
    assert (b.path / "pin.txt").read_bytes() == (a.path / "pin.txt").read_bytes()
