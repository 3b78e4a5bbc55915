"""HTTP, report, queue and log helpers of the hostile suite."""

from __future__ import annotations

import http.server
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from lxml import etree

from chalicelib.iso20022 import validate_pacs002
from tests.waiting import queue_depths, wait_until_idle  # noqa: F401 - the suite's queue helpers

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"}
EVENT_SEQUENCES = {
    ("Initiated", "Submitted", "Received", "Accepted", "Released"),  # ACSC
    ("Initiated", "Submitted", "Received", "Rejected", "Released"),  # RJCT by a business rule
    ("Initiated", "Submitted", "Rejected", "Released"),  # RJCT at intake (FF01)
}


@dataclass
class Outcome:
    """What one hostile request came to: a 4xx at once, or a released pacs.002."""

    status: int
    error_code: str | None = None
    transaction_id: str | None = None
    tx_status: str | None = None  # ACSC / RJCT from the pacs.002
    reason: str | None = None  # first StsRsnInf/Rsn/Cd
    narrative: str | None = None
    events: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # anything wrong beyond the expectation
    elapsed: float = 0.0

    @property
    def label(self) -> str:
        """For the expectation and the ledger: "ACSC", "RJCT:FF01" or "400:EMPTY_BODY"."""
        if self.status == 202:
            return self.tx_status if self.tx_status == "ACSC" else f"{self.tx_status}:{self.reason}"
        return f"{self.status}:{self.error_code}"

    @property
    def ledger(self) -> str:
        return self.label.replace(":", " ")


def error_outcome(r: requests.Response) -> Outcome:
    """A 4xx must be JSON with an error_code (and no 5xx, ever)."""
    out = Outcome(r.status_code)
    if r.status_code >= 500:
        out.problems.append(f"5xx: {r.status_code} {r.text[:200]}")
        return out
    try:
        body = r.json()
    except ValueError:
        out.problems.append(f"{r.status_code} is not JSON: {r.text[:120]!r}")
        return out
    out.error_code = body.get("error_code") if isinstance(body, dict) else None
    if not out.error_code:
        out.problems.append(f"{r.status_code} JSON without error_code: {r.text[:120]}")
    return out


def read_report(report: bytes, tx: str) -> tuple[str | None, str | None, str | None, list[str]]:
    """(GrpSts or TxSts, first reason code, its narrative, problems) of a released pacs.002."""
    problems = []
    try:
        validate_pacs002(report)
    except Exception as e:
        problems.append(f"the pacs.002 is not schema-valid: {e}")
    doc = etree.fromstring(report)
    status = (
        doc.findtext(".//p:OrgnlGrpInfAndSts/p:GrpSts", namespaces=NS)  # PART for a mixed group
        or doc.findtext(".//p:TxInfAndSts/p:TxSts", namespaces=NS)
    )
    codes = doc.xpath(".//p:StsRsnInf/p:Rsn/p:Cd/text()", namespaces=NS)
    narratives = doc.xpath(".//p:StsRsnInf/p:AddtlInf/text()", namespaces=NS)
    msg_id = doc.findtext("p:FIToFIPmtStsRpt/p:GrpHdr/p:MsgId", namespaces=NS)
    if msg_id != f"PF{uuid.UUID(tx).hex}"[:35]:
        problems.append(f"the report's MsgId {msg_id} is not the one of transaction {tx}")
    if status == "RJCT" and not codes:
        problems.append("RJCT without StsRsnInf/Rsn/Cd")
    if status == "ACSC" and codes:
        problems.append(f"ACSC with reasons {codes}")
    return status, (codes[0] if codes else None), (narratives[0] if narratives else None), problems


def report(api, tx: str, timeout: float = 120, every: float = 0.3):
    """POST /outbox until the pacs.002 is released (409 meanwhile). Polls less often than
    Api.report: hundreds of cases polling at once would starve the pipeline of CPU."""
    deadline = time.monotonic() + timeout
    time.sleep(every)
    while True:
        r = api.call("POST", "/outbox", headers={"X-Transaction-Id": tx})
        if r.status_code != 409 or time.monotonic() > deadline:
            return r
        time.sleep(every)


def settle(api, tx: str, out: Outcome, timeout: float = 120) -> Outcome:
    """After a 202: wait for the pacs.002 and read it, then check the transaction's history."""
    out.transaction_id = tx
    r = report(api, tx, timeout)
    if r.status_code != 200:
        out.problems.append(f"no status report: /outbox answered {r.status_code} {r.text[:200]} (stuck?)")
        return out
    out.tx_status, out.reason, out.narrative, problems = read_report(r.content, tx)
    out.problems += problems
    events = api.call("GET", f"/transactions/{tx}/events")
    out.events = [e["type"] for e in events.json()["events"]] if events.status_code == 200 else []
    if tuple(out.events) not in EVENT_SEQUENCES:
        out.problems.append(f"unexpected history {out.events}")
    return out


