"""infra/lambda_proxy.py's pool: warm workers that keep their imports, at most `size` of them,
and invocations beyond them wait instead of spawning more."""

from __future__ import annotations

import os
import threading
import time

from infra.lambda_proxy import Pool

HANDLER = """
import os, time
IMPORTED_BY = os.getpid()

def handle(event, context):
    print("a handler's print goes to stderr, not into the protocol")
    if event.get("fail"):
        raise ValueError("asked to fail")
    time.sleep(event.get("sleep", 0))
    return {"pid": IMPORTED_BY, "echo": event, "fn": context.function_name, "left": context.get_remaining_time_in_millis()}
"""


def pool(tmp_path, size: int) -> Pool:
    code = tmp_path / "pkg" / "code"
    code.mkdir(parents=True)
    (code / "handler.py").write_text(HANDLER)
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "fn-1"}
    return Pool(code, "handler.handle", env, size)


def meta() -> dict:
    return {"arn": "arn:fn-1", "request_id": "r1", "deadline_ms": int(time.time() * 1000) + 5000}


def test_a_worker_is_reused_and_answers_with_the_handlers_result(tmp_path):
    p = pool(tmp_path, 2)
    try:
        pids = set()
        for i in range(3):
            w = p.acquire()
            reply = w.invoke({"i": i}, meta())
            p.release(w)
            assert reply["result"]["echo"] == {"i": i} and reply["result"]["fn"] == "fn-1"
            assert 0 < reply["result"]["left"] <= 5000
            pids.add(reply["result"]["pid"])
        assert len(pids) == 1 and p.started == 1  # sequential invocations: one warm worker
    finally:
        p.close()


def test_a_handler_error_is_reported_and_the_worker_survives(tmp_path):
    p = pool(tmp_path, 1)
    try:
        w = p.acquire()
        assert w.invoke({"fail": True}, meta())["error"] == {"errorMessage": "asked to fail", "errorType": "ValueError"}
        assert "result" in w.invoke({}, meta())
        p.release(w)
    finally:
        p.close()


def test_invocations_beyond_the_bound_wait_for_a_worker(tmp_path):
    p = pool(tmp_path, 2)
    try:
        pids: list[int] = []
        lock = threading.Lock()

        def call() -> None:
            w = p.acquire()
            try:
                pid = w.invoke({"sleep": 0.2}, meta())["result"]["pid"]
            finally:
                p.release(w)
            with lock:
                pids.append(pid)

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(pids) == 6
        assert p.started == 2 and len(set(pids)) == 2
    finally:
        p.close()
