"""The transaction view's record: what `GET /transactions/{id}` shows of one payment.

A frozen dataclass, so the fold, the follower, the DynamoDB adapter and `rebuild` agree on
one shape and a renamed field is a type error everywhere. Three forms:

- the record itself (the fold's result; two records are equal when their fields are);
- `to_dict()` / `from_dict()`: the JSON the API returns, absent fields left out (None, an
  empty list), booleans always given;
- `to_item()` / `from_item()`: the DynamoDB item (attribute values) of the view table,
  plus the lookup attributes (`owner_uetr`, `owner_end_to_end_id`: owner + "#" + value),
  the partition keys of the view's owner-scoped indexes (derived, not fields: `from_item`
  ignores them).

An index key is one value per item, and the record's are its message's first transaction's.
A multi-transaction message's later transactions are found through `lookup_items()`: one
small item per transaction 2..n, keyed `<transaction id>#<n>`, carrying only the owner and
that transaction's lookup attributes, so the same two indexes find the payment by any of its
transactions. They are derived from the record (its `later_transactions`, folded from the
message like the first transaction's identifiers), never from anything else: so the
follower, `rebuild` and view recovery compute the same ones, and a payment with one
transaction (no later ones) has none and is written exactly as before. Why not match
through the duplicate-detection claims, which map UETRs and EndToEndIds to transactions:
they are shared by every tenant, expire with the duplicate window, and are taken only for
the transactions that reach the checks; a status request may come later than all three.

Times are ISO 8601 text, amounts the decimal text as sent, statuses ISO codes.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_SER = TypeSerializer()
_DES = TypeDeserializer()

_R = TypeVar("_R", bound="_Record")

# query field -> the item attribute (owner + "#" + value) an index of the view is keyed by
LOOKUP_ATTRIBUTES = {"uetr": "owner_uetr", "end_to_end_id": "owner_end_to_end_id"}


# The index of the payments not yet released, read by the sweep and by takeovers
# (chalicelib/adapters/pending.py): the attribute is on a record only until its release, so
# the index holds the payments in flight and nothing else; its partition is one of PENDING_SHARDS, so that no single key takes every
# payment's two index writes (added, then removed at the release).
PENDING_ATTRIBUTE = "pending"
PENDING_INDEX = f"by_{PENDING_ATTRIBUTE}"  # keyed by shard, sorted by created_at
PENDING_SHARDS = tuple(f"p{n:02d}" for n in range(16))


def pending_shard(transaction_id: str) -> str:
    return PENDING_SHARDS[zlib.crc32(transaction_id.encode()) % len(PENDING_SHARDS)]


def lookup_key(owner: str, value: str) -> str:
    """The lookup attribute's value. Owners are Cognito client ids ([\\w+]+, never "#"),
    so the owner part cannot be confused with the value part."""
    return f"{owner}#{value}"


def lookup_item_key(transaction_id: str, number: int) -> str:
    """The view table key of transaction `number` (2..n) of a payment's message. Transaction
    ids are UUIDs (never "#"), so no record's key is one."""
    return f"{transaction_id}#{number}"


def indexed_transaction(key: str) -> tuple[str, int]:
    """The payment's transaction id and the transaction's number (1: the record itself) of a
    view table key, as an index answers it (a key of no other form is a record's)."""
    transaction_id, _, number = key.partition("#")
    return (transaction_id, int(number)) if number.isdigit() else (key, 1)


def is_lookup_item(item: dict[str, Any]) -> bool:
    """Whether a view table item is a later transaction's index item, not a record."""
    return indexed_transaction(item["transaction_id"]["S"])[1] > 1


class _Record:
    """to_dict / from_dict for a frozen dataclass of strings, ints, bools, tuples of strings
    and tuples of nested records."""

    nested: ClassVar[dict[str, type[_Record]]] = {}  # field -> type of its tuple's items

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None or value == ():
                continue
            if f.name in self.nested:
                value = [v.to_dict() for v in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls: type[_R], data: dict[str, Any]) -> _R:
        """Inverse of to_dict; unknown keys are ignored, absent ones take their default."""
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name not in data or data[f.name] is None:
                continue
            value = data[f.name]
            if f.name in cls.nested:
                value = tuple(cls.nested[f.name].from_dict(v) for v in value)
            elif isinstance(value, list):
                value = tuple(value)
            elif f.name == "version":
                value = int(value)  # DynamoDB numbers come back as Decimal
            kwargs[f.name] = value
        return cls(**kwargs)