def history(client, tx: str) -> list[dict]:
    """The events of one of `client`'s transactions."""
    r = client.call("GET", f"/transactions/{tx}/events")
    assert r.status_code == 200, r.text
    return r.json()["events"]


def post_inbox(
    api, tx: str | None, body: bytes, content_type: str | None = "application/xml", headers: dict | None = None
) -> requests.Response:
    h = {"X-Message-Type": "pacs.008", **({"Content-Type": content_type} if content_type else {}), **(headers or {})}
    if tx is not None:
        h.setdefault("X-Transaction-Id", tx)
    return api.http.request("POST", api.url + "/inbox", data=body, headers=_auth(api, h), timeout=120)


def _auth(api, headers: dict) -> dict:
    if api.token and not any(k.lower() == "authorization" for k in headers):
        return {"Authorization": f"Bearer {api.token}", **headers}
    return headers


def send(api, method: str, path: str, headers: dict | None = None, **kw) -> requests.Response:
    """Like Api.call, without its <500 assertion: the caller records the outcome first."""
    return api.http.request(method, api.url + path, headers=_auth(api, dict(headers or {})), timeout=60, **kw)


def submit_and_settle(
    api, body: bytes, content_type: str | None = "application/xml", headers: dict | None = None
) -> Outcome:
    started = time.monotonic()
    out = _submit_and_settle(api, body, content_type, headers)
    out.elapsed = time.monotonic() - started
    return out


def _submit_and_settle(api, body: bytes, content_type: str | None, headers: dict | None) -> Outcome:
    tx = api.new_transaction()
    r = post_inbox(api, tx, body, content_type, headers)
    if r.status_code != 202:
        out = error_outcome(r)
        out.transaction_id = tx
        return out
    out = Outcome(202)
    if r.json().get("transaction_id") != tx:
        out.problems.append(f"202 for another transaction: {r.text[:200]}")
    return settle(api, tx, out)


# -- raw HTTP: what requests refuses to send (CR/LF, NUL, duplicate or folded headers) ----


@dataclass
class RawResponse:
    status_code: int
    headers: dict
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self):
        import json

        return json.loads(self.content)


def raw_request(
    url: str,
    method: str,
    path: str,
    header_lines: list[bytes],
    body: bytes = b"",
    content_length: bool = True,
    timeout: float = 30,
) -> RawResponse:
    """One HTTP/1.1 request written byte for byte (header lines without their CRLF)."""
    u = urlsplit(url)
    head = [
        f"{method} {u.path.rstrip('/')}{path} HTTP/1.1".encode(),
        f"Host: {u.netloc}".encode(),
        b"Connection: close",
    ]
    if content_length:
        head.append(f"Content-Length: {len(body)}".encode())
    data = b"\r\n".join(head + header_lines) + b"\r\n\r\n" + body
    with socket.create_connection((u.hostname, u.port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head_bytes, _, content = raw.partition(b"\r\n\r\n")
    lines = head_bytes.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return RawResponse(0, {}, raw)  # the server closed without an answer
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.decode("latin-1").strip().lower()] = v.decode("latin-1").strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        content = _dechunk(content)
    return RawResponse(status, headers, content)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + rest[:size], rest[size + 2 :]
    return out


# -- the listener that URL entities point at ------------------------------------------------


class Exfil:
    """An HTTP listener on loopback: any request to it means a parser followed a URL."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'<!ENTITY x "exfiltrated">')

            do_POST = do_HEAD = do_GET

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{uuid.uuid4().hex}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- queues and logs ----------------------------------------------------------------------


def lambda_log_groups(logs, stack_name: str) -> list[str]:
    groups, kw = [], {"logGroupNamePrefix": f"/aws/lambda/{stack_name}-"}
    while True:
        page = logs.describe_log_groups(**kw)
        groups += [g["logGroupName"] for g in page.get("logGroups", [])]
        if not page.get("nextToken"):
            return groups
        kw["nextToken"] = page["nextToken"]


def log_events(logs, group: str, start_ms: int = 0) -> list[dict]:
    events, kw, seen_tokens = [], {"logGroupName": group, "startTime": start_ms}, set()
    while True:
        page = logs.filter_log_events(**kw)
        events += page.get("events", [])
        token = page.get("nextToken")
        if not token or token in seen_tokens:
            return events
        seen_tokens.add(token)
        kw["nextToken"] = token


def tracebacks(events: list[dict]) -> list[str]:
    """Each logged traceback as its first line, the line before it and its last line (the error)."""
    found, lines = [], [e["message"] for e in sorted(events, key=lambda e: (e["timestamp"], e.get("eventId", "")))]
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            j = i + 1
            while j < len(lines) and (lines[j].startswith(" ") or lines[j].startswith("\t")):
                j += 1
            error = lines[j] if j < len(lines) else "?"
            found.append(f"{lines[i - 1][:120] if i else ''} | {error[:200]}")
    return found
