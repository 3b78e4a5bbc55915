"""How long a pacs.008 with N transactions takes end to end on the local stack.

    python -m bench.large_messages [--limits JSON] [N ...]     (default 10 50 100 250)

Starts a MiniStack of its own, deploys the stack, lifts the transaction cap for the run
(PACSFLOW_CHECKS_MAX_TRANSACTIONS on every function), warms the workers, then sends one
message per N (events/pacs008_two_txs.xml's first transaction repeated N times, each with
its own InstrId, EndToEndId, TxId and UETR) and times POST /inbox -> the release
notification (the pacs.002 released), confirmed with POST /outbox. `--limits` sets the
stack's liquidity limits (e.g. '{"DEUTDEFFXXX:EUR": "1e12"}': every transaction then also
reserves on its agent's position, one commit each). A measurement, not a
test: it prints a table and one JSON line per message. The transaction cap
(chalicelib/checks/settings.py max_transactions) is chosen from these figures.
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from typing import Any

import requests

from infra.examples import fresh

_TX = re.compile(rb"<CdtTrfTxInf>.*?</CdtTrfTxInf>\s*", re.S)


def many_transactions(n: int) -> bytes:
    """A current pacs.008 with `n` transactions, every identifier unique."""
    raw = fresh("pacs008_two_txs.xml")
    blocks = _TX.findall(raw)
    template, start, end = blocks[0], raw.index(blocks[0]), raw.index(blocks[-1]) + len(blocks[-1])
    suffix = uuid.uuid4().hex[:8]

    def one(i: int) -> bytes:
        tx = re.sub(rb"<UETR>[^<]*</UETR>", f"<UETR>{uuid.uuid4()}</UETR>".encode(), template)
        for tag in (b"InstrId", b"EndToEndId", b"TxId"):
            tx = re.sub(b"<%s>[^<]*</%s>" % (tag, tag), b"<%s>B-%s-%d</%s>" % (tag, suffix.encode(), i, tag), tx)
        return tx

    body = raw[:start] + b"".join(one(i) for i in range(n)) + raw[end:]
    return re.sub(rb"<NbOfTxs>\d+</NbOfTxs>", b"<NbOfTxs>%d</NbOfTxs>" % n, body)


def configure(stack: dict[str, Any], cap: int, limits: str = "") -> None:
    """Set PACSFLOW_CHECKS_MAX_TRANSACTIONS (and PACSFLOW_LIQUIDITY_LIMITS) on every function
    of the stack (recycles its workers)."""
    from bench.e2e import session

    lam = session().client("lambda", endpoint_url=stack["endpoint_url"])
    for page in lam.get_paginator("list_functions").paginate():
        for fn in page["Functions"]:
            env = fn.get("Environment", {}).get("Variables", {})
            if "PACSFLOW_EVENTS_TABLE" in env:
                env = {**env, "PACSFLOW_CHECKS_MAX_TRANSACTIONS": str(cap)}
                if limits:
                    env["PACSFLOW_LIQUIDITY_LIMITS"] = limits
                lam.update_function_configuration(FunctionName=fn["FunctionName"], Environment={"Variables": env})


def measure(stack: dict[str, Any], n: int, deadline_s: float = 180) -> dict[str, Any]:
    from bench.e2e import ReleaseWatcher, auth_headers

    api, auth = stack["api_url"].rstrip("/"), auth_headers(stack)
    watcher = ReleaseWatcher(stack)
    try:
        body = many_transactions(n)
        tx = requests.get(f"{api}/uuid", headers={"X-Message-Type": "pacs.008", **auth}, timeout=120).json()[
            "transaction_id"
        ]
        t0 = time.monotonic()
        r = requests.post(
            f"{api}/inbox",
            data=body,
            timeout=120,
            headers={"X-Transaction-Id": tx, "X-Message-Type": "pacs.008", "Content-Type": "application/xml", **auth},
        )
        accepted = time.monotonic() - t0
        until = t0 + deadline_s
        while time.monotonic() < until and tx not in watcher.arrived:
            time.sleep(0.1)
        released = watcher.arrived.get(tx)
        out = requests.post(f"{api}/outbox", headers={"X-Transaction-Id": tx, **auth}, timeout=60)
        statuses = re.findall(rb"<TxSts>(\w+)</TxSts>", out.content)
        return {
            "transactions": n,
            "bytes": len(body),
            "inbox_status": r.status_code,
            "inbox_s": round(accepted, 3),
            "released_s": round(released - t0, 2) if released else None,
            "outbox_status": out.status_code,
            "tx_statuses": {s.decode(): statuses.count(s) for s in set(statuses)},
        }
    finally:
        watcher.stop()


def main(argv: list[str]) -> int:
    from bench.e2e import ministack_stack, warm_up

    limits = ""
    if argv[:1] == ["--limits"]:
        limits, argv = argv[1], argv[2:]
    sizes = [int(a) for a in argv] or [10, 50, 100, 250]
    with ministack_stack() as stack:
        configure(stack, max(sizes), limits)
        warm_up(stack, concurrency=2, payments=3)
        rows = [measure(stack, n) for n in sizes]
    print(f"{'N':>5} {'bytes':>8} {'inbox s':>8} {'released s':>11}  statuses")
    for row in rows:
        print(
            f"{row['transactions']:>5} {row['bytes']:>8} {row['inbox_s']:>8} {row['released_s']!s:>11}  {row['tx_statuses']}"
        )
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
