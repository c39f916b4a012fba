"""The payload formats a feed file can be in, the parser of each, and the bounded reading of a
payload: a file that cannot be read at all is one ``MalformedPayload`` (quarantined whole),
never an unexpected exception."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from enum import StrEnum
from typing import BinaryIO

from corpactions.feeds import alpaca, alpaca_data, ownformat, polygon, seev001, seev031
from corpactions.feeds.normalized import (
    MalformedPayload,
    NormalizedAction,
    Rejected,
    each_record,
    load_json,
)

Parser = Callable[[bytes], list[NormalizedAction | Rejected]]


class FeedFormat(StrEnum):
    polygon = "polygon"
    alpaca = "alpaca"
    alpaca_data = "alpaca-data"
    seev031 = "seev031"
    seev001 = "seev001"
    csv = "csv"
    json = "json"


PARSERS: dict[FeedFormat, tuple[str, Parser]] = {
    FeedFormat.polygon: (polygon.SOURCE, lambda raw: polygon.parse_page(raw).records),
    FeedFormat.alpaca: (alpaca.SOURCE, alpaca.parse_announcements),
    FeedFormat.alpaca_data: (alpaca_data.SOURCE, alpaca_data.parse),
    FeedFormat.seev031: (seev031.SOURCE, seev031.parse_notifications),
    FeedFormat.seev001: (seev001.SOURCE, seev001.parse_notifications),
    FeedFormat.csv: (ownformat.SOURCE, ownformat.parse_csv),
    FeedFormat.json: (ownformat.SOURCE, ownformat.parse_json),
}

SUFFIXES: tuple[tuple[str, FeedFormat], ...] = (
    (".polygon.json", FeedFormat.polygon),
    (".alpaca.json", FeedFormat.alpaca),
    (".alpaca-data.json", FeedFormat.alpaca_data),
    (".seev001.xml", FeedFormat.seev001),
    (".xml", FeedFormat.seev031),
    (".csv", FeedFormat.csv),
    (".json", FeedFormat.json),
)


def format_of(filename: str) -> FeedFormat | None:
    """The format a file name announces by its ending (longest ending first), or None."""
    lower = filename.lower()
    for suffix, fmt in SUFFIXES:
        if lower.endswith(suffix):
            return fmt
    return None


class PayloadTooLarge(MalformedPayload):
    """A payload over ``CORPACTIONS_FEED_MAX_BYTES``; only its head is kept."""

    head: bytes = b""


KEPT_HEAD = 4096
"""Bytes of a refused oversized payload kept in the quarantine."""


def read_bounded(stream: BinaryIO, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of ``stream``, read in blocks; more is a ``PayloadTooLarge``
    that carries the payload's head (never the whole) as ``head``."""
    blocks: list[bytes] = []
    size = 0
    while block := stream.read(min(1 << 20, limit + 1 - size)):
        blocks.append(block)
        size += len(block)
        if size > limit:
            error = PayloadTooLarge(
                f"{what} is larger than {limit} bytes (CORPACTIONS_FEED_MAX_BYTES); not read"
            )
            error.head = b"".join(blocks)[:KEPT_HEAD]
            raise error
    return b"".join(blocks)


def parse_payload(fmt: FeedFormat, raw: bytes) -> list[NormalizedAction | Rejected]:
    """The records of a whole payload, or ``MalformedPayload`` when it cannot be read at all
    (whatever the reason: bad encoding, nesting past the interpreter's depth, a parser fault)."""
    _, parse = PARSERS[fmt]
    try:
        return parse(raw)
    except MalformedPayload:
        raise
    except RecursionError as exc:
        raise MalformedPayload(f"{fmt.value} payload is nested too deeply to read") from exc
    except (ValueError, TypeError, UnicodeError, LookupError) as exc:
        raise MalformedPayload(f"{fmt.value} payload cannot be read: {exc}") from exc


def reparse_record(fmt: FeedFormat, raw: str) -> list[NormalizedAction | Rejected]:
    """Parse again one record as the quarantine stored it (``feeds requeue``): a JSON object
    of its provider's shape, an own-format row as a JSON object, or an ISO 20022 Document."""
    if fmt in (FeedFormat.seev031, FeedFormat.seev001):
        return parse_payload(fmt, raw.encode())
    item = load_json(raw, "quarantined record")
    if fmt == FeedFormat.polygon:
        return each_record(
            [item], source=polygon.SOURCE, parse=polygon.result, reference=lambda _: None
        )
    if fmt == FeedFormat.alpaca_data:
        return alpaca_data.parse_items([item])
    if fmt == FeedFormat.alpaca:
        return each_record(
            [item], source=alpaca.SOURCE, parse=alpaca.announcement, reference=lambda _: None
        )
    return each_record(
        [item], source=ownformat.SOURCE, parse=ownformat.record, reference=lambda _: None
    )


def at_page(
    records: list[NormalizedAction | Rejected], page: int
) -> list[NormalizedAction | Rejected]:
    """``records`` of a provider's ``page``-th response, their positions saying so."""
    return [
        replace(r, position=f"page {page} {r.position}" if r.position else f"page {page}")
        for r in records
    ]
