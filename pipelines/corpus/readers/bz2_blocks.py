"""bzip2 decompression that survives damage: every intact block is read.

Python's `bz2` stops at the first corrupt block, and the output of the
failing `decompress` call (possibly earlier, intact blocks) is thrown away.
A bzip2 stream is a `BZh<level>` header, then blocks, each opening with the
48-bit magic 0x314159265359 and carrying its own CRC, then the 48-bit
end-of-stream magic 0x177245385090 and a CRC of the whole stream. Blocks
are bit-aligned, not byte-aligned. So this reader (the method of
`bzip2recover`):

- finds the block and end magics at every bit offset of the compressed
  bytes, and feeds the decompressor one block at a time: a call then
  returns exactly one block, whose CRC libbzip2 checks before returning, so
  a damaged block costs only its own data;
- after a damaged block, starts a fresh decompressor at the next block
  magic, behind a synthetic `BZh9` header (9 = the largest block size, so
  any block fits) with the bits shifted to a byte boundary, and reports the
  compressed bytes it skipped as a `Bz2Gap`;
- reports a stream cut off inside a block (a truncated file) as a gap too.

A 48-bit magic can also occur by chance inside compressed data (about once
in 2**48 bits, i.e. once per ~30 TB); such a false boundary only splits a
`decompress` call in two, except as a resync target, where it costs one
failed attempt.
"""
from __future__ import annotations

import bisect
import bz2
import dataclasses
from collections.abc import Iterator
from typing import BinaryIO

from pipelines.corpus.documents import MalformedInput

BLOCK_MAGIC = 0x314159265359
END_MAGIC = 0x177245385090
_MAGIC_BITS = 48
_END_BITS = _MAGIC_BITS + 32  # end magic + stream CRC
_STREAM_HEADER = b"BZh9"
_READ_SIZE = 1 << 20
_DECODE_ERRORS = (OSError, EOFError, ValueError)

CORRUPT = "corrupt_compressed_data"
TRUNCATED = "truncated_compressed_data"


@dataclasses.dataclass(frozen=True)
class Bz2Gap:
    """Compressed bytes [offset, offset + skipped) that could not be decompressed."""

    offset: int
    skipped: int
    reason: str  # CORRUPT or TRUNCATED
    detail: str

    def error(self) -> MalformedInput:
        return MalformedInput(self.reason, self.detail, f"compressed byte {self.offset}")


@dataclasses.dataclass(frozen=True)
class _Pattern:
    """A magic starting `shift` bits into a byte: `core` are its whole bytes."""

    kind: str
    shift: int
    length: int  # bytes the magic touches
    core: bytes
    core_start: int
    first_mask: int
    first_value: int
    last_mask: int
    last_value: int


def _patterns(magic: int, kind: str) -> list[_Pattern]:
    patterns = []
    for shift in range(8):
        length = (shift + _MAGIC_BITS + 7) // 8
        pad = 8 * length - _MAGIC_BITS - shift
        value = (magic << pad).to_bytes(length, "big")
        core_start, core = (0, value) if shift == 0 else (1, value[1:-1])
        first_mask, last_mask = 0xFF >> shift, (0xFF << pad) & 0xFF
        patterns.append(
            _Pattern(kind, shift, length, core, core_start, first_mask, value[0], last_mask, value[-1])
        )
    return patterns


BLOCK, END = "block", "end"
_PATTERNS = _patterns(BLOCK_MAGIC, BLOCK) + _patterns(END_MAGIC, END)


def find_magics(data: bytes, start: int = 0, stop: int | None = None) -> list[tuple[int, str]]:
    """(bit offset, BLOCK | END) of every magic whose first byte lies in
    data[start:stop] and whose bits lie wholly in `data`, in order."""
    stop = len(data) if stop is None else stop
    found = []
    for p in _PATTERNS:
        at = data.find(p.core, start + p.core_start)
        while at >= 0:
            first = at - p.core_start
            if first >= stop:
                break
            last = first + p.length - 1
            if (
                last < len(data)
                and data[first] & p.first_mask == p.first_value
                and data[last] & p.last_mask == p.last_value
            ):
                found.append((8 * first + p.shift, p.kind))
            at = data.find(p.core, at + 1)
    found.sort()
    return found


