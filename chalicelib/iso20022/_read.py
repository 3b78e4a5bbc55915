"""Reading helpers for the investigation and status messages (camt.056, pacs.028).

Same conventions as extract.py (pacs.008): values are strings clipped to their XSD
maximum, agents are given by their first identifier in ISO order with a ``scheme``
naming which one ("BICFI", "ClrSysMmbId[:<code>]", "LEI", "Othr", "Nm"; "Pty" for a
party known by name in a Party40/50Choice).
"""
from __future__ import annotations

from .recognise import ISO_NS_PREFIX, Recognised

_AGENT_IDS = (("BICFI", 11), ("ClrSysMmbId/MmbId", 35), ("LEI", 20), ("Othr/Id", 35), ("Nm", 140))


class Finder:
    """Navigation by local names inside one namespace."""

    def __init__(self, message_type: str) -> None:
        self.ns = "{" + ISO_NS_PREFIX + message_type + "}"

    def find(self, el, path: str):
        if el is None:
            return None
        return el.find(self.ns + path.replace("/", "/" + self.ns))

    def all(self, el, name: str) -> list:
        if el is None:
            return []
        return el.findall(self.ns + name)

    def text(self, el, path: str, max_len: int, *, strip: bool = False) -> str | None:
        found = self.find(el, path)
        if found is None or not found.text:
            return None
        value = found.text.strip() if strip else found.text
        return value[:max_len] or None

    def texts(self, el, name: str, max_len: int) -> tuple[str, ...]:
        return tuple(e.text[:max_len] for e in self.all(el, name) if e.text)

    def agent(self, el, path: str) -> tuple[str | None, str | None]:
        fin = self.find(el, f"{path}/FinInstnId" if path else "FinInstnId")
        if fin is None:
            return None, None
        for sub, max_len in _AGENT_IDS:
            value = self.text(fin, sub, max_len, strip=True)
            if value:
                scheme = sub.split("/")[0]
                if scheme == "ClrSysMmbId":
                    code = self.text(fin, "ClrSysMmbId/ClrSysId/Cd", 5, strip=True)
                    scheme = f"ClrSysMmbId:{code}" if code else scheme
                return value, scheme
        return None, None

    def party(self, el, path: str) -> tuple[str | None, str | None]:
        """Party40Choice / Party50Choice: Agt (an agent) or Pty (a party: name or BIC)."""
        choice = self.find(el, path)
        if choice is None:
            return None, None
        if self.find(choice, "Agt") is not None:
            return self.agent(choice, "Agt")
        pty = self.find(choice, "Pty")
        bic = self.text(pty, "Id/OrgId/AnyBIC", 11, strip=True)
        if bic:
            return bic, "BICFI"
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
        return None if org is None else (
            h.text(org, "Id/OrgId/AnyBIC", 11, strip=True) or h.text(org, "Id/OrgId/LEI", 20, strip=True)
            or h.text(org, "Id/OrgId/Othr/Id", 35) or h.text(org, "Nm", 140))

    return dict(
        app_hdr_type=rec.app_hdr_type, bah_from=party("Fr"), bah_to=party("To"),
        biz_msg_idr=h.text(hdr, "BizMsgIdr", 35), msg_def_idr=h.text(hdr, "MsgDefIdr", 35),
        biz_svc=h.text(hdr, "BizSvc", 35), bah_cre_dt=h.text(hdr, "CreDt", 35, strip=True),
    )
