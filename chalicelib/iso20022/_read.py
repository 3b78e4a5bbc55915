"""Reading helpers shared by the extractions (pacs.008, camt.056, pacs.028).

Values are strings clipped to their XSD maximum (amounts and dateTimes are read whole:
``whole_text``), agents are given by their first identifier in ISO order with a ``scheme``
naming which one ("BICFI", "ClrSysMmbId[:<code>]", "LEI", "Othr", "Nm"; "Pty" for a
party known by name in a Party40/50Choice).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Self

from lxml import etree

from .recognise import ISO_NS_PREFIX, Recognised

# An agent's identifiers in ISO order; the name last, for the messages that allow one.
AGENT_IDS = (("BICFI", 11), ("ClrSysMmbId/MmbId", 35), ("LEI", 20), ("Othr/Id", 35))
AGENT_IDS_OR_NAME = (*AGENT_IDS, ("Nm", 140))


def whole_text(el: etree._Element | None) -> str | None:
    """An xs:decimal's or xs:dateTime's text, whole (whitespace collapsed as the XSD does).
    The XSD bounds neither's text (leading or trailing zeros, a '+', any number of fraction
    digits): clipping would change an amount's value and make a dateTime invalid where it
    is echoed (OrgnlCreDtTm). The message size limit bounds them."""
    return ((el.text or "").strip() or None) if el is not None else None


class Finder:
    """Navigates one message's namespace by local names, through per-element child indexes
    (a dict per visited element: cheaper than ElementPath for a few dozen lookups)."""

    def __init__(self, message_type: str, agent_ids: tuple[tuple[str, int], ...] = AGENT_IDS_OR_NAME) -> None:
        self.ns = "{" + ISO_NS_PREFIX + message_type + "}"
        self.skip = len(self.ns)
        self.agent_ids = agent_ids
        self._memo: dict[etree._Element, dict[str, etree._Element]] = {}

    def kids(self, el: etree._Element) -> dict[str, etree._Element]:
        index = self._memo.get(el)
        if index is None:
            index = {}
            for child in el:
                tag = child.tag
                if isinstance(tag, str) and tag.startswith(self.ns):
                    index.setdefault(tag[self.skip :], child)
            self._memo[el] = index
        return index

    def find(self, el: etree._Element | None, path: str) -> etree._Element | None:
        for step in path.split("/"):
            if el is None:
                return None
            el = self.kids(el).get(step)
        return el

    def all(self, el: etree._Element | None, name: str) -> list[etree._Element]:
        if el is None:
            return []
        tag = self.ns + name
        return [child for child in el if child.tag == tag]

    def text(self, el: etree._Element | None, path: str, max_len: int, *, strip: bool = False) -> str | None:
        found = self.find(el, path)
        if found is None or not found.text:
            return None
        value = found.text.strip() if strip else found.text
        return value[:max_len] or None

    def texts(self, el: etree._Element | None, name: str, max_len: int) -> tuple[str, ...]:
        return tuple(e.text[:max_len] for e in self.all(el, name) if e.text)

    def agent(self, el: etree._Element | None, path: str) -> tuple[str | None, str | None]:
        """(identifier, scheme) of a BranchAndFinancialInstitutionIdentification."""
        fin = self.find(el, f"{path}/FinInstnId" if path else "FinInstnId")
        if fin is None:
            return None, None
        for sub, max_len in self.agent_ids:
            value = self.text(fin, sub, max_len, strip=True)
            if value:
                scheme = sub.split("/")[0]
                if scheme == "ClrSysMmbId":
                    code = self.text(fin, "ClrSysMmbId/ClrSysId/Cd", 5, strip=True)
                    scheme = f"ClrSysMmbId:{code}" if code else scheme
                return value, scheme
        return None, None

    def account(self, el: etree._Element | None, path: str) -> tuple[str | None, str | None]:
        """(identifier, scheme) of a CashAccount: IBAN, else Othr/Id with its SchmeNm."""
        acct = self.find(el, path + "/Id")
        if acct is None:
            return None, None
        iban = self.text(acct, "IBAN", 34, strip=True)
        if iban:
            return iban, "IBAN"
        other = self.text(acct, "Othr/Id", 34, strip=True)
        if not other:
            return None, None
        name = self.text(acct, "Othr/SchmeNm/Cd", 4, strip=True) or self.text(
            acct, "Othr/SchmeNm/Prtry", 35, strip=True
        )
        return other, f"Othr:{name}" if name else "Othr"

    def party(self, el: etree._Element | None, path: str) -> tuple[str | None, str | None]:
        """Party40Choice / Party50Choice: Agt (an agent) or Pty (a party: BIC, LEI or name;
        scheme "Pty:LEI" or "Pty", so that an answer names it the same way)."""
        choice = self.find(el, path)
        if choice is None:
            return None, None
        if self.find(choice, "Agt") is not None:
            return self.agent(choice, "Agt")
        pty = self.find(choice, "Pty")
        bic = self.text(pty, "Id/OrgId/AnyBIC", 11, strip=True)
        if bic:
            return bic, "BICFI"
        lei = self.text(pty, "Id/OrgId/LEI", 20, strip=True)
        if lei:
            return lei, "Pty:LEI"
        name = self.text(pty, "Nm", 140)
        return (name, "Pty") if name else (None, None)


def bah_fields(rec: Recognised) -> dict[str, str | None]:
    """Business Application Header fields (only when validated: head.001.001.02)."""
    if rec.app_hdr is None or rec.app_hdr_type is None:
        return {}
    h, hdr = Finder(rec.app_hdr_type), rec.app_hdr

    def party(which: str) -> str | None:
        fi = h.find(hdr, f"{which}/FIId")
        if fi is not None:
            return h.agent(fi, "")[0]
        org = h.find(hdr, f"{which}/OrgId")
        return (
            None
            if org is None
            else (
                h.text(org, "Id/OrgId/AnyBIC", 11, strip=True)
                or h.text(org, "Id/OrgId/LEI", 20, strip=True)
                or h.text(org, "Id/OrgId/Othr/Id", 35)
                or h.text(org, "Nm", 140)
            )
        )

    return dict(
        app_hdr_type=rec.app_hdr_type,
        bah_from=party("Fr"),
        bah_to=party("To"),
        biz_msg_idr=h.text(hdr, "BizMsgIdr", 35),
        msg_def_idr=h.text(hdr, "MsgDefIdr", 35),
        biz_svc=h.text(hdr, "BizSvc", 35),
        bah_cre_dt=whole_text(h.find(hdr, "CreDt")),
    )


class Item:
    """to_dict / from_dict for a flat dataclass of strings (one transaction of a message)."""

    def to_dict(self) -> dict[str, str | None]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of to_dict; unknown keys are ignored, missing ones are None."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


class Record:
    """to_dict / from_dict for the frozen dataclasses of an extracted message: JSON-safe
    strings, None and lists, with `transactions` a list of `transaction_type` dicts."""

    transaction_type: ClassVar[type[Item]]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name == "transactions":
                value = [t.to_dict() for t in value]
            elif f.name == "notes":
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of to_dict; unknown keys are ignored, missing optional keys are None."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["transactions"] = tuple(cls.transaction_type.from_dict(t) for t in data.get("transactions") or ())
        kwargs["notes"] = tuple(data.get("notes") or ())
        return cls(**kwargs)
