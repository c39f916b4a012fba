"""The fast decoder: a getProgramAccounts body read as bytes, never as JSON objects.

Slices may have any lengths (Token-2022 mixes 133-byte slices of 165-byte accounts with
134-byte ones of longer accounts, and may list other accounts that share the mint's bytes);
they are grouped by width, and each group is checked with one vectorised step.

1. one pass over the body, 4 MiB at a time (the chunk stays in cache for the checks), finds
   every ``{`` and ``[``: the account items are the ``{"pubkey"`` or ``{"account"`` among them
   (nodes write the item's keys in either order), the base64 strings start after the
   ``"data":["`` among them. Each item must be followed by exactly one data string before the
   next item begins, so no account can be skipped unseen;
2. every string's width is found by groups: the first string not yet placed fixes a width by
   its closing quote, every string that ends there with ``","base64"]`` (before the next item)
   takes it, and so on for the rest (one step per distinct width, 1 for SPL Token, 1 or 2
   for Token-2022's accounts). Width and padding give each slice's length;
3. only what the snapshot reads is decoded: the first 56 characters (bytes 0..42: owner and
   amount) by polars in one vectorised call over an Arrow binary-view array that points into
   the body itself (no copy), and the one base64 quad that holds the state byte (and, for
   Token-2022, the account-type byte) by a table lookup in numpy.

A ``StreamScan`` does all three while the body arrives (step 1 per chunk, steps 2 and 3 per
batch of strings whose next item is in), so that decoding overlaps the download; the whole is
checked once it is complete, before its columns are used.

Anything else (items opening with another key, whitespace, slices shorter than owner + amount,
characters outside base64 where they are read) returns None and the caller uses a slower
decoder that accepts it.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

# An account item opens with one of its two keys: '{"pubkey"' in a node's struct order,
# '{"account"' when the node sorts keys (older nodes serialised through a sorted map).
_KEY_PUBKEY = int.from_bytes(b'"pubkey"', "little")
_KEY_ACCOUNT = int.from_bytes(b'"account', "little")  # then '"'
_KEY_DATA = int.from_bytes(b'"data":[', "little")  # then '"' after the '['
_KEY_END = int.from_bytes(b'","bas', "little")  # after the two last characters of a string
_KEY_END_TAIL = int.from_bytes(b'base64"]', "little")
_BRACKET_AT = 7
_CHUNK = 1 << 22
_MAX_PARTS = 8
_MIN_PART = 1 << 24  # bytes of body per thread, at least
_FOLD = 0x20  # '[' | 0x20 == '{' and no other byte folds onto '{'
_EQUALS = ord("=")
_QUOTE = ord('"')
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_VALUES = np.full(256, 255, dtype=np.uint8)
_VALUES[np.frombuffer(_ALPHABET, dtype=np.uint8)] = np.arange(64, dtype=np.uint8)
HEAD_CHARS = 56  # base64 of bytes 0..42: owner (0..32) and amount (32..40)


def _eight_bytes_at_every_offset(raw: bytes | bytearray) -> np.ndarray:
    """A little-endian u64 read at each byte offset (overlapping, unaligned view, no copy)."""
    return np.ndarray(shape=(max(len(raw) - 7, 0),), dtype="<u8", buffer=raw, strides=(1,))


def _items_and_strings(
    body: np.ndarray, words: np.ndarray, low: int, high: int
) -> tuple[np.ndarray, np.ndarray]:
    """Offsets of every account item's ``{`` and of the first character of every
    ``"data":["`` string, for the braces and brackets in ``body[low:high]``."""
    folded = np.empty(_CHUNK, dtype=np.uint8)  # reused: no fresh pages per chunk
    found = np.empty(_CHUNK, dtype=np.bool_)
    last = len(words) - 1
    items: list[np.ndarray] = [np.empty(0, dtype=np.intp)]
    strings: list[np.ndarray] = [np.empty(0, dtype=np.intp)]
    for offset in range(low, high, _CHUNK):
        chunk = body[offset : min(offset + _CHUNK, high)]
        size = len(chunk)
        np.bitwise_or(chunk, _FOLD, out=folded[:size])
        np.equal(folded[:size], ord("{"), out=found[:size])
        hits = np.flatnonzero(found[:size]) + offset
        brace = body[hits] == ord("{")
        opening = hits[brace]
        opening = opening[opening < last - 1]
        key = words[opening + 1]
        item = (key == _KEY_PUBKEY) | ((key == _KEY_ACCOUNT) & (body[opening + 9] == _QUOTE))
        items.append(opening[item])
        marker = hits[~brace] - _BRACKET_AT
        marker = marker[(marker >= 0) & (marker < last)]
        marker = marker[words[marker] == _KEY_DATA]
        string = marker + _BRACKET_AT + 2
        strings.append(string[body[string - 1] == _QUOTE])
    return np.concatenate(items), np.concatenate(strings)


def _byte_at(words: np.ndarray, starts: np.ndarray, index: int) -> np.ndarray | None:
    """Decoded byte ``index`` of every slice, from the one base64 quad that holds it."""
    quad, within = divmod(index, 3)
    text = words[starts + 4 * quad]
    first = _VALUES[(text >> np.uint64(8 * within)).astype(np.uint8)]
    second = _VALUES[(text >> np.uint64(8 * within + 8)).astype(np.uint8)]
    if bool((first > 63).any()) or bool((second > 63).any()):
        return None
    if within == 0:
        return (first << 2) | (second >> 4)  # type: ignore[no-any-return]
    if within == 1:
        return ((first & 0x0F) << 4) | (second >> 2)  # type: ignore[no-any-return]
    return ((first & 0x03) << 6) | second  # type: ignore[no-any-return]


_MAX_WIDTHS = 64  # distinct string widths accepted (a dataSlice of <= 134 bytes gives <= 46)


def _widths(
    raw: bytes | bytearray, words: np.ndarray, starts: np.ndarray, following: np.ndarray
) -> np.ndarray | None:
    """Characters in every base64 string, grouped by width: the first string not yet placed
    fixes a width (its closing quote), and every string that ends there (``","base64"]``
    right after, before the next item opens) takes it; one vectorised check per distinct
    width. ``following``: where each string's next item opens (the body's end for the last).
    None when a string is shorter than owner + amount or not a whole number of quads."""
    widths = np.zeros(len(starts), dtype=np.int64)
    todo = np.arange(len(starts))
    last = len(words) - 1
    for _ in range(_MAX_WIDTHS):
        if not len(todo):
            return widths
        first = int(starts[todo[0]])
        width = raw.find(b'"', first, int(following[todo[0]])) - first
        if width < HEAD_CHARS or width % 4:
            return None
        ends = starts[todo] + (width - 2)
        tails = ends + 5
        inside = tails + 8 <= following[todo]  # the string and its tail before the next item
        if int(tails[-1]) > last:  # only the last string can reach the body's end
            inside[-1] = False
            tails[-1] = ends[-1] = 0
        fits = (
            inside
            & ((words[ends] >> np.uint64(16)) == np.uint64(_KEY_END))
            & (words[tails] == np.uint64(_KEY_END_TAIL))
        )
        if not fits[0]:
            return None
        widths[todo[fits]] = width
        todo = todo[~fits]
    return None


def _sizes(words: np.ndarray, starts: np.ndarray, widths: np.ndarray) -> np.ndarray | None:
    """Decoded length of every string: its width in bytes less its padding ('=' or '==')."""
    ending = words[starts + (widths - 2)]
    last_pad = ((ending >> np.uint64(8)) & np.uint64(0xFF)) == np.uint64(_EQUALS)
    first_pad = (ending & np.uint64(0xFF)) == np.uint64(_EQUALS)
    if bool((first_pad & ~last_pad).any()):
        return None  # '=' before a data character: not base64
    return widths // 4 * 3 - last_pad - first_pad  # type: ignore[no-any-return]


class _ArrowArray:
    """An Arrow array seen only through the Arrow C data interface: polars then imports it
    as it is (zero copy) without ``pyarrow.compute`` (0.2 s of imports for ``pl.from_arrow``)."""

    def __init__(self, array: pa.Array) -> None:
        self.array = array

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]:
        return self.array.__arrow_c_array__(requested_schema)  # type: ignore[no-any-return]


