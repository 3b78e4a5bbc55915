"""The write-unit arithmetic of bench/wcu.py, against hand-computed expectations."""

from __future__ import annotations

import pytest

from bench import wcu
from bench.report import _met

EVENTS = wcu.TableSpec("events", ("pk", "sk"), (wcu.Index("notifications", ("log", "nid"), "ALL"),))
VIEW = wcu.TableSpec(
    "view",
    ("transaction_id",),
    (wcu.Index("by_uetr", ("uetr",), "KEYS_ONLY"), wcu.Index("by_e2e", ("end_to_end_id",), "KEYS_ONLY")),
)


def S(v: str) -> dict:
    return {"S": v}


def N(v: int | str) -> dict:
    return {"N": str(v)}


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 1),
        ("7", 2),  # 1 digit: 1 + ceil(1/2)
        ("12", 2),  # 2 digits: 1 + 1
        ("123", 3),  # 3 digits: 1 + 2
        ("1000", 2),  # trailing zeros trimmed: 1 significant digit
        ("0.0012", 2),  # leading zeros trimmed: "12"
        ("-12", 3),  # minus sign: +1
        ("12345678", 5),
    ],
)
def test_number_sizes(text, size):
    assert wcu.number_size(text) == size


def test_item_size_is_names_plus_values():
    # pk: 2 + 36, sk: 2 + 2 ("12"), topic: 5 + 3 ("abc"), state: 5 + 10 bytes
    item = {"pk": S("x" * 36), "sk": N(12), "topic": S("abc"), "state": {"B": b"0123456789"}}
    assert wcu.item_size(item) == 38 + 4 + 8 + 15
    # UTF-8 bytes, not characters: "é" is 2 bytes
    assert wcu.item_size({"n": S("é")}) == 1 + 2
    # list: 3 + 1 per element + elements; map: 3 + (1 + key + value) per entry
    assert wcu.value_size({"L": [S("ab"), N(1)]}) == 3 + (1 + 2) + (1 + 2)
    assert wcu.value_size({"M": {"k": S("ab")}}) == 3 + 1 + 1 + 2
    assert wcu.value_size({"BOOL": True}) == 1 and wcu.value_size({"NULL": True}) == 1


def test_write_units_per_started_kilobyte_and_transactions_double():
    assert wcu.write_units(0) == 1
    assert wcu.write_units(1024) == 1
    assert wcu.write_units(1025) == 2
    assert wcu.write_units(2855) == 3
    assert wcu.write_units(1024, transactional=True) == 2
    assert wcu.write_units(2855, transactional=True) == 6


def event(pk: str, sk: int, state_bytes: int, nid: int | None = None) -> dict:
    item = {"pk": S(pk), "sk": N(sk), "topic": S("t"), "state": {"B": b"x" * state_bytes}}
    if nid is not None:
        item |= {"log": S("Payments"), "nid": N(nid)}
    return item


def test_sparse_index_is_written_only_for_items_with_its_keys():
    model = wcu.TableModel([EVENTS])
    plain = model.request("PutItem", {"TableName": "events", "Item": event("a", 1, 100)})
    assert [(c.base, c.index) for c in plain] == [(1, {})]
    # pk 2 + 1, sk 2 + 2, topic 5 + 1, state 5 + 2000, log 3 + 8, nid 3 + 2 = 2034 bytes: 2 KB
    logged = model.request("PutItem", {"TableName": "events", "Item": event("b", 1, 2000, nid=1)})
    assert [(c.size, c.base, c.index) for c in logged] == [(2034, 2, {"notifications": 2})]


def test_transaction_doubles_items_but_not_index_writes():
    model = wcu.TableModel([EVENTS])
    charges = model.request(
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "events", "Item": event("a", 1, 100, nid=1)}},
                {
                    "Update": {
                        "TableName": "events",
                        "Key": {"pk": S("$log#Payments"), "sk": N(0)},
                        "UpdateExpression": "SET #last = :next",
                        "ExpressionAttributeNames": {"#last": "last_nid"},
                        "ExpressionAttributeValues": {":next": N(1)},
                    }
                },
            ]
        },
    )
    assert [(c.operation, c.base, c.index) for c in charges] == [("Put", 2, {"notifications": 1}), ("Update", 2, {})]
    # counter item: pk 2 + 13, sk 2 + 1, last_nid 8 + 2
    assert charges[1].size == 15 + 3 + 10
    assert sum(c.total for c in charges) == 5


