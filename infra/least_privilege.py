"""Evaluate recorded AWS calls against each function's IAM role in a deployed template.

MiniStack enforces no IAM, so tests/e2e records every call each function makes
(chalicelib/adapters/call_log.py) and this module judges them with a real IAM policy
evaluator: moto's (`moto.iam.access_control.IAMPolicy.is_action_permitted`, the code moto
uses to authorise requests when its IAM enforcement is on; a test dependency, never in the
Lambda package). The template's `Ref`, `Fn::GetAtt` and `Fn::Sub` are first resolved to the
concrete names and ARNs of the deployed stack, so a statement is matched exactly as AWS would
match it for that stack.

moto's evaluator: an explicit Deny wins, otherwise any matching Allow permits, otherwise the
request is implicitly denied; `*` in an action or resource is a wildcard. It matches action
names case-sensitively (AWS does not), which only ever makes it stricter here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from moto.iam.access_control import IAMPolicy, PermissionResult

from infra.template import choose, evaluate_conditions


@dataclass(frozen=True)
class Call:
    """One IAM authorisation request a function's call needed (a line of the call log)."""

    function: str  # the function's logical id in the template (APIHandler, ...)
    service: str
    operation: str
    action: str
    resource: str

    def __str__(self) -> str:
        return f"{self.function}: {self.operation} -> {self.action} on {self.resource}"


@dataclass(frozen=True)
class Stack:
    """What intrinsic functions resolve to in one deployed stack."""

    pseudo: Mapping[str, str]  # AWS::Region, AWS::AccountId, AWS::Partition, AWS::StackName
    refs: Mapping[str, str]  # logical id -> Ref value (physical id)
    attributes: Mapping[str, str]  # "Logical.Attribute" -> value (e.g. "EventsTable.Arn")

    def resolve(self, value: Any) -> Any:
        """`value` with every Ref, Fn::GetAtt and Fn::Sub replaced by its concrete value."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            name = value["Ref"]
            return self.pseudo[name] if name in self.pseudo else self.refs[name]
        if set(value) == {"Fn::GetAtt"}:
            logical, attribute = value["Fn::GetAtt"]
            return self.attributes[f"{logical}.{attribute}"]
        if set(value) == {"Fn::Sub"}:
            text = value["Fn::Sub"]
            if not isinstance(text, str):
                raise ValueError(f"Fn::Sub with variables is not supported: {value}")
            return re.sub(r"\$\{([^}!]+)\}", lambda m: self._variable(m.group(1)), text)
        return {k: self.resolve(v) for k, v in value.items()}

    def _variable(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if "." in name:
            return self.attributes[name]
        return self.refs[name]


def role_policies(
    template: Mapping[str, Any], stack: Stack, conditions: dict[str, bool] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Function logical id -> its role's inline policy documents, resolved for `stack` (each
    Fn::If by `conditions`, by default those of a single-Region stack)."""
    resources = choose(template["Resources"], evaluate_conditions() if conditions is None else conditions)
    policies = {}
    for name, resource in resources.items():
        role_arn = resource.get("Properties", {}).get("Role")
        if not (isinstance(role_arn, dict) and "Fn::GetAtt" in role_arn):
            continue  # not a function bound to a role of the stack
        role = role_arn["Fn::GetAtt"][0]
        documents = resources[role]["Properties"].get("Policies", [])
        policies[name] = [stack.resolve(p["PolicyDocument"]) for p in documents]
    return policies


def is_allowed(documents: Iterable[Mapping[str, Any]], action: str, resource: str) -> bool:
    """Whether identity policies `documents` allow `action` on `resource` (moto's evaluator)."""
    allowed = False
    for document in documents:
        result = IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)
        if result == PermissionResult.DENIED:
            return False
        allowed = allowed or result == PermissionResult.PERMITTED
    return allowed


def read_calls(
    lines: Iterable[str], functions: Mapping[str, str], aliases: Mapping[str, str] | None = None
) -> list[Call]:
    """Calls of a call log; `functions` maps a deployed function name to its logical id.
    Calls made outside any function (the tests' own clients) are not in the log.

    `aliases` maps a resource as a call named it to the ARN IAM authorises it against: a
    secret named by its name is authorised against its full ARN (AWS Secrets Manager user
    guide, "Permissions reference"; the local stack hands functions the name)."""
    aliases = aliases or {}
    calls = []
    for line in lines:
        if not line.strip():
            continue
        entry = json.loads(line)
        calls.append(
            Call(
                function=functions.get(entry["function"], entry["function"]),
                service=entry["service"],
                operation=entry["operation"],
                action=entry["action"],
                resource=aliases.get(entry["resource"], entry["resource"]),
            )
        )
    return calls


def denied(calls: Iterable[Call], policies: Mapping[str, list[dict[str, Any]]]) -> list[Call]:
    """The distinct calls that the calling function's role does not allow (a call by an
    unknown function is denied: it has no role of ours)."""
    return sorted(
        {c for c in calls if not is_allowed(policies.get(c.function, []), c.action, c.resource)},
        key=str,
    )
