"""Checkpoints: the audit trail's head anchored outside the registry (D3).

The hash chain (server/registry/audit_chain.py) shows any edit of an entry, but not the
deletion of the newest ones: a shorter chain is still a valid chain. A checkpoint states
"entry E had hash H at time T", signed with the CA key through the signing pipeline, and
lives outside the table: one line of `audit.checkpoints` (`<home>/audit-checkpoints`, mode
0600) and one line in the log. `audit verify` then checks, beside the chain, that every
checkpoint's signature verifies with the CA certificate of its generation and that the
table still holds entry E with hash H. Deleting or rewriting entries up to the newest
checkpoint is then detected; entries after it cannot be proven complete until the next
checkpoint, which the duty holder writes every `audit.checkpoint_interval_seconds` and
every signing command writes when it ends.

Why the CA key: whoever audits already holds the CA certificate of each generation (the
registry, `/ca/<name>.crt`, their own copy), so a checkpoint verifies with nothing new to
distribute, renew or revoke; the OCSP responder's key is renewed every few days, and a
dedicated key would need its own certificate and lifecycle. The CA key signs nothing an
outsider chooses here: the signed bytes are a fixed text prefix and our own JSON, which
cannot begin a DER SEQUENCE, so a checkpoint's signature never passes for that of a
certificate, a CRL or an OCSP response (all SEQUENCEs).

Line format (JSON): {"ca", "generation", "seq", "hash" (hex), "at" (UTC, seconds),
"signature" (base64)}; a checkpoint's number is its line number, counted from 1.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import functools
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from config import Settings
from hsm.backend import KeyAlgorithm, KeyRef
from protocols.x509.certificate import algorithm_identifier, signature_algorithm_for
from protocols.x509.signatures import signature_valid
from protocols.x509.spki import certificate_spki
from server.clock import Clock
from server.errors import CAError, ErrorKind
from server.registry import CAGeneration, interfaces
from server.registry.records import to_text
from server.signing import Signer, sign

logger = logging.getLogger(__name__)

#: What the CA key signs begins with this text: never a DER SEQUENCE (0x30).
SIGNED_PREFIX = b"pki-ca-server audit checkpoint v1\n"


class AuditAnchorStore(interfaces.Audit, interfaces.Generations, Protocol):
    """The registry as checkpoints see it."""


@dataclass(frozen=True)
class Checkpoint:
    ca: str
    generation: int
    seq: int
    hash: bytes
    at: str  # UTC, "YYYY-MM-DDTHH:MM:SSZ"
    signature: bytes = b""

    def signed_bytes(self) -> bytes:
        fields = [self.ca, self.generation, self.seq, self.hash.hex(), self.at]
        return SIGNED_PREFIX + json.dumps(fields, separators=(",", ":")).encode("utf-8")

    def to_line(self) -> str:
        return json.dumps(
            {
                "ca": self.ca,
                "generation": self.generation,
                "seq": self.seq,
                "hash": self.hash.hex(),
                "at": self.at,
                "signature": base64.b64encode(self.signature).decode("ascii"),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_line(cls, line: str) -> Checkpoint:
        """Raises ValueError when the line is not a checkpoint."""
        try:
            data = json.loads(line)
            checkpoint = cls(
                ca=data["ca"],
                generation=data["generation"],
                seq=data["seq"],
                hash=bytes.fromhex(data["hash"]),
                at=data["at"],
                signature=base64.b64decode(data["signature"], validate=True),
            )
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise ValueError(f"not a checkpoint ({type(exc).__name__})") from None
        if not (
            isinstance(checkpoint.ca, str)
            and isinstance(checkpoint.at, str)
            and type(checkpoint.generation) is int
            and type(checkpoint.seq) is int
        ):
            raise ValueError("not a checkpoint (field types)")
        return checkpoint


def signed_by(checkpoint: Checkpoint, ca_certificate_der: bytes) -> bool:
    """Whether the checkpoint's signature verifies with the CA certificate's key (the
    scheme the backend signs with for that key, hsm/backend.py)."""
    spki, algorithm = _ca_key(ca_certificate_der)
    return signature_valid(spki, algorithm, checkpoint.signed_bytes(), checkpoint.signature)


@functools.lru_cache(maxsize=16)
def _ca_key(ca_certificate_der: bytes) -> tuple[bytes, bytes]:
    """(SubjectPublicKeyInfo, signature AlgorithmIdentifier) of a CA certificate, read once
    for the many checkpoints of its generation."""
    spki = certificate_spki(ca_certificate_der)
    return spki, algorithm_identifier(signature_algorithm_for(spki))


def append_line(path: Path, line: str) -> int:
    """Append one line to the checkpoint file (created, or kept, mode 0600); returns the
    number of lines it holds after the append. One write(2) with O_APPEND: lines of
    concurrent writers never interleave."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    return len(read_lines(path))


