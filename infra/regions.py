"""Take a local Region's service away and bring it back (`make region-down REGION=...`,
`make region-up REGION=...`).

MiniStack serves every Region from one process, so a Region cannot be killed on its own. The
outage is made with the APIs AWS offers, on the Region's stack only:
- every function's reserved concurrency is set to 0 (PutFunctionConcurrency): each invocation
  is throttled, so the Region's API answers no 2xx (API Gateway gets the throttle);
- every event source mapping of its functions is disabled, so its queues keep their messages
  (nothing is received, so no receive count grows toward the dead-letter queue) and its view
  stops following the stream;
- every EventBridge rule that targets its functions (the sweep's schedule) is disabled.
What it was before is recorded and `up` restores exactly that. Not covered: the Region's
DynamoDB, S3, SQS and Cognito still answer (to its peers and to clients), replication goes on
and has no lag, there is no network partition, and S3 replication has no lag (README).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3

OUTAGES = Path(__file__).resolve().parent.parent / ".ministack"


@dataclass
class Outage:
    """What a Region's stack had before it was taken down: enough to restore it exactly."""

    region: str
    stack: str
    concurrency: dict[str, int | None] = field(default_factory=dict)  # function -> reserved (None: unreserved)
    mappings: dict[str, bool] = field(default_factory=dict)  # event source mapping UUID -> was enabled
    rules: dict[str, bool] = field(default_factory=dict)  # EventBridge rule name -> was enabled

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Outage:
        return cls(**json.loads(text))


def _functions(session: boto3.session.Session, endpoint: str | None, stack: str) -> list[str]:
    cfn = session.client("cloudformation", endpoint_url=endpoint)
    names = []
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        names += [
            r["PhysicalResourceId"]
            for r in page["StackResourceSummaries"]
            if r["ResourceType"] == "AWS::Lambda::Function" and r.get("PhysicalResourceId")
        ]
    return sorted(names)


def region_down(
    session: boto3.session.Session, endpoint: str | None, stack: str, save: Callable[[Outage], object] = lambda _: None
) -> Outage:
    """Stop the Region of `session` serving: see the module's docstring. Returns the record
    that region_up needs; `save` gets it before each change, so a run stopped half-way
    leaves on record everything it changed, for region_up."""
    lam = session.client("lambda", endpoint_url=endpoint)
    events = session.client("events", endpoint_url=endpoint)
    outage = Outage(region=session.region_name or "", stack=stack)
    for name in _functions(session, endpoint, stack):
        # first the pollers: a throttled function's SQS messages would be received (and
        # counted toward the DLQ) over and over
        for mapping in lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]:
            uuid = mapping["UUID"]
            outage.mappings[uuid] = mapping.get("State") not in ("Disabled", "Disabling")
            save(outage)  # on record before it changes
            lam.update_event_source_mapping(UUID=uuid, Enabled=False)
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        for rule in events.list_rule_names_by_target(TargetArn=arn)["RuleNames"]:
            outage.rules[rule] = events.describe_rule(Name=rule).get("State") == "ENABLED"
            save(outage)
            events.disable_rule(Name=rule)
        reserved = lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
        outage.concurrency[name] = reserved
        save(outage)
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    return outage


def region_up(session: boto3.session.Session, endpoint: str | None, outage: Outage) -> None:
    """Restore what region_down recorded: concurrency first, then the rules and pollers."""
    lam = session.client("lambda", endpoint_url=endpoint)
    events = session.client("events", endpoint_url=endpoint)
    for name, reserved in outage.concurrency.items():
        if reserved is None:
            lam.delete_function_concurrency(FunctionName=name)
        else:
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
    for rule, enabled in outage.rules.items():
        if enabled:
            events.enable_rule(Name=rule)
    for uuid, enabled in outage.mappings.items():
        lam.update_event_source_mapping(UUID=uuid, Enabled=enabled)


def _local(region: str) -> tuple[boto3.session.Session, str, str]:
    from infra.deploy import LOCAL_STACK_FILE, local_session

    described: dict[str, Any] = json.loads(LOCAL_STACK_FILE.read_text())
    for each in described.get("regions", [described]):
        if each["region"] == region:
            return local_session(region), each["endpoint_url"], each["stack_name"]
    raise SystemExit(f"{region} is not a Region of local-stack.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["down", "up"])
    parser.add_argument("region")
    args = parser.parse_args()
    session, endpoint, stack = _local(args.region)
    record = OUTAGES / f"outage-{args.region}.json"
    if args.action == "down":
        if record.exists():
            print(f"{args.region} is already down ({record.name}); make region-up REGION={args.region}")
            return
        OUTAGES.mkdir(exist_ok=True)
        region_down(session, endpoint, stack, save=lambda outage: record.write_text(outage.to_json()))
        print(f"{args.region} is down: its functions throttled, its pollers and schedules disabled")
    else:
        if not record.exists():
            print(f"{args.region} is not down (no {record.name})")
            return
        region_up(session, endpoint, Outage.from_json(record.read_text()))
        record.unlink()
        print(f"{args.region} is up again")


if __name__ == "__main__":
    main()
