"""The names a certificate's holder is looked up by (S6, migration 0030): the commonName
and organizationName values of the subject as the certificate carries them, each folded
(Unicode NFC, then `str.casefold`, runs of white space made one space) so that a look-up
ignores case in Cyrillic as in Latin on both engines. Written in the transaction that
records the certificate as issued; read by SearchStore.certificates_by_holder. The
certificates a registry held before migration 0030 are named when it is next opened,
a batch per transaction (`name_earlier_certificates`)."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from protocols.x509.names import parse_dn
from server.registry.group_commit import blind_write_many

if TYPE_CHECKING:
    from server.registry.engine import Connection, Engine

HOLDER_ATTRIBUTES = ("CN", "O")
_INSERT = "INSERT INTO certificate_holder_names (name, serial) VALUES (?, ?)"
BATCH = 1000  # certificates named per transaction by name_earlier_certificates


def fold(text: str) -> str:
    """The form names are stored and looked up in."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def holder_names(subject: str) -> list[str]:
    """The folded CN and O values of `subject` (RFC 4514 text, as the registry keeps it),
    each once; none for an empty subject or one that does not parse (the registry writes
    what protocols.x509.names.format_dn made, which parses)."""
    try:
        pairs = parse_dn(subject)
    except ValueError:
        return []
    folded = (fold(value) for attribute, value in pairs if attribute in HOLDER_ATTRIBUTES)
    return list(dict.fromkeys(name for name in folded if name))


async def record_holder_names_in(db: Connection, serial: str, subject: str) -> None:
    """Add the holder names of the certificate `serial` in the caller's transaction."""
    await blind_write_many(db, _INSERT, [(name, serial) for name in holder_names(subject)])


def prefix_range(prefix: str) -> tuple[str, str]:
    """[low, high) of the folded names that start with the folded `prefix` (not empty), in
    code point order: the prefix, and the prefix with its last character's successor."""
    low = fold(prefix)
    last = ord(low[-1])
    # past the surrogates, which UTF-8 cannot carry; U+10FFFF is no name's last letter
    following = last + 1 if last + 1 not in range(0xD800, 0xE000) else 0xE000
    return low, low[:-1] + chr(min(following, 0x10FFFF))


async def name_earlier_certificates(engine: Engine) -> int:
    """Name the certificates migration 0030 left pending, BATCH per transaction, and say
    how many. Processes that open the registry at once take turns (write transactions are
    serialised): the later ones find less, or nothing, left."""
    named = 0
    while True:
        async with engine.transaction() as db:
            async with db.execute(
                "SELECT p.serial, c.subject FROM holder_names_pending p"
                " JOIN certificates c ON c.serial = p.serial ORDER BY p.serial LIMIT ?",
                (BATCH,),
            ) as cursor:
                rows = [tuple(row) for row in await cursor.fetchall()]
            if not rows:
                return named
            names = [(name, serial) for serial, subject in rows for name in holder_names(subject)]
            if names:
                await db.executemany(_INSERT + " ON CONFLICT DO NOTHING", names)
            await db.execute("DELETE FROM holder_names_pending WHERE serial <= ?", (rows[-1][0],))
            named += len(rows)