class _Compressed:
    """The compressed bytes, read ahead as needed, with the magics found in them."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._data = bytearray()
        self._base = 0  # stream offset of _data[0]
        self._scanned = 0  # stream offset up to which magics were searched
        self.at_eof = False
        self._bits: list[int] = []
        self._kinds: list[str] = []

    @property
    def end(self) -> int:
        """Stream offset just past the bytes read so far."""
        return self._base + len(self._data)

    def _read_more(self) -> bool:
        if self.at_eof:
            return False
        chunk = self._raw.read(_READ_SIZE)
        if not chunk:
            self.at_eof = True
        self._data += chunk
        # A magic whose last bytes were not read yet is found in the next pass.
        stop = self.end if self.at_eof else self.end - 7
        if stop > self._scanned:
            first = self._scanned - self._base
            for bit, kind in find_magics(self._data, first, stop - self._base):
                self._bits.append(bit + 8 * self._base)
                self._kinds.append(kind)
            self._scanned = stop
        return True

    def ensure(self, end: int) -> None:
        """Reads until `end` bytes are available or the input ends."""
        while self.end < end and self._read_more():
            pass

    def next_magic(self, after_bit: int, kinds: tuple[str, ...] = (BLOCK, END)) -> tuple[int, str] | None:
        """The first magic of `kinds` starting after bit `after_bit`; None at the end of input."""
        while True:
            index = bisect.bisect_right(self._bits, after_bit)
            for bit, kind in zip(self._bits[index:], self._kinds[index:]):
                if kind in kinds:
                    return bit, kind
            if not self._read_more():
                return None

    def bits(self, start_bit: int, nbytes: int) -> bytes:
        """`nbytes` bytes made of the bits from `start_bit` on (zero-padded past the end)."""
        self.ensure((start_bit + 7) // 8 + nbytes + 1)
        first = start_bit // 8 - self._base
        shift = start_bit % 8
        if not shift:
            return bytes(self._data[first : first + nbytes])
        window = bytes(self._data[first : first + nbytes + 1]).ljust(nbytes + 1, b"\0")
        value = int.from_bytes(window, "big") >> (8 - shift)
        return (value & ((1 << 8 * nbytes) - 1)).to_bytes(nbytes, "big")

    def starts_stream(self, offset: int) -> bool:
        self.ensure(offset + 4)
        head = bytes(self._data[offset - self._base : offset - self._base + 4])
        return len(head) == 4 and head[:3] == b"BZh" and head[3:] in b"123456789"

    def forget_before(self, offset: int) -> None:
        """Drops bytes and magics before `offset`, which will not be needed again."""
        offset = min(offset, self._scanned)  # keep what the next scan starts from
        drop = offset - self._base
        if drop > _READ_SIZE:
            del self._data[:drop]
            self._base = offset
            index = bisect.bisect_left(self._bits, 8 * offset)
            del self._bits[:index], self._kinds[:index]


class _Decoder:
    """One bz2 decompressor fed from bit `origin` of the compressed bytes."""

    def __init__(self, compressed: _Compressed, origin: int, synthetic_header: bool) -> None:
        self._compressed = compressed
        self._inner = bz2.BZ2Decompressor()
        self.origin = origin
        self.fed = origin  # bits before this were given to the decompressor
        if synthetic_header:
            self._inner.decompress(_STREAM_HEADER)

    def feed_to(self, bit: int) -> bytes:
        """Feeds the bits up to `bit`, rounded up to a whole byte; raises on corrupt data."""
        if bit <= self.fed:
            return b""
        nbytes = (bit - self.fed + 7) // 8
        data = self._compressed.bits(self.fed, nbytes)
        self.fed += 8 * nbytes
        # With its input used up, `decompress` returns after each filled output
        # buffer; the rest of the block, and its CRC check, come out of the
        # following calls. Draining here keeps a block and its check in one call.
        pieces = [self._inner.decompress(data)]
        while not self._inner.eof:
            more = self._inner.decompress(b"")
            if not more:
                break
            pieces.append(more)
        return b"".join(pieces)

    @property
    def finished(self) -> bool:
        return self._inner.eof


def decompressed_chunks(raw: BinaryIO, offset: int = 0) -> Iterator[bytes | MalformedInput]:
    """`iter_bz2` with each gap as the MalformedInput that reports it."""
    for item in iter_bz2(raw, offset):
        yield item.error() if isinstance(item, Bz2Gap) else item


def iter_bz2(raw: BinaryIO, offset: int = 0) -> Iterator[bytes | Bz2Gap]:
    """Decompressed data of every intact block of `raw` (bzip2, one or more
    concatenated streams), and a `Bz2Gap` for each damaged or missing part,
    in stream order.

    `offset`: the file offset of raw's first byte, for the offsets in gaps.
    """
    return _Reader(raw, offset).run()


class _Reader:
    """The state of one `iter_bz2` pass. Positions are bit offsets into `raw`."""

    def __init__(self, raw: BinaryIO, offset: int) -> None:
        self._compressed = _Compressed(raw)
        self._offset = offset
        self._decoder: _Decoder | None = None
        self._last_cut = 0  # the magic the decoder was last fed up to
        self._verified = 0  # everything before was decompressed and CRC-checked
        self._damage: tuple[int, str] | None = None  # (start, why) of a gap not yet reported

    def run(self) -> Iterator[bytes | Bz2Gap]:
        stream_start = 0  # byte offset
        while True:
            if self._decoder is None and not (yield from self._begin_stream(stream_start)):
                return
            magic = self._compressed.next_magic(self._last_cut)
            cut = magic[0] if magic else 8 * self._compressed.end
            try:
                output = self._decoder.feed_to(cut)
            except _DECODE_ERRORS as error:
                self._damage = self._damage or (self._verified, f"damaged bzip2 data ({error})")
                if not (yield from self._resync(max(self._verified, self._decoder.origin))):
                    return
                continue
            if output:
                yield from self._deliver(output, cut)
            self._last_cut = cut
            self._compressed.forget_before(max(self._verified, self._decoder.origin) // 8)
            if magic is None:
                if not self._decoder.finished:
                    self._damage = self._damage or (self._verified, "input ends inside a bzip2 stream (cut-off file?)")
                    yield self._gap(8 * self._compressed.end, TRUNCATED)
                return
            if magic[1] == END:
                stream_end = (magic[0] + _END_BITS + 7) // 8
                if (yield from self._end_stream(stream_end)):
                    self._decoder = None
                    stream_start = stream_end
                    self._verified = 8 * stream_end

    def _begin_stream(self, start: int) -> Iterator[Bz2Gap]:
        """Starts a decoder at byte `start`, where a stream should begin; False at the end of input."""
        if self._compressed.starts_stream(start):
            self._start(8 * start, synthetic_header=False)
            self._verified = 8 * start + 8 * len(_STREAM_HEADER)
            return True
        self._compressed.ensure(start + 1)
        if self._compressed.end <= start:
            return False
        self._damage = self._damage or (8 * start, "no bzip2 stream header")
        return (yield from self._resync(8 * start))

    def _start(self, origin: int, synthetic_header: bool) -> None:
        self._decoder = _Decoder(self._compressed, origin, synthetic_header)
        self._last_cut = origin

    def _resync(self, after: int) -> Iterator[Bz2Gap]:
        """Starts a decoder at the first block magic after `after`; at the end
        of input, reports the pending gap and returns False."""
        target = self._compressed.next_magic(after, (BLOCK,))
        if target is None:
            yield self._gap(8 * self._compressed.end)
            return False
        self._start(target[0], synthetic_header=True)
        return True

    def _deliver(self, output: bytes, cut: int) -> Iterator[bytes | Bz2Gap]:
        if self._damage:
            yield self._gap(self._decoder.origin)
        yield output
        self._verified = cut

    def _end_stream(self, stream_end: int) -> Iterator[bytes | Bz2Gap]:
        """After an end magic: True if it ends the stream (False for a chance match)."""
        self._compressed.ensure(stream_end + 4)
        try:
            # libbzip2 checks the stream CRC, which only a decoder that read the
            # whole stream can pass.
            tail = self._decoder.feed_to(8 * stream_end)
        except _DECODE_ERRORS:
            tail = b""
        if tail:  # only if that end magic was a chance match inside a block
            yield from self._deliver(tail, 8 * stream_end)
        # Every block passed its own CRC; a resynchronized decoder misses the
        # blocks before its start, so its stream CRC cannot match: an end magic
        # followed by another stream or the end of input ends the stream too.
        ended = (
            self._decoder.finished
            or self._compressed.end <= stream_end
            or self._compressed.starts_stream(stream_end)
        )
        if ended and self._damage:  # nothing after the damage was readable in this stream
            yield self._gap(8 * stream_end)
        return ended

    def _gap(self, resumed_bit: int, reason: str = CORRUPT) -> Bz2Gap:
        """The pending damage as a gap ending at `resumed_bit`; clears it."""
        start_bit, why = self._damage
        self._damage = None
        start, resumed = start_bit // 8, min(resumed_bit // 8, self._compressed.end)
        skipped, at = resumed - start, self._offset + start
        if reason == TRUNCATED or resumed >= self._compressed.end:
            detail = f"{why}: the last {skipped} compressed bytes, from byte {at}, could not be decompressed"
        else:
            detail = (
                f"{why}: skipped {skipped} compressed bytes from byte {at} "
                f"to the next intact bzip2 block at byte {self._offset + resumed}"
            )
        return Bz2Gap(at, skipped, reason, detail)
