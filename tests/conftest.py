"""Fixtures every test folder shares: the session's one throwaway PostgreSQL cluster
(tests/postgres.py), started the first time a test asks for it."""

from tests.postgres import postgres_cluster  # noqa: F401 (a fixture)
