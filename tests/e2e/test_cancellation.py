"""camt.056, POST /transactions/{id}/cancel and pacs.028 over HTTP on the local stack."""

from __future__ import annotations

import pytest
from lxml import etree

from chalicelib.iso20022 import validate_pacs002, validate_pacs004
from tests.e2e.test_flow import statuses
from tests.messages import EVENTS, fresh, redated

pytestmark = pytest.mark.e2e
CAMT029 = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.029.001.09"}


def resolution(answer: bytes) -> tuple[str, list[str]]:
    doc = etree.fromstring(answer)
    return doc.findtext(".//c:Sts/c:Conf", namespaces=CAMT029), doc.xpath(
        ".//c:CxlStsRsnInf/c:Rsn/c:Cd/text()", namespaces=CAMT029
    )


@pytest.fixture(scope="module")
def original(api):
    """The payment our camt.056 and pacs.028 samples refer to (its original identifiers), settled."""
    tx = api.pay(redated((EVENTS / "pacs008_bare.xml").read_bytes()))
    assert statuses(api.report(tx).content) == ("ACSC", [])
    assert api.view(tx, version=4)["status"] == "ACSC"
    return tx


def test_a_status_request_answers_with_the_current_status(api, other_tenant, original):
    pacs028 = redated((EVENTS / "pacs028_status_request.xml").read_bytes())
    r = api.call("POST", "/status-requests", data=pacs028, headers={"Content-Type": "application/xml"})
    assert r.status_code == 200, r.text
    validate_pacs002(r.content)
    assert statuses(r.content) == ("ACSC", [])
    assert (
        other_tenant.call(
            "POST", "/status-requests", data=pacs028, headers={"Content-Type": "application/xml"}
        ).status_code
        == 404
    )
    bad = api.call("POST", "/status-requests", data=b"<nope/>", headers={"Content-Type": "application/xml"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_STATUS_REQUEST"


def test_a_camt056_after_release_returns_the_payment(api, original):
    camt056 = redated((EVENTS / "camt056_cancel.xml").read_bytes())  # reason DUPL
    r = api.submit(original, camt056, message_type="camt.056")
    assert r.status_code == 202, r.text
    answer = api.call("POST", "/outbox", headers={"X-Transaction-Id": original, "X-Message-Type": "camt.029"})
    assert answer.status_code == 200 and resolution(answer.content) == ("CNCL", [])
    pacs004 = api.call("POST", "/outbox", headers={"X-Transaction-Id": original, "X-Message-Type": "pacs.004"})
    assert pacs004.status_code == 200
    validate_pacs004(pacs004.content)
    types = [e["type"] for e in api.call("GET", f"/transactions/{original}/events").json()["events"]]
    assert types[-1] == "Returned"
    again = api.submit(original, camt056, message_type="camt.056")  # the same case again: same answer
    assert again.status_code == 202
    assert (
        api.call("POST", "/outbox", headers={"X-Transaction-Id": original, "X-Message-Type": "camt.029"}).content
        == answer.content
    )


def test_cancel_route_refuses_a_customer_request_after_release(api):
    tx = api.pay(fresh("pacs008_bare.xml"))
    assert statuses(api.report(tx).content) == ("ACSC", [])
    r = api.call("POST", f"/transactions/{tx}/cancel", json={"reason": "CUST"})
    assert r.status_code == 200 and r.headers["X-Resolution"] == "RJCR"
    assert resolution(r.content) == ("RJCR", ["CUST"])
    for body in ({"reason": "not a code"}, {"case_id": "x" * 40}, {"surprise": 1}):
        bad = api.call("POST", f"/transactions/{tx}/cancel", json=body)
        assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_CANCELLATION_REQUEST"
    fresh_tx = api.new_transaction()
    nothing = api.call("POST", f"/transactions/{fresh_tx}/cancel", json={"reason": "DUPL"})
    assert nothing.status_code == 409 and nothing.json()["error_code"] == "NOTHING_TO_CANCEL"
