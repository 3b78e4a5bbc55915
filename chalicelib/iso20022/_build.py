"""Shared pieces of the outbound builders (pacs.002, camt.029, pacs.004).

Everything here is deterministic: no clock, no random ids. Values are made XML-safe
and clipped; codes and identifiers the schema would refuse raise ValueError, so a
builder never returns a message that its XSD would reject for a caller's typo.
"""

from __future__ import annotations

import re
import textwrap
from datetime import datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from .recognise import ISO_NS_PREFIX

ADDTL_INF_MAX = 105
ADDTL_INF_COUNT = 3  # narrative capped at 3 x 105 characters

CODE4 = re.compile(r"^[A-Z0-9]{4}$")
BIC = re.compile(r"^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
UUID4 = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}$")
CCY = re.compile(r"^[A-Z]{3}$")
AMOUNT = re.compile(r"^(0|[1-9]\d{0,17})(\.\d{1,5})?$")  # ActiveCurrencyAndAmount's form; its digits: canonical_amount
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NOT_XML = re.compile(r"[^\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]+")


def text(value: object, max_len: int) -> str:
    """XML-safe, single-line, clipped."""
    return " ".join(_NOT_XML.sub(" ", str(value)).split())[:max_len]


def iso(moment: datetime, what: str) -> str:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")


def canonical_amount(value: object) -> str | None:
    """An amount's canonical text ('+01234.560000' is '1234.56'), or None when it is not a
    valid ActiveCurrencyAndAmount value. Inbound amounts are kept as sent (any xs:decimal
    text of a valid value); what we write is canonical, and the XSD bounds the value's
    digits (18, 5 after the point), so trailing zeros are dropped only past the fifth."""
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    whole, _, fraction = format(number, "f").partition(".")  # exact: no exponent, '+' or leading zeros
    if len(fraction) > 5 or _digits(whole, fraction) > 18:
        fraction = fraction.rstrip("0")
    text = f"{whole}.{fraction}" if fraction else whole
    return text if AMOUNT.match(text) and _digits(whole, fraction) <= 18 else None


def _digits(whole: str, fraction: str) -> int:
    return len(whole.lstrip("0")) + len(fraction)


def check(pattern: re.Pattern[str], value: object, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"{what} {value!r} is not valid")
    return value


def identifier(value: object, what: str, max_len: int = 35) -> str:
    """A required MaxNNText identifier given by the caller (never clipped silently)."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be 1-{max_len} characters")
    cleaned = text(value, max_len + 1)
    if not cleaned or len(cleaned) > max_len:
        raise ValueError(f"{what} must be 1-{max_len} characters")
    return cleaned


def serialise(doc: etree._Element) -> bytes:
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8", pretty_print=True)


class Builder:
    """Creates elements in one message namespace (default namespace, no prefix)."""

    def __init__(self, message_type: str) -> None:
        self.ns = ISO_NS_PREFIX + message_type
        self.n = "{" + self.ns + "}"

    def document(self) -> etree._Element:
        # a None key is the default namespace (lxml allows it, lxml-stubs does not say so)
        return etree.Element(self.n + "Document", nsmap={None: self.ns})  # type: ignore[dict-item]

    def sub(self, parent: etree._Element, name: str, value: str | None = None) -> etree._Element:
        el = etree.SubElement(parent, self.n + name)
        if value is not None:
            el.text = value
        return el

    def opt(self, parent: etree._Element, name: str, value: str | None) -> None:
        if value:
            self.sub(parent, name, value)

    def uetr(self, parent: etree._Element, name: str, value: str | None) -> None:
        """Only a well-formed UUIDv4 (a foreign scheme's odd value is left out, not sent on)."""
        if value and UUID4.match(value):
            self.sub(parent, name, value)

    def amount(
        self, parent: etree._Element, name: str, value: str | None, ccy: str | None, *, required: bool = False
    ) -> None:
        """An amount, written in canonical form (``canonical_amount``). A required one (the
        caller's) must be valid; an optional one echoed from an inbound message is left out
        when it is not."""
        canonical = canonical_amount(value) if value else None
        if not required and not (canonical and ccy and CCY.match(ccy)):
            return
        if not value or not ccy:
            raise ValueError(f"{name} needs an amount and a currency")
        if canonical is None:
            raise ValueError(f"{name} amount {value!r} is not valid")
        check(CCY, ccy, f"{name} currency")
        self.sub(parent, name, canonical).set("Ccy", ccy)

    def narrative(self, parent: etree._Element, value: str | None) -> None:
        """AddtlInf lines (Max105Text, at most 3), word-wrapped."""
        cleaned = text(value or "", ADDTL_INF_MAX * ADDTL_INF_COUNT)
        if not cleaned:
            return
        lines = [cleaned] if len(cleaned) <= ADDTL_INF_MAX else textwrap.wrap(cleaned, ADDTL_INF_MAX)
        for chunk in lines[:ADDTL_INF_COUNT]:
            self.sub(parent, "AddtlInf", chunk)

    def agent(self, parent: etree._Element, name: str, ident: str | None, scheme: str | None) -> None:
        """BranchAndFinancialInstitutionIdentification6 from an extracted (id, scheme)."""
        if not ident:
            return
        scheme = scheme or ("BICFI" if BIC.match(ident) else "Othr")
        if scheme == "BICFI" and not BIC.match(ident):
            scheme = "Othr"
        fin = self.sub(self.sub(parent, name), "FinInstnId")
        if scheme == "BICFI":
            self.sub(fin, "BICFI", ident)
        elif scheme.startswith("ClrSysMmbId"):
            mmb = self.sub(fin, "ClrSysMmbId")
            code = scheme.partition(":")[2][:5]
            if code:
                self.sub(self.sub(mmb, "ClrSysId"), "Cd", code)
            self.sub(mmb, "MmbId", text(ident, 35))
        elif scheme == "LEI":
            self.sub(fin, "LEI", ident)
        elif scheme == "Nm":
            self.sub(fin, "Nm", text(ident, 140))
        else:
            self.sub(self.sub(fin, "Othr"), "Id", text(ident, 35))

    def party(self, parent: etree._Element, name: str, ident: str | None, scheme: str | None) -> bool:
        """Party40Choice: an agent (Agt) or, for scheme "Pty" or "Pty:LEI", a party known by
        name or by its LEI."""
        if not ident:
            return False
        if scheme == "Pty":
            self.sub(self.sub(self.sub(parent, name), "Pty"), "Nm", text(ident, 140))
        elif scheme == "Pty:LEI":
            self.sub(self.sub(self.sub(self.sub(self.sub(parent, name), "Pty"), "Id"), "OrgId"), "LEI", ident)
        else:
            self.agent(self.sub(parent, name), "Agt", ident, scheme)
        return True
