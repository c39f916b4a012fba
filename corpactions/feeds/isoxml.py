"""What the ISO 20022 readers share: safe parsing, Documents in a file, text and date lookups
that ignore namespaces (so any message version reads the same)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import partial
from typing import Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from corpactions.feeds.normalized import (
    MalformedPayload,
    NormalizedAction,
    Rejected,
    escape_controls,
    parse_record,
)

MAX_XML_DEPTH = 64
"""Element nesting a file may have (a seev.031 is about 12 deep)."""


def _too_deep(root: ET.Element) -> bool:
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_XML_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in node)
    return False


def text(node: ET.Element | None, path: str) -> str | None:
    if node is None:
        return None
    found = node.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def date_of(node: ET.Element | None, tag: str) -> Any:
    """``tag``'s Dt or DtTm child (directly or one level down, as DtOrDtTm choices nest)."""
    return (
        text(node, f"{{*}}{tag}/{{*}}Dt")
        or text(node, f"{{*}}{tag}/{{*}}DtTm")
        or text(node, f"{{*}}{tag}/*/{{*}}Dt")
        or text(node, f"{{*}}{tag}/*/{{*}}DtTm")
    )


def ticker(security: ET.Element | None) -> tuple[str | None, str | None]:
    """(ticker, ISIN) of a FinInstrmId: OthrId typed TS/TICKER, else the description."""
    if security is None:
        return None, None
    isin = text(security, ".//{*}ISIN")
    for other in security.iterfind(".//{*}OthrId"):
        kind = text(other, "{*}Tp/{*}Cd") or text(other, "{*}Tp/{*}Prtry")
        if kind in ("TS", "TICKER"):
            return text(other, "{*}Id"), isin
    return text(security, ".//{*}Desc"), isin


def safe_root(payload: bytes, what: str) -> ET.Element:
    """The file's root element, parsed without DTDs or entities and refused past
    ``MAX_XML_DEPTH``; ``MalformedPayload`` says why a file cannot be read."""
    try:
        root: ET.Element = SafeET.fromstring(payload, forbid_dtd=True)
    except ET.ParseError as exc:
        raise MalformedPayload(f"{what} file is not well-formed XML: {exc}") from exc
    except DefusedXmlException as exc:
        raise MalformedPayload(
            f"{what} file refused: {exc} (DTDs and entities are not accepted)"
        ) from exc
    if _too_deep(root):
        raise MalformedPayload(f"{what} file is nested deeper than {MAX_XML_DEPTH} elements")
    return root


def read_documents(
    payload: bytes,
    *,
    source: str,
    what: str,
    parse: Callable[[ET.Element, str, str | None], NormalizedAction],
    reference: Callable[[ET.Element], str | None],
) -> list[NormalizedAction | Rejected]:
    """Every Document in the file through ``parse(document, canonical_xml, created)``; one that
    fails validation is a ``Rejected`` record (quarantined), the others go on."""
    root = safe_root(payload, what)
    if root.tag.rsplit("}", 1)[-1] == "Document":
        documents = [(root, root)]
    else:
        documents = [(doc, root) for doc in root.iter() if doc.tag.rsplit("}", 1)[-1] == "Document"]
    if not documents:
        raise MalformedPayload(f"no {what} Document element in the file")
    records: list[NormalizedAction | Rejected] = []
    for number, (document, container) in enumerate(documents, start=1):
        raw = ET.canonicalize(ET.tostring(document, encoding="unicode"), strip_text=True)
        created = text(container, ".//{*}CreDt") or text(container, ".//{*}CreDtTm")
        ref = reference(document)
        records.append(
            parse_record(
                source,
                raw,
                f"Document {number}",
                escape_controls(ref)[:128] if ref else None,
                partial(parse, document, raw, created),
            )
        )
    return records
