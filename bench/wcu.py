"""DynamoDB write-unit arithmetic, applied to the write requests a run actually made.

The rules (DynamoDB Developer Guide, "Item sizes and formats" and "Read/write capacity"):

- item size = sum over attributes of (UTF-8 length of the name + size of the value);
  S: UTF-8 bytes; B: raw bytes; N: 1 byte + 1 per two significant digits (leading and
  trailing zeros trimmed, +1 for a minus sign); BOOL/NULL: 1; L/M: 3 + 1 per element +
  the elements (M: + key names); SS/NS/BS: the sum of the elements.
- PutItem / UpdateItem / DeleteItem: ceil(size / 1 KB) WCU, at least 1, where size is the
  larger of the item before and after the write (our model keeps every item the run
  wrote, so "before" is known; items we never saw count as absent).
- TransactWriteItems: every item of the transaction costs double (2 WCU per started KB).
- Global secondary indexes, per index, at the standard rate (1 WCU per started KB of the
  *projected* item; index writes are replicated asynchronously and are not doubled for a
  transaction): the projected item is the index keys + the table keys (KEYS_ONLY), or
  the whole item (ALL).
    * key attributes absent before and after: no index write (sparse index);
    * present only after: one put of the new projection; only before: one delete of the
      old projection;
    * present before and after with different values: a delete and a put (two writes);
    * same key values: KEYS_ONLY writes nothing; ALL/INCLUDE writes once if the
      projection changed, else nothing.
- A write whose condition fails still consumes the write units of the item (we record
  it separately; a clean run has none).

Each charge also says what the write leaves stored, for the storage bill (bench/dollars.py):
the item's size after it, the size of each index entry after it (the projection), and, for
an item carrying the table's time-to-live attribute, how long it lives.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

KB = 1024


def number_size(text: str) -> int:
    """Size of a DynamoDB number given as its decimal text."""
    d = Decimal(text)
    if d == 0:
        return 1
    digits = d.as_tuple().digits
    significant = "".join(map(str, digits)).strip("0") or "0"
    size = 1 + math.ceil(len(significant) / 2)
    return size + (1 if d < 0 else 0)


def value_size(value: dict[str, Any]) -> int:
    """Size of one attribute value in DynamoDB's wire form ({"S": ...}, {"N": ...}, ...)."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode("utf-8"))
    if kind == "N":
        return number_size(v)
    if kind == "B":
        return len(v if isinstance(v, (bytes, bytearray)) else v.encode("utf-8"))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in v)
    if kind == "NS":
        return sum(number_size(n) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "L":
        return 3 + sum(1 + value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(e) for k, e in v.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int, transactional: bool = False) -> int:
    units = max(1, math.ceil(size / KB))
    return units * 2 if transactional else units


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str = "ALL"  # or KEYS_ONLY


@dataclass(frozen=True)
class TableSpec:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None  # the table's time-to-live attribute (epoch seconds)

    def key_of(self, item: dict[str, Any]) -> tuple:
        return tuple(next(iter(item[k].items())) for k in self.keys)

    def projected(self, index: Index, item: dict[str, Any] | None) -> dict[str, Any] | None:
        if not item or not all(k in item for k in index.keys):
            return None
        if index.projection == "KEYS_ONLY":
            return {k: item[k] for k in (*self.keys, *index.keys)}
        return dict(item)


@dataclass
class Charge:
    """The write units of one write request (one item of a transaction counts as one)."""

    table: str
    operation: str
    base: int
    index: dict[str, int] = field(default_factory=dict)
    failed: bool = False
    size: int = 0
    stored: int = 0  # the item's size after the write (0: deleted, or the write failed)
    index_stored: dict[str, int] = field(default_factory=dict)  # index -> its entry's size after
    lives_s: float | None = None  # the item expires (time to live) this long after the write

    @property
    def total(self) -> int:
        return self.base + sum(self.index.values())


_SET = re.compile(r"^\s*SET\s+(.*)$", re.IGNORECASE | re.DOTALL)


def apply_update_expression(
    item: dict[str, Any], expression: str, names: dict[str, str] | None, values: dict[str, Any] | None
) -> dict[str, Any]:
    """The item after a simple `SET a = :v, #b = :w` update (all this code base uses)."""
    match = _SET.match(expression)
    if not match:
        raise ValueError(f"unsupported update expression: {expression!r}")
    new = dict(item)
    for assignment in match.group(1).split(","):
        left, _, right = assignment.partition("=")
        name, token = left.strip(), right.strip()
        name = (names or {}).get(name, name)
        if not token.startswith(":"):
            raise ValueError(f"unsupported update expression: {expression!r}")
        new[name] = (values or {})[token]
    return new


class TableModel:
    """Items written so far, per table, to price each write by DynamoDB's rules."""

    def __init__(self, specs: list[TableSpec]) -> None:
        self.specs = {s.name: s for s in specs}
        self.items: dict[tuple[str, tuple], dict[str, Any]] = {}

    def _charge(self, spec: TableSpec, operation: str, old, new, transactional: bool, failed: bool) -> Charge:
        size = max(item_size(old), item_size(new))
        charge = Charge(spec.name, operation, write_units(size, transactional), failed=failed, size=size)
        if failed:
            return charge  # the item is not written, so neither is any index
        charge.stored = item_size(new)
        if new and spec.ttl_attribute in new:
            charge.lives_s = float(new[spec.ttl_attribute]["N"]) - time.time()
        for index in spec.indexes:
            before, after = spec.projected(index, old), spec.projected(index, new)
            if after is not None:
                charge.index_stored[index.name] = item_size(after)
            units = 0
            if before is None and after is not None:
                units = write_units(item_size(after))
            elif before is not None and after is None:
                units = write_units(item_size(before))
            elif before is not None and after is not None:
                if any(old[k] != new[k] for k in index.keys):
                    units = write_units(item_size(before)) + write_units(item_size(after))
                elif index.projection != "KEYS_ONLY" and before != after:
                    units = write_units(item_size(after))
            if units:
                charge.index[index.name] = units
        return charge

    def put(self, table: str, item: dict[str, Any], transactional: bool = False, failed: bool = False) -> Charge:
        spec = self.specs[table]
        key = (table, spec.key_of(item))
        old = self.items.get(key)
        charge = self._charge(spec, "Put", old, item, transactional, failed)
        if not failed:
            self.items[key] = dict(item)
        return charge

    def update(
        self,
        table: str,
        key: dict[str, Any],
        expression: str,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        transactional: bool = False,
        failed: bool = False,
    ) -> Charge:
        spec = self.specs[table]
        k = (table, spec.key_of(key))
        old = self.items.get(k)
        new = apply_update_expression(old or dict(key), expression, names, values)
        charge = self._charge(spec, "Update", old, new, transactional, failed)
        if not failed:
            self.items[k] = new
        return charge

    def delete(self, table: str, key: dict[str, Any], transactional: bool = False, failed: bool = False) -> Charge:
        spec = self.specs[table]
        k = (table, spec.key_of(key))
        old = self.items.get(k)
        charge = self._charge(spec, "Delete", old, None, transactional, failed)
        if not failed:
            self.items.pop(k, None)
        return charge

    def request(self, operation: str, params: dict[str, Any], failed: bool = False) -> list[Charge]:
        """Price one DynamoDB write request given its API parameters."""
        if operation == "PutItem":
            return [self.put(params["TableName"], params["Item"], failed=failed)]
        if operation == "UpdateItem":
            return [
                self.update(
                    params["TableName"],
                    params["Key"],
                    params["UpdateExpression"],
                    params.get("ExpressionAttributeNames"),
                    params.get("ExpressionAttributeValues"),
                    failed=failed,
                )
            ]
        if operation == "DeleteItem":
            return [self.delete(params["TableName"], params["Key"], failed=failed)]
        if operation == "TransactWriteItems":
            charges = []
            for entry in params["TransactItems"]:
                ((kind, p),) = entry.items()
                if kind == "Put":
                    charges.append(self.put(p["TableName"], p["Item"], True, failed))
                elif kind == "Update":
                    charges.append(
                        self.update(
                            p["TableName"],
                            p["Key"],
                            p["UpdateExpression"],
                            p.get("ExpressionAttributeNames"),
                            p.get("ExpressionAttributeValues"),
                            True,
                            failed,
                        )
                    )
                elif kind == "Delete":
                    charges.append(self.delete(p["TableName"], p["Key"], True, failed))
                else:  # ConditionCheck: 2 WCU per started KB of the checked item
                    spec = self.specs[p["TableName"]]
                    old = self.items.get((p["TableName"], spec.key_of(p["Key"])))
                    charges.append(Charge(p["TableName"], kind, write_units(item_size(old), True), failed=failed))
            return charges
        if operation == "BatchWriteItem":
            charges = []
            for table, requests in params["RequestItems"].items():
                for r in requests:
                    if "PutRequest" in r:
                        charges.append(self.put(table, r["PutRequest"]["Item"], failed=failed))
                    else:
                        charges.append(self.delete(table, r["DeleteRequest"]["Key"], failed=failed))
            return charges
        return []


def read_units(size: int, consistent: bool) -> float:
    """Read units of one GetItem or Query returning `size` bytes of items (a Query's items
    are summed, then rounded): 1 per started 4 KB strongly consistent, half that eventually
    consistent, at least one 4 KB unit even for nothing found."""
    units = max(1, math.ceil(size / (4 * KB)))
    return float(units) if consistent else units / 2


READ_OPERATIONS = frozenset({"GetItem", "Query"})
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})


def specs_from_definitions(
    definitions: dict[str, dict[str, Any]], ttl: dict[str, str] | None = None
) -> list[TableSpec]:
    """TableSpecs from CreateTable-style definitions keyed by table name; `ttl`: table name ->
    its time-to-live attribute."""
    specs = []
    for name, d in definitions.items():
        keys = tuple(k["AttributeName"] for k in d["KeySchema"])
        indexes = tuple(
            Index(g["IndexName"], tuple(k["AttributeName"] for k in g["KeySchema"]), g["Projection"]["ProjectionType"])
            for g in d.get("GlobalSecondaryIndexes", [])
        )
        specs.append(TableSpec(name, keys, indexes, (ttl or {}).get(name)))
    return specs
