"""The OCSP index file: every pre-signed response, in one read-only file that each HTTP
worker of a node maps into memory, so that the responses take the page cache once per
node, not a copy per worker, and a restarted worker serves at once instead of loading
them all.

Layout (little-endian): a 64-byte header; the records; the slot table. The header holds
the format version, the registry's `ocsp_responses` seq the file reflects (every row up to
it, in its latest version or a newer one), the record and slot counts, the file's size,
the slot table's offset and CRC-32, and its own CRC-32. The slot table is an open-addressed
hash table (linear probing, at most half full) of (the serial's low 64 bits, the record's
offset). A record repeats its whole serial, the status it states, its times, its seq, the
SHA-1 of the response (the HTTP ETag) and the response, under a CRC-32 checked on every
look-up. A file whose header, size or slot table does not check out is not used; a record
that does not is not served (`IndexCorrupt`): the responder then asks the registry.

The file is only ever replaced whole (written beside it, then renamed over it), never
changed in place: a worker keeps the mapping it has until it takes up a newer file.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
import zlib
from array import array
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, NamedTuple

from server.registry import CertificateStatus, OCSPResponseRow

MAGIC = b"CAOCSPIX"
VERSION = 1
# magic, version, record count, slot count, seq, file size, slot table offset,
# slot table CRC, header CRC (of everything before it)
_HEADER = struct.Struct("<8sIQQQQQII")
HEADER_SIZE = 64
_SLOT = struct.Struct("<QQ")  # serial's low 64 bits, record offset (0: empty)
# CRC (of the rest of the record), length of the rest, seq, thisUpdate, nextUpdate,
# revocationTime (seconds since the epoch), generation, status, reason (-1: none),
# whether revoked_at is set, serial length, SHA-1 of the response
_RECORD = struct.Struct("<IIQqqqiBbBB20s")
_AFTER_CRC = 4  # the CRC covers the record from its length on
_STATUSES = list(CertificateStatus)
_LOW_64 = (1 << 64) - 1
_FIBONACCI = 0x9E3779B97F4A7C15  # spreads serials over the slots (Fibonacci hashing)


class IndexCorrupt(Exception):
    """The file, or one record in it, is not what was written."""


class IndexedResponse(NamedTuple):
    """One certificate's pre-signed response as the file holds it."""

    generation_id: int
    status: CertificateStatus
    revoked_at: datetime | None
    reason: int | None
    this_update: datetime
    next_update: datetime
    der: bytes
    etag: str
    seq: int


def serial_bytes(serial: int) -> bytes:
    return serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big")


def _slot_of(low: int, bits: int) -> int:
    return ((low * _FIBONACCI) & _LOW_64) >> (64 - bits) if bits else 0


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class OCSPIndex:
    """A mapped index file (read-only). `get` costs a hash probe or two and a CRC."""

    def __init__(self, path: Path) -> None:
        """Map and check the file. Raises IndexCorrupt or OSError (e.g. it is missing)."""
        with open(path, "rb") as file:
            stat = os.fstat(file.fileno())
            if stat.st_size < HEADER_SIZE:
                raise IndexCorrupt(f"{path}: {stat.st_size} bytes, shorter than a header")
            self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        self.identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        try:
            self._check(path, stat.st_size)
        except IndexCorrupt:
            self._map.close()
            raise

    def _check(self, path: Path, size: int) -> None:
        fields = _HEADER.unpack_from(self._map, 0)
        magic, version, count, slots, seq, file_size, slots_at, slots_crc, header_crc = fields
        if magic != MAGIC or version != VERSION:
            raise IndexCorrupt(f"{path}: not an OCSP index file of version {VERSION}")
        if zlib.crc32(self._map[: _HEADER.size - 4]) != header_crc:
            raise IndexCorrupt(f"{path}: the header's checksum does not match")
        if file_size != size or slots_at + slots * _SLOT.size != size or slots & (slots - 1):
            raise IndexCorrupt(f"{path}: {size} bytes where the header says {file_size}")
        if zlib.crc32(self._map[slots_at:size]) != slots_crc:
            raise IndexCorrupt(f"{path}: the slot table's checksum does not match")
        self.count, self.seq = count, seq
        self._slots_at, self._mask, self._bits = slots_at, slots - 1, slots.bit_length() - 1

    def close(self) -> None:
        self._map.close()

    def get(self, serial: int) -> IndexedResponse | None:
        """The response held for `serial`, None when the file has none. Raises
        IndexCorrupt when its record does not check out."""
        data = self._map
        low = serial & _LOW_64
        slot = _slot_of(low, self._bits)
        key = None
        while True:
            fingerprint, offset = _SLOT.unpack_from(data, self._slots_at + slot * _SLOT.size)
            if offset == 0:
                return None
            if fingerprint == low:
                key = key or serial_bytes(serial)
                found = self._record(offset, key)
                if found is not None:
                    return found
            slot = (slot + 1) & self._mask

    def _record(self, offset: int, key: bytes) -> IndexedResponse | None:
        data = self._map
        if offset + _RECORD.size > self._slots_at:
            raise IndexCorrupt(f"a record offset {offset} past the records")
        (crc, length, seq, this_update, next_update, revoked_at, generation_id, status,
         reason, revoked, serial_length, digest) = _RECORD.unpack_from(data, offset)  # fmt: skip
        end = offset + _AFTER_CRC + length
        if end > self._slots_at or zlib.crc32(data[offset + _AFTER_CRC : end]) != crc:
            raise IndexCorrupt(f"the record at offset {offset} does not match its checksum")
        serial_at = offset + _RECORD.size
        if data[serial_at : serial_at + serial_length] != key:
            return None
        return IndexedResponse(
            generation_id=generation_id,
            status=_STATUSES[status],
            revoked_at=_moment(revoked_at) if revoked else None,
            reason=None if reason < 0 else reason,
            this_update=_moment(this_update),
            next_update=_moment(next_update),
            der=data[serial_at + serial_length : end],
            etag=digest.hex(),
            seq=seq,
        )


