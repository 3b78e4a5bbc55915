"""Alarms and the payment-flow dashboard (issue 10 item 3), checked on the packaged template.

MiniStack accepts CloudWatch alarms and dashboards without evaluating them, so what they
watch is checked here: each alarm's metric resolves to the stack's own resources, and the
lists of what must be watched (dead-letter queues, functions) are derived from the template,
so a new queue or function without its alarm fails.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.deploy import package

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return json.loads((package("local") / "sam.json").read_text())


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["Properties"] for a in of_type(template, "AWS::CloudWatch::Alarm").values()]


def watching(template: dict[str, Any], namespace: str, metric: str, **dimensions: Any) -> list[dict[str, Any]]:
    """The alarms on `metric` whose dimensions are exactly `dimensions`."""
    return [
        a
        for a in alarms(template)
        if a["Namespace"] == namespace
        and a["MetricName"] == metric
        and {d["Name"]: d["Value"] for d in a["Dimensions"]} == dimensions
    ]


def dead_letter_queues(template: dict[str, Any]) -> set[str]:
    """Every queue given-up messages land in: a redrive target, an on-failure destination,
    or a queue named as a DLQ."""
    resources = template["Resources"]
    found = {k for k in of_type(template, "AWS::SQS::Queue") if k.endswith("DLQ")}
    for queue in of_type(template, "AWS::SQS::Queue").values():
        redrive = queue["Properties"].get("RedrivePolicy")
        if redrive:
            found.add(redrive["deadLetterTargetArn"]["Fn::GetAtt"][0])
    for function in of_type(template, "AWS::Serverless::Function").values():
        for event in function["Properties"].get("Events", {}).values():
            destination = event["Properties"].get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if destination:
                found.add(destination["Fn::GetAtt"][0])
    assert all(resources[q]["Type"] == "AWS::SQS::Queue" for q in found)
    return found


def test_the_alarm_topic_is_encrypted_and_mailed_only_when_an_address_is_given(template):
    topic = template["Resources"]["AlarmTopic"]
    assert topic["Type"] == "AWS::SNS::Topic"
    assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "DataKey"}
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert template["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    # CloudWatch publishes to the encrypted topic: the key lets it
    statements = template["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(
        s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and "kms:Decrypt" in s["Action"] for s in statements
    )


def test_every_alarm_notifies_the_alarm_topic_and_says_what_missing_data_means(template):
    assert alarms(template)
    for alarm in alarms(template):
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert alarm["TreatMissingData"] in {"notBreaching", "breaching", "ignore", "missing"}


def test_every_dead_letter_queue_has_a_depth_alarm(template):
    queues = dead_letter_queues(template)
    assert {"IncomingQueueDLQ", "ProcessingQueueDLQ", "ReleasingQueueDLQ", "ViewFailuresQueue"} <= queues
    for queue in queues:
        found = watching(
            template, "AWS/SQS", "ApproximateNumberOfMessagesVisible", QueueName={"Fn::GetAtt": [queue, "QueueName"]}
        )
        assert len(found) == 1, queue
        assert found[0]["Threshold"] == 1 and found[0]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_every_function_has_errors_and_throttles_alarms(template):
    functions = of_type(template, "AWS::Serverless::Function")
    assert len(functions) >= 5
    for function in functions:
        for metric in ("Errors", "Throttles"):
            found = watching(template, "AWS/Lambda", metric, FunctionName={"Ref": function})
            assert len(found) == 1, (function, metric)
            assert found[0]["Threshold"] == 0 and found[0]["ComparisonOperator"] == "GreaterThanThreshold"


def test_the_view_followers_iterator_age_is_watched(template):
    (alarm,) = watching(template, "AWS/Lambda", "IteratorAge", FunctionName={"Ref": "ViewFollower"})
    assert alarm["Statistic"] == "Maximum" and alarm["Threshold"] == 60_000


def test_the_digesters_iterator_age_is_watched_beyond_its_longest_window(template):
    (alarm,) = watching(template, "AWS/Lambda", "IteratorAge", FunctionName={"Ref": "Digester"})
    window = template["Parameters"]["DigestWindowSeconds"]["MaxValue"]
    assert alarm["Statistic"] == "Maximum" and alarm["Threshold"] == window * 1000 + 60_000


def emitted(capsys, emit) -> tuple[str, str, dict[str, str]]:
    """(namespace, metric, dimensions) of the one EMF line `emit()` writes (Powertools)."""
    capsys.readouterr()
    emit()
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines() if '"_aws"' in text]
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    (metric,) = directive["Metrics"]
    (names,) = directive["Dimensions"]
    return directive["Namespace"], metric["Name"], {name: line[name] for name in names}


def test_payments_past_their_sla_are_alarmed_on_the_metric_the_code_emits(template, capsys):
    from chalicelib import observability

    namespace, metric, dimensions = emitted(capsys, lambda: observability.timed_out("AB06"))
    (alarm,) = watching(template, namespace, metric, **dimensions)
    assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_api_5xx_is_alarmed_on_the_apis_own_name_and_stage(template):
    api = template["Resources"]["RestAPI"]["Properties"]
    # API Gateway names a REST API imported from a definition after its title
    name, stage = api["DefinitionBody"]["info"]["title"], api["StageName"]
    assert "Name" not in api
    (alarm,) = watching(template, "AWS/ApiGateway", "5XXError", ApiName=name, Stage=stage)
    assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 1


PSEUDO = {"AWS::Region": "eu-west-1", "AWS::StackName": "pacsflow-local", "AWS::AccountId": "000000000000"}


def substitute(text: str, template: dict[str, Any]) -> str:
    """Fn::Sub as CloudFormation resolves it: each ${X} or ${X.Attr} must name a pseudo
    parameter, a parameter or a resource of the template."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in PSEUDO:
            return PSEUDO[name]
        resource = name.split(".")[0]
        assert resource in template["Resources"] or resource in template["Parameters"], name
        return f"resolved-{name}"

    return re.sub(r"\$\{([^}!]+)\}", value, text)