def test_keys_only_index_written_when_keys_appear_or_change_never_when_unchanged():
    model = wcu.TableModel([VIEW])
    put = lambda item: model.request("PutItem", {"TableName": "view", "Item": item})[0]  # noqa: E731
    first = put({"transaction_id": S("t1"), "status": S("ACCP")})
    assert (first.base, first.index) == (1, {})  # no uetr / end_to_end_id yet: not indexed
    second = put({"transaction_id": S("t1"), "status": S("ACTC"), "uetr": S("u"), "end_to_end_id": S("e")})
    assert (second.base, second.index) == (1, {"by_uetr": 1, "by_e2e": 1})  # both keys appear
    third = put({"transaction_id": S("t1"), "status": S("ACSC"), "uetr": S("u"), "end_to_end_id": S("e")})
    assert third.index == {}  # same key values, keys-only projection: no index write
    fourth = put({"transaction_id": S("t1"), "status": S("ACSC"), "uetr": S("v"), "end_to_end_id": S("e")})
    assert fourth.index == {"by_uetr": 2}  # changed key: delete the old entry, put the new
    fifth = put({"transaction_id": S("t1"), "status": S("ACSC"), "end_to_end_id": S("e")})
    assert fifth.index == {"by_uetr": 1}  # key removed: delete the old entry


def test_overwrite_is_priced_by_the_larger_of_old_and_new_item():
    model = wcu.TableModel([VIEW])
    model.request("PutItem", {"TableName": "view", "Item": {"transaction_id": S("t"), "blob": S("x" * 1500)}})
    smaller = model.request("PutItem", {"TableName": "view", "Item": {"transaction_id": S("t")}})[0]
    assert smaller.base == 2  # the old item was 1519 bytes


def test_all_projection_rewrites_index_when_item_changes_with_same_keys():
    spec = wcu.TableSpec("t", ("id",), (wcu.Index("g", ("k",), "ALL"),))
    model = wcu.TableModel([spec])
    model.request("PutItem", {"TableName": "t", "Item": {"id": S("1"), "k": S("a"), "v": S("x")}})
    changed = model.request("PutItem", {"TableName": "t", "Item": {"id": S("1"), "k": S("a"), "v": S("y")}})[0]
    same = model.request("PutItem", {"TableName": "t", "Item": {"id": S("1"), "k": S("a"), "v": S("y")}})[0]
    assert changed.index == {"g": 1} and same.index == {}


def test_failed_condition_costs_the_item_but_writes_no_index():
    model = wcu.TableModel([EVENTS])
    [c] = model.request("PutItem", {"TableName": "events", "Item": event("a", 1, 100, nid=1)}, failed=True)
    assert (c.base, c.index, c.failed) == (1, {}, True)
    assert model.items == {}


def test_specs_from_definitions_read_keys_and_projections():
    [spec] = wcu.specs_from_definitions(
        {
            "v": {
                "KeySchema": [{"AttributeName": "transaction_id", "KeyType": "HASH"}],
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": "by_uetr",
                        "KeySchema": [{"AttributeName": "uetr", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    }
                ],
            }
        }
    )
    assert spec == wcu.TableSpec("v", ("transaction_id",), (wcu.Index("by_uetr", ("uetr",), "KEYS_ONLY"),))


def test_table_verdicts():
    assert _met(9, "<=", 10) == "yes" and _met(11, "<=", 10) == "NO" and _met(1200, ">=", 1000) == "yes"
    assert _met(None, "<=", 10) == ""


def test_the_costs_bench_creates_the_stacks_tables_with_every_condition_resolved():
    """bench/costs.py creates the template's tables with CreateTable: no Fn::If may remain
    (the replicated tables' stream view type is one since the multi-Region work)."""
    import json

    from bench.costs import table_definitions

    definitions = table_definitions("b")
    assert {"b-events_table", "b-positions_table", "b-transactions_table"} <= set(definitions)
    assert "Fn::" not in json.dumps(definitions)
    assert definitions["b-events_table"]["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
