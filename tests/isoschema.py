"""Check an XML document against an ISO 20022 message's generated model (python-iso20022: one
dataclass per XSD complex type, with the schema's facets in the field metadata): every element
known to its parent's type, in the schema's sequence order, required ones present, occurrences
within bounds, one branch of each choice, and simple values within their facets (length,
pattern, digits, enumerations, booleans, date-times)."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections import Counter
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any
from xml.etree import ElementTree as ET

from xsdata.models.datatype import XmlDate, XmlDateTime


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _fields(cls: type) -> dict[str, tuple[int, dict[str, Any], Any, bool]]:
    hints = typing.get_type_hints(cls)
    out = {}
    for index, field in enumerate(dataclasses.fields(cls)):
        name = field.metadata.get("name")
        if not name or field.metadata.get("type") == "Attribute":
            continue
        kind = hints[field.name]
        many = typing.get_origin(kind) is list
        if many:
            target = typing.get_args(kind)[0]
        else:  # X, or Optional[X]
            target = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
        out[name] = (index, dict(field.metadata), target, many)
    return out


def _simple(value: str, meta: dict[str, Any], kind: Any, path: str) -> list[str]:
    problems = []
    if isinstance(kind, type) and issubclass(kind, Enum):
        if value not in {member.value for member in kind}:
            problems.append(f"{path}: {value!r} is not a {kind.__name__}")
        return problems
    if kind is bool and value not in ("true", "false", "1", "0"):
        problems.append(f"{path}: {value!r} is not a boolean")
    if kind is XmlDateTime or kind is XmlDate:
        try:
            kind.from_string(value)
        except ValueError:
            problems.append(f"{path}: {value!r} is not an ISO {kind.__name__}")
    if kind is Decimal:
        try:
            number = Decimal(value)
        except InvalidOperation:
            return [f"{path}: {value!r} is not a decimal"]
        digits = number.as_tuple()
        fraction = max(0, -int(digits.exponent))
        if "fraction_digits" in meta and fraction > meta["fraction_digits"]:
            problems.append(f"{path}: {value} has more than {meta['fraction_digits']} decimals")
        if "total_digits" in meta and len(digits.digits) > meta["total_digits"]:
            problems.append(f"{path}: {value} has more than {meta['total_digits']} digits")
    if "min_length" in meta and len(value) < meta["min_length"]:
        problems.append(f"{path}: {value!r} is shorter than {meta['min_length']}")
    if "max_length" in meta and len(value) > meta["max_length"]:
        problems.append(f"{path}: {value!r} is longer than {meta['max_length']}")
    if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
        problems.append(f"{path}: {value!r} does not match {meta['pattern']}")
    return problems


def problems(element: ET.Element, cls: type, path: str = "") -> list[str]:
    """Every way ``element`` (whose type is ``cls``) departs from the schema; empty when none."""
    fields = _fields(cls)
    found: list[str] = []
    counts: Counter[str] = Counter()
    last = -1
    for child in element:
        tag = _local(child.tag)
        where = f"{path}/{tag}"
        if tag not in fields:
            found.append(f"{where}: not an element of {cls.__name__}")
            continue
        index, meta, kind, _ = fields[tag]
        if index < last:
            found.append(f"{where}: out of the schema's order")
        last = max(last, index)
        counts[tag] += 1
        if dataclasses.is_dataclass(kind):
            found += problems(child, kind, where)
        else:
            found += _simple((child.text or "").strip(), meta, kind, where)
    for tag, (_, meta, _, many) in fields.items():
        least = meta.get("min_occurs", 1 if meta.get("required") else 0)
        most = meta.get("max_occurs", None if many else 1)
        if counts[tag] < least:
            found.append(f"{path}/{tag}: required, missing")
        if most is not None and counts[tag] > most:
            found.append(f"{path}/{tag}: {counts[tag]} times, at most {most}")
    if "Choice" in cls.__name__ and len(+counts) != 1:  # one branch (which may repeat)
        found.append(f"{path}: a choice needs exactly one of {', '.join(fields)}")
    return found
