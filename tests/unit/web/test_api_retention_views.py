"""What the API shows of retention (C1): a subscriber's `erased_at` and an application's
`attachments_removed_at`, null until retention removed them, then the time it did."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from server.node.retention import Removed, Retention
from server.web.api.applications import application_view
from server.web.api.subscribers import subscriber_view
from tests.local_ca import opened_local_ca
from tests.unit.server.test_ra_applications import RA
from tests.unit.server.test_retention import SCAN
from tests.unit.server.test_subscribers import person


async def test_c1_the_views_say_when_retention_removed_personal_data(tmp_path: Path) -> None:
    async with opened_local_ca(tmp_path, CA_RETENTION__SUBSCRIBER_DAYS="30",
                               CA_RETENTION__ATTACHMENTS_DAYS="30") as local_ca:  # fmt: skip
        ra = RA(local_ca)
        row = await ra.subscribers.register(person(), "op")
        application = await ra.applications.submit(row.id, "person", "op", [("a.pdf", SCAN)])
        await ra.applications.reject(application.id, "officer", "documents missing")
        shown = await ra.applications.get(application.id)
        assert shown is not None and application_view(shown, True)["attachments_removed_at"] is None
        assert subscriber_view(row)["erased_at"] is None

        local_ca.clock.advance(days=30)
        duty = Retention(local_ca.settings, local_ca.registry, local_ca.clock, CollectorRegistry())
        assert await duty.remove_expired() == Removed(attachments=1, subscribers=1)
        erased = await ra.subscribers.get(row.id)
        removed = await ra.applications.get(application.id)
        assert removed is not None
        now = local_ca.clock().isoformat().replace("+00:00", "Z")
        assert subscriber_view(erased)["erased_at"] == now
        assert application_view(removed, True)["attachments_removed_at"] == now
