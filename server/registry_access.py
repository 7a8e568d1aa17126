"""The registry as the settings name it, opened: every process, command and test reaches a
registry through `open_registry`. Apart from the composition root (server/context.py), so
that a command that only reads the registry (server/cli/reading.py) opens it without
importing the CA's services."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from config import Settings, registry_url
from server.errors import CAError, ErrorKind
from server.registry import Registry


async def open_registry(
    settings: Settings,
    url: str | None = None,
    metrics: CollectorRegistry | None = None,
    *,
    migrate: bool = True,
) -> Registry:
    """The registry `registry.url` names (or `url`, a relative sqlite path taken from the
    home), opened and migrated (unless not to `migrate`), its group commit's metrics on
    `metrics`: every process and command (and test) reaches a registry this way. Raises
    CAError(UNAVAILABLE) when it cannot be reached."""
    resolved = settings.registry_url if url is None else registry_url.resolve(url, settings.home)
    try:
        return await Registry.open_url(
            resolved,
            settings.registry.pool_size,
            max_write_group=settings.registry.max_write_group,
            max_write_queue=settings.registry.max_write_queue,
            metrics=metrics,
            migrate=migrate,
        )
    except ConnectionError as exc:  # its message names the URL without a password
        raise CAError(ErrorKind.UNAVAILABLE, str(exc)) from None
