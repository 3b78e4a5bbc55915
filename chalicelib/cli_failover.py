"""``python -m chalicelib.cli redrive|failover|failback``: the operators' actions (admin).

- ``redrive TX --reason WHY [--local-stack FILE]``: record `Redriven` on the payment and send the
  step its recorded state calls for (chalicelib/pipeline/redrive.py).
- ``redrive --dlq incoming|processing|releasing --reason WHY [--local-stack FILE]``: each message
  of that dead-letter queue (the stack output, or on a deployed stage the queue that its source
  queue's redrive policy names) is moved back to its source queue: `Redriven` is recorded on its
  payment (once per message id: a re-run after a crash records nothing twice), the message is
  sent to the source queue with a deduplication id of its own (the original's may still be in
  SQS's five-minute window), then deleted from the dead-letter queue. A crash between sending
  and deleting sends it again on the next run: harmless, each step recognises recorded work.
- ``failover REGION --reason WHY`` and ``failback REGION --reason WHY``: as
  `POST /regions/{region}/failover|failback`, recorded with the run's own action id (as
  ``redrive TX``): a run is one action, and a re-run after a crash is a new one.

The Region is the PACSFLOW_* environment of a deployed stage, or local-stack.json. The
decision's `who` is ``cli:<user>``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.adapters.settings import Settings
from chalicelib.pipeline.errors import NotHomeRegion, UnknownRegion

STEPS = ("incoming", "processing", "releasing")


def who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in a container
        return "cli"


def settings_of(local_stack: str | None) -> tuple[Settings, dict[str, str]]:
    """The Region's settings and stack outputs (empty from the environment)."""
    if not local_stack:
        return Settings(), {}
    from chalicelib.cli import settings_of_local_stack

    stack = json.loads(Path(local_stack).read_text())
    outputs: dict[str, str] = dict(stack["outputs"])
    s = settings_of_local_stack(stack).model_copy(
        update={
            "archive_bucket": outputs.get("ArchiveBucketName", ""),
            "incoming_queue_url": outputs.get("IncomingQueueUrl", ""),
            "processing_queue_url": outputs.get("ProcessingQueueUrl", ""),
            "releasing_queue_url": outputs.get("ReleasingQueueUrl", ""),
        }
    )
    return s, outputs


def dead_letter_queue_of(sqs: Any, source_url: str) -> str | None:
    """The URL of the queue SQS moves `source_url`'s dead letters to (its RedrivePolicy's
    deadLetterTargetArn), None when it has none. A deployed stage's environment names only
    its step queues; the source queue itself says where its dead letters are."""
    attributes = sqs.get_queue_attributes(QueueUrl=source_url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
    if "RedrivePolicy" not in attributes:
        return None
    _, _, _, _, account, name = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].split(":")
    return str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])


def redrive_dlq(
    sqs: Any, dlq_url: str, source_url: str, record: Callable[[uuid.UUID, str], None], skipped: list[str] | None = None
) -> int:
    """Move every message of `dlq_url` back to `source_url`, recording each on its payment
    first (`record(transaction_id, message_id)`); the number moved. A message that is no
    step message, or whose payment another Region runs now, stays in the dead-letter queue
    and is listed in `skipped` (message id: why): one bad message does not stop the rest."""
    moved, skipped = 0, skipped if skipped is not None else []
    while True:
        got = sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"], VisibilityTimeout=60
        ).get("Messages", [])
        if not got:
            return moved
        for m in got:
            try:
                tx = uuid.UUID(json.loads(m["Body"])["transaction_id"])
                record(tx, m["MessageId"])
            except (ValueError, KeyError, TypeError) as e:  # not a step message (JSON errors are ValueErrors)
                skipped.append(f"{m['MessageId']}: not a step message ({e!r})")
                continue
            except NotHomeRegion as e:
                skipped.append(f"{m['MessageId']}: {e}")
                continue
            attributes = m.get("Attributes", {})
            send: dict[str, Any] = {"QueueUrl": source_url, "MessageBody": m["Body"]}
            if source_url.endswith(".fifo"):
                send["MessageGroupId"] = attributes.get("MessageGroupId", str(tx))
                send["MessageDeduplicationId"] = f"{tx}:redrive:{m['MessageId']}"[:128]
            sqs.send_message(**send)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=m["ReceiptHandle"])
            moved += 1


