"""What the ISO 20022 readers share: safe parsing, Documents in a file, text and date lookups
that ignore namespaces (so any message version reads the same)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from corpactions.errors import InvalidRecord
from corpactions.feeds.normalized import MalformedPayload, NormalizedAction, Rejected


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
    try:
        root = SafeET.fromstring(payload, forbid_dtd=True)
    except ET.ParseError as exc:
        raise MalformedPayload(f"{what} file is not well-formed XML: {exc}") from exc
    except DefusedXmlException as exc:
        raise MalformedPayload(
            f"{what} file refused: {exc} (DTDs and entities are not accepted)"
        ) from exc
    if root.tag.rsplit("}", 1)[-1] == "Document":
        documents = [(root, root)]
    else:
        documents = [(doc, root) for doc in root.iter() if doc.tag.rsplit("}", 1)[-1] == "Document"]
    if not documents:
        raise MalformedPayload(f"no {what} Document element in the file")
    records: list[NormalizedAction | Rejected] = []
    for document, container in documents:
        raw = ET.canonicalize(ET.tostring(document, encoding="unicode"), strip_text=True)
        created = text(container, ".//{*}CreDt") or text(container, ".//{*}CreDtTm")
        try:
            records.append(parse(document, raw, created))
        except InvalidRecord as exc:
            records.append(Rejected(source, exc.message, raw, reference(document)))
    return records
