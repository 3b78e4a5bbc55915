"""Hostile pacs.008 bodies built from one valid template, field by field.

`pacs008(**fields)` gives a valid, unique pacs.008.001.08 dated today whose debtor and
creditor carry this run's canaries (names, IBAN, address, remittance text): payment data
that must never reach a log. A field given as bytes is spliced in raw (so markup, entity
references and invalid UTF-8 go in as they are); a str is UTF-8 encoded and XML-escaped;
DROP removes the field's element.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from xml.sax.saxutils import escape

DROP = object()
CANARY = f"CANARY{uuid.uuid4().hex[:12].upper()}"  # one per test process


def iban(country: str, bank: str, rng: random.Random) -> str:
    """A structurally valid IBAN (mod-97 check digits) with a random account number."""
    bban = bank + "".join(rng.choice("0123456789") for _ in range(10))
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


_rng = random.Random(CANARY)
CANARY_DEBTOR_IBAN = iban("DE", "37040044", _rng)
CANARY_CREDITOR_IBAN = iban("DE", "50010517", _rng)
# Every string of payment data below is unique to this run; none may appear in any log line.
CANARIES = (
    f"{CANARY}-DEBTOR",
    f"{CANARY}-CREDITOR",
    f"{CANARY}-STREET",
    f"{CANARY}-REMIT",
    CANARY_DEBTOR_IBAN,
    CANARY_CREDITOR_IBAN,
)

TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">
<FIToFICstmrCdtTrf>
<GrpHdr>
<MsgId>@@msg_id@@</MsgId>
<CreDtTm>@@cre_dt_tm@@</CreDtTm>
<NbOfTxs>@@nb_of_txs@@</NbOfTxs>
<SttlmInf>
<SttlmMtd>@@sttlm_mtd@@</SttlmMtd>
</SttlmInf>
</GrpHdr>
<CdtTrfTxInf>
<PmtId>
<InstrId>@@instr_id@@</InstrId>
<EndToEndId>@@end_to_end_id@@</EndToEndId>
<TxId>@@tx_id@@</TxId>
<UETR>@@uetr@@</UETR>
</PmtId>
<IntrBkSttlmAmt Ccy="@@currency@@">@@amount@@</IntrBkSttlmAmt>
<IntrBkSttlmDt>@@settlement_date@@</IntrBkSttlmDt>
<ChrgBr>@@charge_bearer@@</ChrgBr>
<InstgAgt><FinInstnId><BICFI>@@instructing_bic@@</BICFI></FinInstnId></InstgAgt>
<InstdAgt><FinInstnId><BICFI>@@instructed_bic@@</BICFI></FinInstnId></InstdAgt>
<Dbtr>
<Nm>@@debtor_name@@</Nm>
<PstlAdr>
<StrtNm>@@debtor_street@@</StrtNm>
<Ctry>@@debtor_country@@</Ctry>
</PstlAdr>
</Dbtr>
<DbtrAcct><Id><IBAN>@@debtor_iban@@</IBAN></Id></DbtrAcct>
<DbtrAgt><FinInstnId><BICFI>@@debtor_agent_bic@@</BICFI></FinInstnId></DbtrAgt>
<CdtrAgt><FinInstnId><BICFI>@@creditor_agent_bic@@</BICFI></FinInstnId></CdtrAgt>
<Cdtr>
<Nm>@@creditor_name@@</Nm>
<PstlAdr>
<Ctry>@@creditor_country@@</Ctry>
</PstlAdr>
</Cdtr>
<CdtrAcct><Id><IBAN>@@creditor_iban@@</IBAN></Id></CdtrAcct>
<RmtInf>
<Ustrd>@@remittance@@</Ustrd>
</RmtInf>
</CdtTrfTxInf>
</FIToFICstmrCdtTrf>
</Document>
"""
FIELDS = (
    "msg_id",
    "cre_dt_tm",
    "nb_of_txs",
    "sttlm_mtd",
    "instr_id",
    "end_to_end_id",
    "tx_id",
    "uetr",
    "currency",
    "amount",
    "settlement_date",
    "charge_bearer",
    "instructing_bic",
    "instructed_bic",
    "debtor_name",
    "debtor_street",
    "debtor_country",
    "debtor_iban",
    "debtor_agent_bic",
    "creditor_agent_bic",
    "creditor_name",
    "creditor_country",
    "creditor_iban",
    "remittance",
)