def cmd_redrive(args: argparse.Namespace) -> int:
    from chalicelib import bootstrap

    s, outputs = settings_of(args.local_stack)
    svc = bootstrap.build(s)
    if args.dlq:
        from chalicelib.adapters.aws import operator_client
        from chalicelib.cli_ops import dead_letter_queues

        sqs = operator_client("sqs")
        source = outputs.get(f"{args.dlq.capitalize()}QueueUrl") if outputs else getattr(s, f"{args.dlq}_queue_url")
        dlq = dead_letter_queues(outputs).get(args.dlq) if outputs else source and dead_letter_queue_of(sqs, source)
        if not dlq or not source:
            print(
                f"no dead-letter queue {args.dlq} found (give --local-stack, or set PACSFLOW_{args.dlq.upper()}"
                "_QUEUE_URL to the deployed stage's queue, which has a redrive policy)"
            )
            return 2

        def record(tx: uuid.UUID, message_id: str) -> None:
            from chalicelib.pipeline.redrive import Redriven

            Redriven(svc.redrive.uow).record(tx, f"dlq:{message_id}", who(), args.reason, args.dlq)

        skipped: list[str] = []
        moved = redrive_dlq(sqs, dlq, source, record, skipped)
        print(f"{moved} messages moved from the {args.dlq} dead-letter queue back to its queue")
        for why in skipped:
            print(f"left in the dead-letter queue: {why}")
        return 1 if skipped else 0
    if not args.transaction_id:
        print("give a transaction id or --dlq QUEUE")
        return 2
    step = svc.redrive(uuid.UUID(args.transaction_id), f"cli:{uuid.uuid4()}", who(), args.reason)
    print(f"{args.transaction_id}: {'sent to ' + step if step else 'nothing to run (released, or only issued)'}")
    return 0


def cmd_failover(args: argparse.Namespace) -> int:
    from chalicelib import bootstrap

    s, _ = settings_of(args.local_stack)
    svc = bootstrap.build(s)
    try:
        action = f"cli:{uuid.uuid4()}"
        if args.command == "failback":
            svc.failover.fail_back(args.region, args.reason, who(), action_id=action)
            print(f"{args.region}: failed back")
            return 0
        d = svc.failover(args.region, args.reason, who(), action_id=action)
    except UnknownRegion as e:
        print(f"{e} ({s.region_id}; its peers: {', '.join(sorted(s.peers)) or 'none'})")
        return 2
    state = "decided now" if d.decided else f"already decided (taken over by {d.taken_over_by})"
    print(f"{args.region}: {state}; {len(d.payments)} payments taken over")
    for p in d.payments:
        print(f"  {p.transaction_id} {p.status} -> {p.step or 'nothing to run'}")
    return 0


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("redrive", help="re-run a payment from its last recorded step, or a dead-letter queue")
    p.add_argument("transaction_id", nargs="?", metavar="TX")
    p.add_argument("--dlq", choices=STEPS, help="move this dead-letter queue's messages back to their queue")
    p.add_argument("--reason", required=True)
    p.add_argument("--local-stack", metavar="FILE")
    p.set_defaults(func=cmd_redrive)
    for name, text in (("failover", "take over a peer Region"), ("failback", "end a takeover of a Region")):
        p = sub.add_parser(name, help=text)
        p.add_argument("region", metavar="REGION")
        p.add_argument("--reason", required=True)
        p.add_argument("--local-stack", metavar="FILE")
        p.set_defaults(func=cmd_failover)
