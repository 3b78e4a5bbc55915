"""The operator's view of a deployed stack (issue 10 items 3 and 4) on MiniStack: the stack
with its alarms and dashboard deploys, and `dlq list` finds every dead-letter queue."""

from __future__ import annotations

import json
import subprocess
import sys

from infra.deploy import REPO


def test_the_stack_deploys_with_its_alarm_topic(stack, boto_session):
    topic = stack["outputs"]["AlarmTopicArn"]
    sns = boto_session.client("sns", endpoint_url=stack["endpoint_url"])
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["TopicArn"] == topic
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []  # AlarmEmail empty: none


def test_dlq_list_shows_every_dead_letter_queue_of_the_stack(stack, tmp_path):
    path = tmp_path / "local-stack.json"
    path.write_text(json.dumps(stack))
    done = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "dlq", "list", "--local-stack", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (0, 1), done.stderr
    names = [line.split()[0] for line in done.stdout.splitlines()[1:]]
    assert names == ["incoming", "processing", "releasing", "sla-deadlines", "view-failures"]
