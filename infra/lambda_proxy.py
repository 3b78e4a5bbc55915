"""The local stack's Lambda executor: a bounded pool of warm workers per function, with a queue.

MiniStack (1.5.33) runs a function in a subprocess per *concurrent* invocation, spawned on
demand with no upper bound, and every spawn unpacks the whole deployment package (hundreds
of MB written, in the gateway's own process). Under an open-loop load a small slowdown
raises concurrency, which spawns workers, which slows everything further: measured at
20 payments/s on 2 cores, 8 warm API workers grew to 37 within 20 s and the run never
recovered (p99 past 160 s). Its other knobs do not queue: reserved concurrency throttles
(API Gateway answers 429, pollers retry after the visibility timeout).

MiniStack's proxy mode (`MINISTACK_LAMBDA_PROXY_URL` in a function's environment) hands each
invocation to an HTTP server instead. This is that server, for the local stage only
(infra/deploy.py points the functions at it after each local deploy; AWS never sees it):
per function it unpacks the package once, keeps at most `workers` warm subprocesses (each
imports the handler once and serves one invocation at a time, as a Lambda execution
environment does), and queues the invocations beyond them. Overload then shows as queueing
that drains, never as a spawn storm.

The URL path names the function and a digest of what a worker depends on (code, handler,
environment): a redeploy changes the digest, hence the pool.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import boto3

PROXY_VARIABLE = "MINISTACK_LAMBDA_PROXY_URL"

# Runs in each worker subprocess (cwd: the unpacked package): one JSON line in, one out.
WORKER = r"""
import importlib, json, os, sys, time, traceback

class Capture:  # what the function writes, returned with each reply for CloudWatch Logs
    encoding = "utf-8"
    def __init__(self):
        self.parts = []
    def write(self, text):
        self.parts.append(text)
        return len(text)
    def flush(self):
        pass
    def isatty(self):
        return False
    def take(self):
        text = "".join(self.parts)
        self.parts.clear()
        return text

out, capture = sys.stdout, Capture()
sys.stdout = sys.stderr = capture  # before the import: loggers keep the stream they find
sys.path.insert(0, os.getcwd())
module, name = sys.argv[1].rsplit(".", 1)
try:
    handler = getattr(importlib.import_module(module), name)
except BaseException:
    sys.__stderr__.write(capture.take() + traceback.format_exc())
    raise
sys.__stderr__.write(capture.take())

class Context:
    def __init__(self, meta):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = meta["arn"]
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = meta["request_id"]
        self.log_group_name = "/aws/lambda/" + self.function_name
        self.log_stream_name = "local"
        self.identity = self.client_context = None
        self._deadline_ms = meta["deadline_ms"]

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))

out.write("ready\n"); out.flush()
for line in sys.stdin:
    msg = json.loads(line)
    try:
        reply = {"result": handler(msg["event"], Context(msg["meta"]))}
    except Exception as e:
        traceback.print_exc()
        reply = {"error": {"errorMessage": str(e), "errorType": type(e).__name__}}
    reply["log"] = capture.take()
    out.write(json.dumps(reply) + "\n"); out.flush()
"""


class Worker:
    """One warm subprocess serving one invocation at a time."""

    def __init__(self, code_dir: Path, handler: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, handler],
            cwd=code_dir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        if self.proc.stdout.readline() != "ready\n":
            raise RuntimeError(f"worker for {handler} failed to start (exit {self.proc.wait()})")

    def invoke(self, event: Any, meta: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"event": event, "meta": meta}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with {self.proc.wait()}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Pool:
    """At most `size` workers of one function version; invocations beyond them wait."""

    def __init__(self, code_dir: Path, handler: str, env: dict[str, str], size: int) -> None:
        self.code_dir, self.handler, self.env, self.size = code_dir, handler, env, size
        self.free: queue.Queue[Worker] = queue.Queue()
        self.started = 0
        self.lock = threading.Lock()

    def acquire(self) -> Worker:
        try:
            return self.free.get_nowait()
        except queue.Empty:
            pass
        with self.lock:
            grow = self.started < self.size
            if grow:
                self.started += 1
        if not grow:
            return self.free.get()  # the bound: wait for a worker to come back
        try:
            return Worker(self.code_dir, self.handler, self.env)
        except Exception:
            with self.lock:
                self.started -= 1
            raise

    def release(self, worker: Worker) -> None:
        if worker.alive():
            self.free.put(worker)
        else:
            with self.lock:
                self.started -= 1

    def close(self) -> None:
        while not self.free.empty():
            self.free.get_nowait().stop()
        shutil.rmtree(self.code_dir.parent, ignore_errors=True)


class LogShipper:
    """Delivers what the functions wrote to their CloudWatch Logs groups (/aws/lambda/<name>),
    as Lambda does: MiniStack's proxy mode passes on the reply body only. Batched, every half
    second, so that logging costs the MiniStack one request per function per batch."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.pending: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.lock = threading.Lock()
        self.stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]proxy-{os.getpid()}"
        self.ready: set[tuple[str, str]] = set()
        self.clients: dict[str, Any] = {}  # by Region: a client costs ~20 ms of CPU to make
        threading.Thread(target=self.run, daemon=True).start()

    def add(self, region: str, function: str, text: str) -> None:
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in text.splitlines() if line.strip()]
        if events:
            with self.lock:
                self.pending.setdefault((region, function), []).extend(events)

    def run(self) -> None:
        while True:
            time.sleep(0.5)
            with self.lock:
                batches, self.pending = self.pending, {}
            for (region, function), events in batches.items():
                try:
                    self.put(region, function, events)
                except Exception as e:  # a lost log line must not stop the invocations
                    print(f"lambda proxy: logs of {function} not delivered: {e}", file=sys.stderr)

    def put(self, region: str, function: str, events: list[dict[str, Any]]) -> None:
        if region not in self.clients:
            self.clients[region] = boto3.client("logs", region_name=region, endpoint_url=self.endpoint)
        logs = self.clients[region]
        group = f"/aws/lambda/{function}"
        if (region, function) not in self.ready:
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_stream(logGroupName=group, logStreamName=self.stream)
            self.ready.add((region, function))
        for i in range(0, len(events), 1000):
            logs.put_log_events(logGroupName=group, logStreamName=self.stream, logEvents=events[i : i + 1000])


