"""Partial batch failures: a failing message fails the rest of its group, not other groups."""

import json
import uuid

from chalicelib.pipeline.batch import sqs_batch


class Record:
    def __init__(self, group: str, n: int) -> None:
        self.raw = {
            "messageId": f"{group}-{n}",
            "body": json.dumps({"transaction_id": str(uuid.uuid5(uuid.NAMESPACE_URL, group)), "n": n}),
            "attributes": {"MessageGroupId": group, "ApproximateReceiveCount": "1"},
        }

    def to_dict(self):
        return self.raw


def test_a_failure_holds_back_its_group_only():
    seen = []

    def handle(msg):
        seen.append((msg.body["n"], str(msg.transaction_id)))
        if msg.body["n"] == 1 and msg.transaction_id == uuid.uuid5(uuid.NAMESPACE_URL, "a"):
            raise RuntimeError("boom")

    records = [Record("a", 0), Record("b", 0), Record("a", 1), Record("b", 1), Record("a", 2)]
    result = sqs_batch(records, handle)
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["a-1", "a-2"]
    a = str(uuid.uuid5(uuid.NAMESPACE_URL, "a"))
    assert [n for n, tx in seen if tx == a] == [0, 1]  # a-2 never ran: order within the group holds
    assert len([1 for _, tx in seen if tx != a]) == 2


def test_a_malformed_body_is_a_failure_not_a_crash():
    bad = Record("c", 0)
    bad.raw["body"] = "{not json"
    assert sqs_batch([bad], lambda m: None) == {"batchItemFailures": [{"itemIdentifier": "c-0"}]}
