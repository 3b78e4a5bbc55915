"""The typed values a payment records: the credit transfer it carries and what was decided.

Frozen dataclasses of strings, so they travel unchanged from intake (iso20022) through the
rules, liquidity and the aggregate to the view, and a field change is a type error in every
place that reads it. Amounts stay the decimal text as sent (the rules judge it).

Names are ISO 20022's where the standard has one. `CreditTransfer` holds the group header
(GrpHdr), the Business Application Header when there was one, and every CdtTrfTxInf as a
`Transaction`; nothing is copied from the first transaction to the top.

Names and accounts are payment data: they belong in the event store (encrypted at rest),
never in logs or narratives.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

_T = TypeVar("_T", bound="Plain")


@dataclass(frozen=True)
class _Shape:
    names: frozenset[str]
    required: frozenset[str]
    defaults: dict[str, Any]
    tuples: tuple[str, ...]  # fields holding tuples (stored as lists)


_SHAPES: dict[type, _Shape] = {}


def _shape(cls: type) -> _Shape:
    """A dataclass's fields as to_dict/from_dict need them, computed once per class."""
    shape = _SHAPES.get(cls)
    if shape is None:
        fs = dataclasses.fields(cls)
        defaults: dict[str, Any] = {}
        for f in fs:
            if f.default is not dataclasses.MISSING:
                defaults[f.name] = f.default
            elif not isinstance(f.default_factory, dataclasses._MISSING_TYPE):
                defaults[f.name] = f.default_factory()
        shape = _SHAPES[cls] = _Shape(
            names=frozenset(f.name for f in fs),
            required=frozenset(f.name for f in fs) - defaults.keys(),
            defaults=defaults,
            tuples=tuple(f.name for f in fs if str(f.type).startswith("tuple")),
        )
    return shape


class Plain:
    """to_dict / from_dict for a frozen dataclass of strings and nested Plain values.

    Every event read or written converts these values, so both work on the instance's
    `__dict__` with the class's shape computed once (`_shape`): measured 190 -> 60 us per
    payment in process against `dataclasses.fields` per call (bench/inprocess.py)."""

    nested: ClassVar[dict[str, type[Plain]]] = {}  # field -> type of the tuple's items

    def to_dict(self, compact: bool = False) -> dict[str, Any]:
        """Every field; `compact`: only those that differ from their default (what events
        store: from_dict fills the defaults back in)."""
        shape = _shape(type(self))
        out = dict(self.__dict__)
        for name in shape.tuples:
            value = out[name]
            out[name] = [v.to_dict(compact) for v in value] if name in self.nested else list(value)
        if compact:  # the defaulted fields out, the others in their order (the stored JSON's)
            for name, default in shape.defaults.items():
                value = out[name]
                if value == default or value == []:
                    del out[name]
        return out

    @classmethod
    def from_dict(cls: type[_T], data: dict[str, Any]) -> _T:
        """Inverse of to_dict; unknown keys are ignored, missing optional ones take their default."""
        shape = _shape(cls)
        values = {**shape.defaults, **data}
        if values.keys() != shape.names:  # unknown keys, or a required one missing: the slow path
            values = {k: v for k, v in values.items() if k in shape.names}
            missing = shape.required - values.keys()
            if missing:
                raise TypeError(f"{cls.__name__}: missing {', '.join(sorted(missing))}")
        for name in shape.tuples:
            value = values[name] or ()
            item = cls.nested.get(name)
            values[name] = tuple(item.from_dict(v) for v in value) if item else tuple(value)
        obj = object.__new__(cls)
        obj.__dict__.update(values)  # a frozen dataclass, filled as its __init__ would (no __post_init__ here)
        return obj


@dataclass(frozen=True)
class Transaction(Plain):
    """One CdtTrfTxInf: its identifiers (PmtId), amount, dates, agents and parties.

    Agents are given by their first identifier in ISO order (BICFI, ClrSysMmbId/MmbId, LEI,
    Othr/Id) with ``*_scheme`` naming which one ("BICFI", "ClrSysMmbId[:<code>]", "LEI",
    "Othr"). The instructing and instructed agents are the transaction's own, else the group
    header's. Accounts are as sent (IBAN or Othr/Id), ``*_account_scheme`` "IBAN", "Othr" or
    "Othr:<SchmeNm>".
    """

    instr_id: str | None = None
    end_to_end_id: str | None = None
    tx_id: str | None = None
    uetr: str | None = None
    amount: str | None = None  # IntrBkSttlmAmt, decimal text as sent
    currency: str | None = None
    interbank_settlement_date: str | None = None
    charge_bearer: str | None = None
    instructing_agent: str | None = None
    instructing_agent_scheme: str | None = None
    instructed_agent: str | None = None
    instructed_agent_scheme: str | None = None
    debtor_agent: str | None = None
    debtor_agent_scheme: str | None = None
    creditor_agent: str | None = None
    creditor_agent_scheme: str | None = None
    previous_instructing_agent1: str | None = None
    previous_instructing_agent1_scheme: str | None = None
    previous_instructing_agent2: str | None = None
    previous_instructing_agent2_scheme: str | None = None
    previous_instructing_agent3: str | None = None
    previous_instructing_agent3_scheme: str | None = None
    intermediary_agent1: str | None = None
    intermediary_agent1_scheme: str | None = None
    intermediary_agent2: str | None = None
    intermediary_agent2_scheme: str | None = None
    intermediary_agent3: str | None = None
    intermediary_agent3_scheme: str | None = None
    debtor_name: str | None = None
    debtor_country: str | None = None  # Dbtr/PstlAdr/Ctry
    debtor_account: str | None = None
    debtor_account_scheme: str | None = None
    creditor_name: str | None = None
    creditor_country: str | None = None
    creditor_account: str | None = None
    creditor_account_scheme: str | None = None