@dataclass(frozen=True)
class CancellationAnswer(_Record):
    """One cancellation case (camt.056) as answered (camt.029): resolution CNCL (cancelled
    before release, or returned after it) or RJCR with its rejection code."""

    case_id: str
    resolution: str
    reason_code: str
    answered_at: str
    rejection_code: str | None = None


@dataclass(frozen=True)
class RefusedSubmission(_Record):
    """A second, different message submitted for this transaction and not processed."""

    sha256: str
    reason: str
    refused_at: str


@dataclass(frozen=True)
class TransactionIds(_Record):
    """The identifiers a lookup (`?uetr=`, `?end_to_end_id=`, a pacs.028) finds one
    transaction of a message by."""

    end_to_end_id: str | None = None
    uetr: str | None = None


@dataclass(frozen=True)
class TransactionRecord(_Record):
    """One payment as the view shows it; `status` is the aggregate's TxSts."""

    nested: ClassVar[dict[str, type[_Record]]] = {
        "cancellations": CancellationAnswer,
        "refused_submissions": RefusedSubmission,
        "later_transactions": TransactionIds,
    }

    transaction_id: str
    owner: str
    status: str
    message_type: str
    region_id: str
    created_at: str
    updated_at: str
    version: int
    message_sha256: str | None = None
    # copied from the message: the group header's msg_id and nb_of_txs, the rest from its
    # first transaction (a multi-transaction message shows its first one here)
    msg_id: str | None = None
    end_to_end_id: str | None = None
    tx_id: str | None = None
    instr_id: str | None = None
    uetr: str | None = None
    amount: str | None = None
    currency: str | None = None
    interbank_settlement_date: str | None = None
    instructing_agent: str | None = None
    instructed_agent: str | None = None
    nb_of_txs: str | None = None
    # a multi-transaction message: its second and later transactions' identifiers, found by
    # the lookups through `lookup_items`
    later_transactions: tuple[TransactionIds, ...] = ()
    # a rejection: every reason code, the first decisive
    reason_code: str | None = None
    reason_codes: tuple[str, ...] = ()
    narrative: str | None = None
    rejected_at_step: str | None = None
    # a multi-transaction message: each transaction's status (as its pacs.002 says) and the group's
    tx_statuses: tuple[str, ...] = ()
    group_status: str | None = None
    # the status report (pacs.002)
    released_at: str | None = None
    report_msg_id: str | None = None
    # cancellation requests: CNCL once one was granted (cancelled, or returned), else RJCR
    cancellation_status: str | None = None
    cancellations: tuple[CancellationAnswer, ...] = ()
    # a return after settlement (pacs.004)
    returned: bool = False
    return_reason: str | None = None
    returned_at: str | None = None
    # multi-Region: the Region that runs its steps (Initiated's, unless a takeover moved it)
    home_region: str | None = None
    # second messages submitted for this transaction and refused
    refused_submissions: tuple[RefusedSubmission, ...] = ()

    def to_item(self) -> dict[str, Any]:
        """The view table's item (DynamoDB attribute values), with its lookup attributes, and
        the pending attribute while it is not released."""
        item = {k: _SER.serialize(v) for k, v in self.to_dict().items()}
        for field, attribute in LOOKUP_ATTRIBUTES.items():
            value = getattr(self, field)
            if value:
                item[attribute] = {"S": lookup_key(self.owner, value)}
        if self.released_at is None:
            item[PENDING_ATTRIBUTE] = {"S": pending_shard(self.transaction_id)}
        return item

    def transaction_ids(self, number: int) -> TransactionIds | None:
        """The identifiers of the message's transaction `number` (1: the first)."""
        if number == 1:
            return TransactionIds(end_to_end_id=self.end_to_end_id, uetr=self.uetr)
        return self.later_transactions[number - 2] if 2 <= number <= len(self.later_transactions) + 1 else None

    def lookup_items(self) -> dict[str, dict[str, Any]]:
        """The index items of the message's later transactions, by their view table key
        (see the module's docstring): none for a payment of one transaction."""
        items = {}
        for number, ids in enumerate(self.later_transactions, start=2):
            key = lookup_item_key(self.transaction_id, number)
            item = {"transaction_id": {"S": key}, "owner": {"S": self.owner}}
            for field, attribute in LOOKUP_ATTRIBUTES.items():
                value = getattr(ids, field)
                if value:
                    item[attribute] = {"S": lookup_key(self.owner, value)}
            items[key] = item
        return items

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> TransactionRecord:
        return cls.from_dict({k: _DES.deserialize(v) for k, v in item.items()})