def _series(values: np.ndarray, kind: pa.DataType) -> pl.Series:
    """A polars Series over a numpy array's memory, through Arrow (``pl.Series(ndarray)``
    imports ``numpy.ma``, 0.1 s of a snapshot's start)."""
    values = np.ascontiguousarray(values)
    array = pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])
    return pl.Series(_ArrowArray(array))


@dataclass(frozen=True)
class _Layout:
    raw: bytes | bytearray
    words: np.ndarray
    state_at: int
    type_at: int


def _columns(layout: _Layout, starts: np.ndarray, sizes: np.ndarray) -> pl.DataFrame | None:
    """The columns for the strings at ``starts`` (decoded lengths ``sizes``): the first
    HEAD_CHARS characters decoded by polars through Arrow binary views into the body (length,
    4-byte prefix, buffer 0, offset; no copy of the text), the state and type bytes by table
    lookup where the slice holds them (state 0 and no type otherwise, as the other decoders)."""
    count = len(starts)
    views = np.zeros((count, 4), dtype=np.int32)
    views[:, 0] = HEAD_CHARS
    views[:, 1] = (layout.words[starts] & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32)
    views[:, 3] = starts
    text = pa.Array.from_buffers(
        pa.binary_view(), count, [None, pa.py_buffer(views), pa.py_buffer(layout.raw)]
    )
    try:
        head = pl.Series(_ArrowArray(text)).bin.decode("base64").alias("head")
    except pl.exceptions.ComputeError:
        return None
    state = np.zeros(count, np.uint8)
    has_state = sizes > layout.state_at
    if bool(has_state.all()):
        found = _byte_at(layout.words, starts, layout.state_at)
        if found is None:
            return None
        state = found
    elif bool(has_state.any()):
        found = _byte_at(layout.words, starts[has_state], layout.state_at)
        if found is None:
            return None
        state[has_state] = found
    kind = np.zeros(count, np.uint8)
    has_type = sizes > layout.type_at
    if bool(has_type.any()):
        found = _byte_at(layout.words, starts[has_type], layout.type_at)
        if found is None:
            return None
        kind[has_type] = found
    return pl.DataFrame({"head": head}).select(
        owner=pl.col("head").bin.slice(0, 32),
        amount=pl.col("head")
        .bin.slice(32, 8)
        .bin.reinterpret(dtype=pl.UInt64, endianness="little"),
        state=_series(state, pa.uint8()),
        slice_len=_series(sizes.astype(np.uint32), pa.uint32()),
        account_type=pl.when(_series(has_type.view(np.uint8), pa.uint8()) == 1)
        .then(_series(kind, pa.uint8()))
        .otherwise(pl.lit(None, dtype=pl.UInt8)),
    )