def same_identifier(kind: str, recorded: str | None, asked: str) -> bool:
    """Whether an identifier a request names (a pacs.028's, a camt.056's) is the recorded one:
    a UETR (`kind` "uetr") is a UUID, in either case; an EndToEndId is text, compared as it is."""
    return (recorded or "").lower() == asked.lower() if kind == "uetr" else recorded == asked


@dataclass(frozen=True)
class CreditTransfer(Plain):
    """A validated pacs.008 (FIToFICstmrCdtTrf): group header, BAH, transactions."""

    nested: ClassVar[dict[str, type[Plain]]] = {"transactions": Transaction}

    message_type: str  # "pacs.008.001.08"
    msg_id: str
    creation_date_time: str
    nb_of_txs: str
    ctrl_sum: str | None = None  # GrpHdr/CtrlSum, decimal text as sent
    total_interbank_settlement_amount: str | None = None  # GrpHdr/TtlIntrBkSttlmAmt
    total_interbank_settlement_currency: str | None = None
    settlement_method: str | None = None
    clearing_system: str | None = None  # SttlmInf/ClrSys/Cd or Prtry
    interbank_settlement_date: str | None = None  # GrpHdr/IntrBkSttlmDt
    instructing_agent: str | None = None  # GrpHdr/InstgAgt
    instructing_agent_scheme: str | None = None
    instructed_agent: str | None = None  # GrpHdr/InstdAgt
    instructed_agent_scheme: str | None = None
    # Business Application Header (only when validated: head.001.001.02)
    app_hdr_type: str | None = None
    bah_from: str | None = None
    bah_from_scheme: str | None = None  # "BICFI", "ClrSysMmbId...", "LEI", "Othr", "AnyBIC", "OrgLEI", "OrgOthr", "Nm"
    bah_to: str | None = None
    bah_to_scheme: str | None = None
    biz_msg_idr: str | None = None
    msg_def_idr: str | None = None
    biz_svc: str | None = None
    bah_cre_dt: str | None = None
    transactions: tuple[Transaction, ...] = field(default_factory=tuple)
    envelope: str | None = None  # wrapper root (Clark notation), None if bare
    notes: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> CreditTransfer:
        """A credit transfer as recorded by any version of pacsflow.

        Until 2026-11 the top level repeated the first transaction's fields (its agents
        included: the transaction's own, else the group header's), and the oldest events
        had no per-transaction details at all (the top level *was* the transaction). Such a
        dict becomes today's shape: details move into the transactions, the top level keeps
        what belongs to the group header.
        """
        data = dict(data)
        tx_fields = {f.name for f in dataclasses.fields(Transaction)}
        txs = [dict(t) for t in data.get("transactions") or ()]
        if not txs or "amount" not in txs[0]:
            first = txs[0] if txs else {}
            txs[:1] = [{**{k: v for k, v in data.items() if k in tx_fields}, **{k: v for k, v in first.items() if v}}]
        data["transactions"] = txs
        return cls.from_dict(data)


@dataclass(frozen=True)
class Reason(Plain):
    """One StsRsnInf: an ISO ExternalStatusReason1Code and its narrative."""

    code: str
    narrative: str | None = None


@dataclass(frozen=True)
class Verdict(Plain):
    """What one check said. `tx`: the transaction (1-based) in a multi-transaction message;
    `reserved`: liquidity was reserved by this check (liquidity verdicts only)."""

    rule: str
    passed: bool
    reason_code: str | None = None
    narrative: str = ""
    tx: int | None = None
    reserved: bool = False

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> Verdict:
        return cls.from_dict({**data, "narrative": data.get("narrative") or ""})


@dataclass(frozen=True)
class TxOutcome(Plain):
    """One transaction's decision: TxSts ACSP or RJCT, its reasons, and whether liquidity
    was reserved for it (to be freed if it is cancelled)."""

    nested: ClassVar[dict[str, type[Plain]]] = {"reasons": Reason}

    status: str
    reasons: tuple[Reason, ...] = ()
    reserved: bool = False


@dataclass(frozen=True)
class Original(Plain):
    """What could be read of a message that was refused at intake, for its report."""

    msg_id: str | None = None
    message_type: str | None = None


@dataclass(frozen=True)
class CancellationCase(Plain):
    """A cancellation case answered (camt.029): resolution CNCL or RJCR."""

    answer_key: str
    resolution: str
    request_sha256: str | None = None