class Proxy:
    """The pools of one MiniStack's functions, created on their first invocation."""

    def __init__(self, endpoint: str, workers: int, home: Path) -> None:
        self.endpoint, self.workers, self.home = endpoint, workers, home
        self.pools: dict[tuple[str, str], tuple[str, Pool]] = {}
        self.lock = threading.Lock()
        self.logs = LogShipper(endpoint)

    def pool(self, region: str, function: str, digest: str) -> Pool:
        with self.lock:
            known = self.pools.get((region, function))
            if known and known[0] == digest:
                return known[1]
            pool = self.load(region, function)
            self.pools[(region, function)] = (digest, pool)
        if known:
            known[1].close()  # a redeploy: the old version's workers go
        return pool

    def load(self, region: str, function: str) -> Pool:
        lam = boto3.client("lambda", region_name=region, endpoint_url=self.endpoint)
        described = lam.get_function(FunctionName=function)
        config = described["Configuration"]
        home = Path(tempfile.mkdtemp(prefix=f"{function}-", dir=self.home))
        code = home / "code"
        with urllib.request.urlopen(described["Code"]["Location"], timeout=60) as r:
            (home / "code.zip").write_bytes(r.read())
        with zipfile.ZipFile(home / "code.zip") as z:
            z.extractall(code)
        variables = dict((config.get("Environment") or {}).get("Variables") or {})
        variables.pop(PROXY_VARIABLE, None)
        env = {
            **os.environ,
            **variables,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_LAMBDA_FUNCTION_NAME": function,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.get("MemorySize", 128)),
            "LAMBDA_TASK_ROOT": str(code),
        }
        return Pool(code, config["Handler"], env, self.workers)


class Handler(BaseHTTPRequestHandler):
    proxy: ClassVar[Proxy]

    def do_GET(self) -> None:  # health: which MiniStack this proxy serves
        self.reply(200, {"endpoint": self.proxy.endpoint})

    def do_POST(self) -> None:
        event = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        try:
            _, region, function, digest = self.path.split("/")
        except ValueError:
            self.reply(404, {"errorMessage": f"no function at {self.path}"})
            return
        meta = {
            "arn": self.headers.get("X-Amzn-Lambda-Function-Arn", ""),
            "request_id": self.headers.get("X-Amzn-Lambda-Request-Id", ""),
            "deadline_ms": int(self.headers.get("X-Amzn-Lambda-Deadline-Ms") or 0),
        }
        pool = self.proxy.pool(region, function, digest)
        worker = pool.acquire()
        try:
            reply = worker.invoke(event, meta)
        except Exception as e:
            reply = {"error": {"errorMessage": str(e), "errorType": "Runtime.ExitError"}}
        finally:
            pool.release(worker)
        self.proxy.logs.add(region, function, reply.get("log") or "")
        if "error" in reply:
            self.reply(500, reply["error"])
        else:
            self.reply(200, reply["result"])

    def reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """One line per invocation would flood the log; errors go to stderr from the workers."""


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # MiniStack opens one connection per invocation in flight


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve MiniStack's Lambda proxy invocations.")
    parser.add_argument("--endpoint", required=True, help="the MiniStack whose functions this serves")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=4, help="warm workers per function, at most")
    parser.add_argument("--ministack-pid", type=int, required=True, help="exit when this process has gone")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so that the unpacked code is removed
    with tempfile.TemporaryDirectory(prefix="pacsflow-lambda-proxy-") as home:
        Handler.proxy = Proxy(args.endpoint, args.workers, Path(home))
        server = Server(("127.0.0.1", args.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        while True:  # the workers read their stdin: they end with this process
            time.sleep(1)
            try:
                os.kill(args.ministack_pid, 0)
            except ProcessLookupError:
                return


if __name__ == "__main__":
    main()