def _parts(length: int) -> int:
    """Threads to split the work over: numpy and polars release the GIL for their bulk work."""
    return max(1, min(pl.thread_pool_size(), _MAX_PARTS, length // _MIN_PART))


@dataclass
class Found:
    """The scan's first step over a whole body: the offsets of the account items and of their
    strings; and, from a ``StreamScan``, the columns of the first ``decoded`` strings, decoded
    while the rest arrived (``decode_by_scan`` checks the whole before it uses them)."""

    items: np.ndarray
    starts: np.ndarray
    frames: list[pl.DataFrame] = field(default_factory=list)
    decoded: int = 0


_BATCH = 1 << 16  # strings decoded at a time while the body arrives


class StreamScan:
    """Scans the body while it arrives: the reader writes into ``buffer`` and reports each
    new end with ``arrived``; a thread finds the items and strings of every whole chunk as
    soon as it (and the 16 bytes the checks read past it) is there, and decodes the columns
    of every string whose next item has arrived, about ``_BATCH`` at a time, so download and
    decoding overlap. ``found()`` waits for the end and gives what ``decode_by_scan`` takes.
    Anything unexpected stops the early decoding only: ``decode_by_scan`` then does it all."""

    def __init__(self, size: int, *, state_at: int, type_at: int) -> None:
        self.buffer = bytearray(size)
        self._size = size
        self._layout = _Layout(
            raw=self.buffer,
            words=_eight_bytes_at_every_offset(self.buffer),
            state_at=state_at,
            type_at=type_at,
        )
        self._arrived = 0
        self._failed = False
        self._ready = threading.Condition()
        self._items: list[np.ndarray] = []
        self._starts: list[np.ndarray] = []
        self._frames: list[pl.DataFrame] | None = []
        self._decoded = 0
        self._broken = False
        self._thread = threading.Thread(target=self._scan, name="snapshot-scan", daemon=True)
        self._thread.start()

    def arrived(self, end: int) -> None:
        with self._ready:
            self._arrived = end
            self._ready.notify()

    def abandon(self) -> None:
        """The body will not be complete (a read failed): stop scanning."""
        with self._ready:
            self._failed = True
            self._ready.notify()
        self._thread.join()

    def _scan(self) -> None:
        try:
            self._scan_chunks()
        except Exception:  # a bug here must not lose accounts: found() then says nothing
            self._broken = True
            raise

    def _scan_chunks(self) -> None:
        if self._size < 8:
            return
        body = np.frombuffer(self.buffer, dtype=np.uint8)
        words = self._layout.words
        done = 0
        waiting = (np.empty(0, np.intp), np.empty(0, np.intp))  # not decoded yet
        while done < self._size:
            with self._ready:
                while not self._failed and not (
                    self._arrived == self._size or self._arrived >= done + _CHUNK + 16
                ):
                    self._ready.wait()
                if self._failed:
                    return
                arrived = self._arrived
            if arrived == self._size:
                high = self._size
            else:  # whole chunks whose checks can read 16 bytes past their end
                high = done + (arrived - 16 - done) // _CHUNK * _CHUNK
            items, starts = _items_and_strings(body, words, done, high)
            self._items.append(items)
            self._starts.append(starts)
            done = high
            waiting = (np.concatenate([waiting[0], items]), np.concatenate([waiting[1], starts]))
            if self._frames is not None and (len(waiting[1]) > _BATCH or done == self._size):
                waiting = self._decode(waiting, final=done == self._size)

    def _decode(
        self, waiting: tuple[np.ndarray, np.ndarray], *, final: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Columns of the waiting strings whose next item is known; the others wait on."""
        items, starts = waiting
        if final:
            count = len(starts)
            following = np.append(items[1:], self._size)
            paired = len(items) == count
        else:
            count = min(len(items), len(starts)) - 1
            following = items[1 : count + 1]
            paired = True
        if count <= 0:
            return waiting
        head = starts[:count]
        paired = (
            paired and bool((items[:count] < head).all()) and bool((head < following[:count]).all())
        )
        widths = (
            _widths(self.buffer, self._layout.words, head, following[:count]) if paired else None
        )
        sizes = _sizes(self._layout.words, head, widths) if widths is not None else None
        frame = _columns(self._layout, head, sizes) if sizes is not None else None
        if frame is None or self._frames is None:
            self._frames = None  # decode_by_scan decides, on the whole body
            return waiting
        self._frames.append(frame)
        self._decoded += count
        return items[count:], starts[count:]

    def found(self) -> Found | None:
        """What the scan found, or None when it could not finish (``decode_by_scan`` then
        scans the whole body itself)."""
        self._thread.join()
        if self._broken or self._failed:
            return None
        items = np.concatenate(self._items or [np.empty(0, np.intp)])
        starts = np.concatenate(self._starts or [np.empty(0, np.intp)])
        if self._frames is None:
            return Found(items, starts)
        return Found(items, starts, self._frames, self._decoded)


def decode_by_scan(
    raw: bytes | bytearray,
    *,
    state_at: int,
    type_at: int,
    parts: int | None = None,
    found: Found | None = None,
) -> pl.DataFrame | None:
    """Columns owner, amount, state, slice_len, account_type; None when the body does not have
    the shape this decoder reads (the caller then falls back). ``parts``: threads to split
    the body over (default: polars' pool size for a large body, else one); ``found``: the
    items and strings when a ``StreamScan`` found them while the body arrived."""
    if len(raw) >= 2**31 or len(raw) < 8:
        return None  # Arrow views address the body with 32-bit offsets
    body = np.frombuffer(raw, dtype=np.uint8)
    words = _eight_bytes_at_every_offset(raw)
    parts = parts or _parts(len(raw))
    step = -(-len(raw) // parts)
    with ThreadPoolExecutor(parts) as pool:
        if found is None:
            pieces = list(
                pool.map(
                    lambda low: _items_and_strings(body, words, low, min(low + step, len(raw))),
                    range(0, len(raw), step),
                )
            )
            found = Found(
                np.concatenate([pair[0] for pair in pieces]),
                np.concatenate([pair[1] for pair in pieces]),
            )
        items, starts = found.items, found.starts
        count = len(starts)
        if count == 0 or len(items) != count:
            return None
        if not (bool((items < starts).all()) and bool((starts[:-1] < items[1:]).all())):
            return None  # an item without its data string, or one with two
        early = found.decoded  # the strings before it were decoded as the body arrived
        rest = starts[early:]
        widths = _widths(raw, words, rest, np.append(items[early + 1 :], len(raw)))
        sizes = _sizes(words, rest, widths) if widths is not None else None
        if sizes is None:
            return None
        layout = _Layout(raw=raw, words=words, state_at=state_at, type_at=type_at)
        bounds = np.linspace(0, len(rest), parts + 1).astype(np.intp)
        frames: list[pl.DataFrame | None] = [*found.frames]
        if len(rest):
            frames += pool.map(
                lambda low, high: _columns(layout, rest[low:high], sizes[low:high]),
                bounds[:-1],
                bounds[1:],
            )
    if any(frame is None for frame in frames):
        return None
    return pl.concat([frame for frame in frames if frame is not None], rechunk=False)
