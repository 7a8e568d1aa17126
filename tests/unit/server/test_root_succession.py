"""The home's roots in succession (server/hierarchy/root_succession.py): which root
certifies (the newest) and which still sign their CRLs (every live one, K3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.hierarchy.root_succession import (
    certifying_root,
    in_succession,
    later_root_name,
    live_roots,
)
from server.registry.records import RootCA

AT = datetime(2030, 1, 1, tzinfo=UTC)


def root(name: str, succeeds: str | None, ends_in_days: int) -> RootCA:
    return RootCA(name, name.encode(), f"file:{name}", "ec-p256", f"{name} der".encode(),
                  AT + timedelta(days=ends_in_days), succeeds)  # fmt: skip


def test_roots_are_ordered_by_succession_whatever_order_they_are_read_in() -> None:
    first, second, third = root("r", None, 10), root("r-2", "r", 20), root("r-3", "r-2", 30)
    assert in_succession([third, first, second]) == [first, second, third]


def test_a_root_is_live_through_its_certificates_last_second_and_no_longer() -> None:
    """RFC 5280 4.1.2.5: the validity period includes notAfter (stored to the second), as
    a CA generation retires only the second after its last certificate's notAfter."""
    first, second = root("r", None, 0), root("r-2", "r", 20)
    assert live_roots([second, first], AT) == [first, second]
    assert live_roots([second, first], AT + timedelta(seconds=1)) == [second]


def test_the_root_that_certified_a_generation_is_the_one_its_chain_names() -> None:
    first, second = root("r", None, 10), root("r-2", "r", 20)
    assert certifying_root([first, second], (b"r-2 der",)) == second
    assert certifying_root([first, second], (b"r der",)) == first
    assert certifying_root([first, second], ()) is None  # self-signed
    assert certifying_root([first, second], (b"outside", b"r der")) is None


def test_a_later_root_is_named_as_a_later_ca_generation_is() -> None:
    assert later_root_name("demo-root", bytes.fromhex("4f1c00e2")) == "demo-root-4f1c00e2"