def today() -> date:
    return datetime.now(UTC).date()


def fresh_bic(country: str = "DE") -> str:
    """A well-formed BIC of a bank of its own: MsgId and EndToEndId are unique per instructing
    agent (duplicate checks) and liquidity is reserved per agent, so each message gets one."""
    bank = "".join(random.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
    return f"{bank}{country}FFXXX"


def defaults() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    day = today()
    return {
        "msg_id": f"HST-{suffix}",
        "cre_dt_tm": f"{day}T09:30:00+00:00",
        "nb_of_txs": "1",
        "sttlm_mtd": "INDA",
        "instr_id": f"HST-I-{suffix}",
        "end_to_end_id": f"HST-E-{suffix}",
        "tx_id": f"HST-T-{suffix}",
        "uetr": str(uuid.uuid4()),
        "currency": "EUR",
        "amount": "1234.56",
        "settlement_date": str(day),
        "charge_bearer": "SHAR",
        "instructing_bic": fresh_bic(),
        "instructed_bic": "BNPAFRPPXXX",
        "debtor_name": f"{CANARY}-DEBTOR",
        "debtor_street": f"{CANARY}-STREET",
        "debtor_country": "DE",
        "debtor_iban": CANARY_DEBTOR_IBAN,
        "debtor_agent_bic": "DEUTDEFFXXX",
        "creditor_agent_bic": "BNPAFRPPXXX",
        "creditor_name": f"{CANARY}-CREDITOR",
        "creditor_country": "FR",
        "creditor_iban": CANARY_CREDITOR_IBAN,
        "remittance": f"{CANARY}-REMIT",
    }


def day_offset(days: int) -> str:
    return str(today() + timedelta(days=days))


def pacs008(**fields) -> bytes:
    """A fresh message with `fields` replaced (see the module doc)."""
    unknown = set(fields) - set(FIELDS)
    assert not unknown, unknown
    values = {**defaults(), **fields}
    out = []
    for line in TEMPLATE.encode().splitlines(keepends=True):
        for name in FIELDS:
            marker = f"@@{name}@@".encode()
            if marker in line:
                value = values[name]
                if value is DROP:
                    line = b""
                    break
                raw = value if isinstance(value, bytes) else escape(value, {'"': "&quot;"}).encode("utf-8")
                line = line.replace(marker, raw)
        out.append(line)
    return b"".join(out)


def wrap(document: bytes, open_tags: bytes, close_tags: bytes) -> bytes:
    """`document` (without its XML declaration) inside the given wrapper markup."""
    body = document.split(b"?>", 1)[1] if document.startswith(b"<?xml") else document
    return open_tags + body + close_tags


def bah(
    document: bytes,
    *,
    fr: str | None = None,
    to: str = "BNPAFRPPXXX",
    biz_msg_idr: str | None = None,
    msg_def_idr: str = "pacs.008.001.08",
    app_hdrs: int = 1,
    svc: str = "swift.cbprplus.02",
) -> bytes:
    """`document` in a CBPR+ envelope with a head.001.001.02 AppHdr (From = the instructing
    agent and BizMsgIdr = MsgId by default, both copied as the document has them)."""

    def between(start: bytes, end: bytes) -> bytes:
        return document.split(start, 1)[1].split(end, 1)[0] if start in document else b""

    def text(value: str) -> bytes:
        return escape(value).encode("utf-8")

    fr_raw = text(fr) if fr is not None else between(b"<InstgAgt><FinInstnId><BICFI>", b"<")
    id_raw = text(biz_msg_idr) if biz_msg_idr is not None else between(b"<MsgId>", b"</MsgId>")
    header = (
        b'<AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02">'
        b"<Fr><FIId><FinInstnId><BICFI>" + fr_raw + b"</BICFI></FinInstnId></FIId></Fr>"
        b"<To><FIId><FinInstnId><BICFI>" + text(to) + b"</BICFI></FinInstnId></FIId></To>"
        b"<BizMsgIdr>" + id_raw + b"</BizMsgIdr>"
        b"<MsgDefIdr>" + text(msg_def_idr) + b"</MsgDefIdr><BizSvc>" + text(svc) + b"</BizSvc>"
        b"<CreDt>" + f"{today()}T09:30:00+00:00".encode() + b"</CreDt></AppHdr>"
    ) * app_hdrs
    return wrap(document, b'<Envelope xmlns="urn:swift:xsd:envelope">' + header, b"</Envelope>")