def read_lines(path: Path) -> list[str]:
    """The checkpoint file's lines; none when it does not exist yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class AnchorReport:
    """What `audit verify` found. `problem` is None when the trail is intact: the chain
    holds and every checkpoint is signed and matches its entry."""

    entries: int
    first_broken_seq: int | None  # where the hash chain breaks, when it does
    head: int | None  # the newest entry's seq
    checkpoints: int
    newest: Checkpoint | None  # the newest checkpoint (by entry), when any
    newest_number: int | None  # its line number
    problem: str | None

    @property
    def intact(self) -> bool:
        return self.problem is None

    @property
    def unanchored(self) -> int:
        """Entries after the newest checkpoint: their deletion cannot be detected yet."""
        if self.head is None:
            return 0
        return self.head - (self.newest.seq if self.newest else 0)


class AuditCheckpoints:
    """Writes checkpoints (signing through the pipeline) and verifies the trail with them."""

    def __init__(
        self, settings: Settings, registry: AuditAnchorStore, signer: Signer, clock: Clock
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._signer = signer
        self._clock = clock
        self.path = settings.resolve(settings.audit.checkpoints)

    async def write(self) -> tuple[int, Checkpoint] | None:
        """Anchor the newest entry now; (number, checkpoint), None while the trail is
        empty. Raises CAError (BUSY, UNAVAILABLE from signing; INTERNAL when the signature
        does not verify, then nothing is written) and OSError (the file)."""
        head = await self._registry.audit_head()
        return None if head is None else await self._write(head)

    async def _write(self, head: tuple[int, bytes]) -> tuple[int, Checkpoint]:
        name = self._settings.ca.name
        generation = await self._registry.active_generation(name)
        if generation is None:
            raise CAError(ErrorKind.UNAVAILABLE, "the CA has no active key (run init)")
        unsigned = Checkpoint(name, generation.id, head[0], head[1], to_text(self._clock()))
        key = KeyRef(generation.key_uri, KeyAlgorithm(generation.key_algorithm))
        signature = await sign(self._signer, key, unsigned.signed_bytes())
        checkpoint = dataclasses.replace(unsigned, signature=signature)
        if not signed_by(checkpoint, generation.certificate_der):  # verify after sign
            raise CAError(ErrorKind.INTERNAL, "the audit checkpoint's signature is wrong")
        line = checkpoint.to_line()
        number = await asyncio.to_thread(append_line, self.path, line)
        logger.info("audit checkpoint %d: %s", number, line)
        return number, checkpoint

    async def write_if_moved(self) -> tuple[int, Checkpoint] | None:
        """Anchor the head unless the newest line of the file anchors it already."""
        head = await self._registry.audit_head()
        lines = await asyncio.to_thread(read_lines, self.path)
        if head is None:
            return None
        if lines:
            try:
                last = Checkpoint.from_line(lines[-1])
            except ValueError:
                last = None
            if last is not None and (last.seq, last.hash) == head:
                return None
        return await self._write(head)

    async def run(self) -> None:
        """The duty loop: anchor the head now and every checkpoint interval."""
        interval = self._settings.audit.checkpoint_interval_seconds
        while True:
            try:
                await self.write_if_moved()
            except (CAError, OSError) as exc:
                logger.warning("audit checkpoint not written: %s", exc)
            except Exception:  # the registry's driver: the loop must outlive it
                logger.exception("audit checkpoint not written")
            await asyncio.sleep(interval)

    async def verify(self) -> AnchorReport:
        """Check the hash chain and every checkpoint; the report names the first problem."""
        chain = await self._registry.verify_audit_chain()
        head = await self._registry.audit_head()
        lines = await asyncio.to_thread(read_lines, self.path)
        generations = {g.id: g for g in await self._registry.generations(self._settings.ca.name)}
        head_seq = head[0] if head else None
        anchored = await self._registry.audit_hashes(_anchored_seqs(lines))
        newest: tuple[int, Checkpoint] | None = None
        problem = None
        if not chain.intact:
            problem = f"audit trail broken at entry {chain.first_broken_seq} (altered or removed)"
        for number, line in enumerate(lines, start=1):
            if problem is not None:
                break
            problem = self._check(number, line, generations, anchored, head_seq)
            if problem is None:
                checkpoint = Checkpoint.from_line(line)
                if newest is None or checkpoint.seq >= newest[1].seq:
                    newest = (number, checkpoint)
        return AnchorReport(
            entries=chain.entries,
            first_broken_seq=chain.first_broken_seq,
            head=head_seq,
            checkpoints=len(lines),
            newest=newest[1] if newest else None,
            newest_number=newest[0] if newest else None,
            problem=problem,
        )

    def _check(
        self,
        number: int,
        line: str,
        generations: dict[int, CAGeneration],
        anchored: dict[int, bytes],
        head_seq: int | None,
    ) -> str | None:
        """The problem with checkpoint `number`, None when it is signed and matches."""
        try:
            checkpoint = Checkpoint.from_line(line)
        except ValueError as exc:
            return f"checkpoint {number}: {exc}"
        generation = generations.get(checkpoint.generation)
        if checkpoint.ca != self._settings.ca.name or generation is None:
            return f"checkpoint {number}: not of a generation of CA {self._settings.ca.name!r}"
        if not signed_by(checkpoint, generation.certificate_der):
            return (
                f"checkpoint {number}: its signature does not verify with the CA certificate"
                f" of generation {generation.id} (forged or altered)"
            )
        where = f"checkpoint {number} at {checkpoint.at} (entry {checkpoint.seq})"
        digest = anchored.get(checkpoint.seq)
        if digest is None:
            first_missing = (head_seq or 0) + 1
            return (
                f"audit trail truncated: entry {first_missing} onwards missing, the table ends"
                f" at entry {head_seq or 0} but {where} anchored it"
            )
        if digest != checkpoint.hash:
            return f"audit entry {checkpoint.seq} altered: its hash differs from {where}"
        return None


def _anchored_seqs(lines: Sequence[str]) -> list[int]:
    """The entries the readable lines anchor (the unreadable ones are reported as such)."""
    seqs = []
    for line in lines:
        try:
            seqs.append(Checkpoint.from_line(line).seq)
        except ValueError:
            continue
    return seqs


def describe(report: AnchorReport) -> Sequence[str]:
    """The lines `audit verify` prints for an intact trail."""
    if report.newest is None:
        return (
            f"audit trail intact: {report.entries} entries; no checkpoint yet, so the deletion"
            " of the newest entries cannot be detected (run `audit checkpoint`)",
        )
    lines = [
        f"audit trail intact since checkpoint {report.newest_number} at {report.newest.at}"
        f" (entry {report.newest.seq}): {report.entries} entries, {report.checkpoints}"
        " checkpoints"
    ]
    if report.unanchored:
        lines.append(
            f"{report.unanchored} entries after entry {report.newest.seq} are not anchored by"
            " a checkpoint yet: their deletion cannot be detected"
        )
    return lines