@pytest.fixture(scope="module")
def dashboard(template) -> dict[str, Any]:
    (board,) = of_type(template, "AWS::CloudWatch::Dashboard").values()
    body = board["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(substitute(body, template))


def metrics_of(dashboard: dict[str, Any]) -> list[list[Any]]:
    return [m for w in dashboard["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]]


def test_the_dashboard_shows_each_step_of_the_flow(dashboard):
    metrics = metrics_of(dashboard)
    for step, queue in (
        ("incoming", "IncomingQueue"),
        ("processing", "ProcessingQueue"),
        ("releasing", "ReleasingQueue"),
    ):
        assert ["pacsflow", "StepLatency", "service", "pacsflow", "Step", step] in [m[:6] for m in metrics], step
        assert [
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            f"resolved-{queue}.QueueName",
        ] in [m[:4] for m in metrics], queue
    names = {m[1] for m in metrics if isinstance(m[0], str)}
    assert {"Count", "Latency", "4XXError", "5XXError", "Payments", "EndToEndLatency"} <= names
    assert {"PaymentsTimedOut", "IteratorAge", "MessagesDeadLettered"} <= names
    assert {m[-1]["stat"] for m in metrics if m[:2] == ["pacsflow", "EndToEndLatency"]} == {"p50", "p99"}
    assert all(w["properties"]["region"] == "eu-west-1" for w in dashboard["widgets"] if w["type"] == "metric")


def test_the_dashboard_shows_every_dead_letter_queue(template, dashboard):
    shown = {m[3] for m in metrics_of(dashboard) if m[:2] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible"]}
    assert {f"resolved-{q}.QueueName" for q in dead_letter_queues(template)} <= shown


def test_a_template_too_large_to_send_inline_is_deployed_from_s3(monkeypatch):
    """The alarms and the dashboard take the packaged template past CloudFormation's 51,200
    bytes of TemplateBody: deploy_stack then hands it over as TemplateURL (up to 1 MB)."""
    import boto3
    from moto import mock_aws

    from infra.deploy import TEMPLATE_BODY_MAX_BYTES, template_source

    for k, v in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    function = {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": {"Bucket": "artifacts", "Key": "x.zip"}}}
    small = {"Resources": {"F": function}}
    large = {
        "Resources": {"F": function, "Big": {"Type": "AWS::SNS::Topic", "Metadata": "x" * TEMPLATE_BODY_MAX_BYTES}}
    }
    with mock_aws():
        session = boto3.session.Session()
        session.client("s3").create_bucket(
            Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        assert json.loads(template_source(session, small, None)["TemplateBody"]) == small
        source = template_source(session, large, None)
        assert set(source) == {"TemplateURL"}
        bucket, key = source["TemplateURL"].split("/", 3)[3].split("/", 1)
        stored = session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        assert bucket == "artifacts" and json.loads(stored) == large
