"""The payload formats a feed file can be in, and the parser of each."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from corpactions.feeds import alpaca, ownformat, polygon, seev001, seev031
from corpactions.feeds.normalized import NormalizedAction, Rejected

Parser = Callable[[bytes], list[NormalizedAction | Rejected]]


class FeedFormat(StrEnum):
    polygon = "polygon"
    alpaca = "alpaca"
    seev031 = "seev031"
    seev001 = "seev001"
    csv = "csv"
    json = "json"


PARSERS: dict[FeedFormat, tuple[str, Parser]] = {
    FeedFormat.polygon: (polygon.SOURCE, lambda raw: polygon.parse_page(raw).records),
    FeedFormat.alpaca: (alpaca.SOURCE, alpaca.parse_announcements),
    FeedFormat.seev031: (seev031.SOURCE, seev031.parse_notifications),
    FeedFormat.seev001: (seev001.SOURCE, seev001.parse_notifications),
    FeedFormat.csv: (ownformat.SOURCE, ownformat.parse_csv),
    FeedFormat.json: (ownformat.SOURCE, ownformat.parse_json),
}

SUFFIXES: tuple[tuple[str, FeedFormat], ...] = (
    (".polygon.json", FeedFormat.polygon),
    (".alpaca.json", FeedFormat.alpaca),
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