class IndexWriter:
    """Writes an index file beside `path`, then renames it over `path` (`finish`). Memory:
    16 bytes a record until the slot table is written, and the table itself (32 bytes a
    record); the records go to the file as they are added."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        self._file: BinaryIO = open(self._temporary, "wb")  # noqa: SIM115 (closed in finish/abort)
        self._file.write(bytes(HEADER_SIZE))
        self._offset = HEADER_SIZE
        self._lows = array("Q")
        self._offsets = array("Q")

    def add(self, rows: list[OCSPResponseRow]) -> None:
        parts = []
        for row in rows:
            serial = int(row.serial, 16)
            key = serial_bytes(serial)
            rest = _RECORD.pack(
                0, 0, row.seq, int(row.this_update.timestamp()),
                int(row.next_update.timestamp()),
                int(row.revoked_at.timestamp()) if row.revoked_at else 0, row.generation_id,
                _STATUSES.index(row.status), -1 if row.reason is None else row.reason,
                row.revoked_at is not None, len(key), _sha1(row.der),
            )[_AFTER_CRC * 2 :] + key + row.der  # fmt: skip
            length = len(rest) + _AFTER_CRC
            body = struct.pack("<I", length) + rest
            parts.append(struct.pack("<I", zlib.crc32(body)) + body)
            self._lows.append(serial & _LOW_64)
            self._offsets.append(self._offset)
            self._offset += _AFTER_CRC + length
        self._file.write(b"".join(parts))

    def finish(self, seq: int) -> None:
        """Write the slot table and the header, make it durable, put it in place."""
        count = len(self._lows)
        slots = 1 << max(4, (2 * count).bit_length())  # at most half full
        bits = slots.bit_length() - 1
        table = bytearray(slots * _SLOT.size)
        mask = slots - 1
        for low, offset in zip(self._lows, self._offsets, strict=True):
            slot = _slot_of(low, bits)
            while _SLOT.unpack_from(table, slot * _SLOT.size)[1]:
                slot = (slot + 1) & mask
            _SLOT.pack_into(table, slot * _SLOT.size, low, offset)
        self._file.write(table)
        size = self._offset + len(table)
        header = _HEADER.pack(MAGIC, VERSION, count, slots, seq, size, self._offset,
                              zlib.crc32(table), 0)[:-4]  # fmt: skip
        self._file.seek(0)
        self._file.write(header + struct.pack("<I", zlib.crc32(header)))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._temporary, self._path)
        _fsync_folder(self._path.parent)

    def abort(self) -> None:
        self._file.close()
        self._temporary.unlink(missing_ok=True)


def _sha1(der: bytes) -> bytes:
    return hashlib.sha1(der).digest()


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
