"""Fixtures every test folder shares: the session's one throwaway PostgreSQL cluster
(tests/postgres.py), started the first time a test asks for it; the owner name of a
process that has exited."""

import subprocess

import pytest

from server.node.process_identity import identity_of
from tests.postgres import postgres_cluster  # noqa: F401 (a fixture)


@pytest.fixture
def gone_owner() -> str:
    """The owner name (server/node/process_identity.py) of a process that has exited."""
    child = subprocess.Popen(["sleep", "60"])
    owner = identity_of(child.pid)
    child.kill()
    child.wait()
    return owner
