"""The registry's SQL on PostgreSQL through asyncpg (several nodes share one registry)."""

from __future__ import annotations


class PostgresEngine:
    dialect = "postgresql"

    @classmethod
    async def open(cls, url: str) -> PostgresEngine:
        raise NotImplementedError("the PostgreSQL engine is being written (issue 14)")
