"""Find the ISO 20022 parts of a message inside any envelope, by namespace, and
validate each against its own XSD.

Which message types are accepted is the caller's choice (``accept``): the pacs.008
intake accepts SUPPORTED (pacs.008 only); ``read_message`` accepts RECOGNISED (pacs.008,
camt.056 cancellation requests, pacs.028 status requests). A namespace outside the
accepted set is refused before validation with the recognised type in
``MessageRejected.message_type``, so a caller can tell "wrong declared type" from "bad".

Accepted shapes (the wrapper's own name and namespace do not matter):
- a bare ``Document`` (``urn:iso:std:iso:20022:tech:xsd:pacs.008.001.0X``);
- ``AppHdr`` (head.001.001.02) and ``Document`` under any wrapper (CBPR+ ``Envelope``,
  ``RequestPayload``, ...);
- a scheme wrapper holding the bare message element (``FIToFICstmrCdtTrf``,
  ``FIToFIPmtCxlReq``, ``FIToFIPmtStsReq``) without a
  ``Document`` (TCH RTP): it is moved into a Document of its namespace for validation.
An AppHdr of a version we have no schema for (head.001.001.01, .03) is recorded in
``notes`` and otherwise ignored.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from lxml import etree

from . import schemas
from .errors import MessageRejected, rejected, safe_text

ISO_NS_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"
_MSG_ID = re.compile(r"^([a-z]{4})\.(\d{3})\.(\d{3})\.(\d{2})$")
SUPPORTED = ("pacs.008.001.07", "pacs.008.001.08", "pacs.008.001.09")  # the pacs.008 intake
# Inbound types by family, in the versions we ship an official XSD for (camt.056.001.08 is
# the version CBPR+ and FedNow use).
VERSIONS = {
    "pacs.008": SUPPORTED,
    "camt.056": ("camt.056.001.08", "camt.056.001.09", "camt.056.001.12"),
    "pacs.028": ("pacs.028.001.03",),
}
RECOGNISED = tuple(v for versions in VERSIONS.values() for v in versions)
MESSAGE_ELEMENT = {"pacs.008": "FIToFICstmrCdtTrf", "camt.056": "FIToFIPmtCxlReq", "pacs.028": "FIToFIPmtStsReq"}
# where the message's own identification sits below the message element
_MSG_ID_PATH = {"pacs.008": "GrpHdr/MsgId", "camt.056": "Assgnmt/Id", "pacs.028": "GrpHdr/MsgId"}
HEADER_SCHEMAS = ("head.001.001.02",)
ENVELOPE_DEPTH = 4  # how far below the root the ISO parts may sit


@dataclass(frozen=True)
class Recognised:
    message_type: str  # e.g. "pacs.008.001.08"
    document: etree._Element  # the validated Document element
    app_hdr: etree._Element | None  # the validated AppHdr, if one we can validate
    app_hdr_type: str | None  # e.g. "head.001.001.02"
    envelope: str | None  # wrapper root in Clark notation; None for a bare Document
    notes: tuple[str, ...] = ()


def split_tag(tag: str) -> tuple[str, str]:
    if tag[:1] == "{":
        end = tag.index("}")
        return tag[1:end], tag[end + 1 :]
    return "", tag


def message_id_of(namespace: str) -> str | None:
    """``"pacs.008.001.08"`` for an ISO 20022 message namespace, else None."""
    if namespace.startswith(ISO_NS_PREFIX):
        ident = namespace[len(ISO_NS_PREFIX) :]
        if _MSG_ID.match(ident):
            return ident
    return None


def _iso_parts(root: etree._Element) -> list[etree._Element]:
    """The outermost ISO-namespaced elements, in document order, down to ENVELOPE_DEPTH."""
    found: list[etree._Element] = []
    stack = [(root, 0)]
    while stack:
        el, depth = stack.pop()
        tag = el.tag
        if not isinstance(tag, str):
            continue
        if tag.startswith("{" + ISO_NS_PREFIX):
            found.append(el)
        elif depth < ENVELOPE_DEPTH:
            stack.extend((child, depth + 1) for child in reversed(el))
    return found


def family_of(message_type: str) -> str:
    """``"camt.056"`` for ``"camt.056.001.09"``."""
    return message_type[:8]


def recognise(root: etree._Element, accept: Collection[str] = SUPPORTED) -> Recognised:
    """Locate, check and validate the ISO parts under ``root``; raise MessageRejected (FF01).

    ``accept``: the message types (e.g. ``"camt.056.001.09"``) the caller takes."""
    ns, local = split_tag(root.tag)
    ident = message_id_of(ns)
    if ident is not None and local == "Document":  # fast path: a bare Document
        _check_supported(ident, accept)
        _validate_document(root, ident)
        return Recognised(ident, root, None, None, None)
    return _recognise_enveloped(root, accept)


def _recognise_enveloped(root: etree._Element, accept: Collection[str]) -> Recognised:
    headers: list[tuple[str, etree._Element]] = []
    fragments: set[str] = set()
    messages: dict[str, list[etree._Element]] = {}
    for el in _iso_parts(root):
        ns, local = split_tag(el.tag)
        ident = message_id_of(ns)
        if ident is None:
            raise rejected(f"unrecognised ISO 20022 namespace {safe_text(ns, 60)}")
        if ident.startswith("head."):
            if local == "AppHdr":
                headers.append((ident, el))
            else:
                fragments.add(ident)
        else:
            messages.setdefault(ident, []).append(el)
    if not messages:
        raise rejected("AppHdr without an ISO 20022 Document" if headers or fragments else "no ISO 20022 namespace")
    if len(messages) > 1:
        raise rejected("more than one ISO 20022 message: " + ", ".join(sorted(messages)))
    ((ident, parts),) = messages.items()
    _check_supported(ident, accept)
    document = _document_of(ident, parts)
    if len(headers) > 1:
        raise rejected("more than one AppHdr", message_type=ident)
    notes: list[str] = []
    app_hdr: etree._Element | None = None
    app_hdr_type: str | None = None
    for version in sorted(fragments):
        notes.append(f"AppHdr {version} ignored: header fields inside a non-ISO element")
    if headers:
        version, el = headers[0]
        if version in HEADER_SCHEMAS:
            schemas.validate(el, version, label=f"AppHdr {version}")
            app_hdr, app_hdr_type = el, version
        else:
            notes.append(f"AppHdr {version} ignored: no schema for this version")
    _validate_document(document, ident)
    return Recognised(ident, document, app_hdr, app_hdr_type, root.tag, tuple(notes))


def _check_supported(ident: str, accept: Collection[str]) -> None:
    if ident in accept:
        return
    family = family_of(ident)
    versions = [v for v in accept if family_of(v) == family]
    if versions:  # a family we take, in a version we have no schema for
        listed = ", ".join(v[9:] for v in sorted(versions))
        raise rejected(
            f"unsupported message type {ident}: {family} is accepted in versions {listed}", message_type=ident
        )
    raise rejected(f"unsupported message type {ident}", message_type=ident)


def _document_of(ident: str, parts: list[etree._Element]) -> etree._Element:
    ns = ISO_NS_PREFIX + ident
    locals_ = [split_tag(el.tag)[1] for el in parts]
    if len(parts) == 1 and locals_[0] == "Document":
        return parts[0]
    if len(parts) == 1 and locals_[0] == MESSAGE_ELEMENT[ident[:8]]:
        # a None key is the default namespace (lxml allows it, lxml-stubs does not say so)
        document = etree.Element(f"{{{ns}}}Document", nsmap={None: ns})  # type: ignore[dict-item]
        document.append(parts[0])  # moved, not copied: the envelope is not needed any more
        return document
    if locals_.count("Document") > 1:
        raise rejected(f"more than one {ident} Document", message_type=ident)
    found = safe_text(", ".join(dict.fromkeys(locals_)), 60)
    raise rejected(f"{ident} content outside a Document ({found})", message_type=ident)


def _validate_document(document: etree._Element, ident: str) -> None:
    try:
        schemas.validate(document, ident)
    except MessageRejected as exc:
        exc.msg_id = _msg_id_hint(document, ident)
        raise


def _msg_id_hint(document: etree._Element, ident: str) -> str | None:
    """GrpHdr/MsgId before validation, only for referring to a rejected message."""
    ns = "{" + ISO_NS_PREFIX + ident + "}"
    family = family_of(ident)
    path = "/".join(ns + step for step in _MSG_ID_PATH[family].split("/"))
    text: str | None = document.findtext(f"{ns}{MESSAGE_ELEMENT[family]}/{path}")
    if text and 0 < len(text) <= 35 and text == safe_text(text, 35):
        return text
    return None
