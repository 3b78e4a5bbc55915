"""Start, probe and stop the embedded local AWS (MiniStack) on 127.0.0.1.

Used by `make run` (through infra/deploy.py) and by the test suite, which starts its own
MiniStack on a free port so that tests never touch a developer's running stack.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3

HOST = "127.0.0.1"
REGION = "us-east-1"
# MiniStack accepts any credentials; boto3 only needs some to sign requests.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
# Where a MiniStack started by `start` keeps the URL of its Lambda proxy (infra/lambda_proxy.py).
LAMBDA_PROXY_PARAMETER = "/pacsflow/local/lambda-proxy-url"
# MiniStack pid -> its Lambda proxy's pid, for the processes this interpreter started.
LAMBDA_PROXIES: dict[int, int] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def endpoint(port: int) -> str:
    return f"http://{HOST}:{port}"


MODULE = "infra.ministack_gc"  # what `start` runs: MiniStack, collected (infra/ministack_gc.py)


def is_ours(pid: int) -> bool:
    """Whether `pid` is a MiniStack that `start` started: its command line runs MODULE. A pid
    file outlives a reboot or a crash, and its pid may since name any other process. (Linux's
    /proc, else `ps` as on macOS; -ww: the whole command line, never cut.)"""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.parent.joinpath("self").exists():  # a /proc: the process is there or gone
        try:
            return MODULE in cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            return False
    ps = subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return MODULE in ps.stdout.split()


def is_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint(port)}/_ministack/health", timeout=1) as r:
            status: int = r.status
            return status == 200
    except OSError:
        return False


def start(port: int, log_path: Path, state_dir: Path | None = None, persist: bool = False) -> subprocess.Popen[bytes]:
    """Start MiniStack in its own session; return once it answers its health check.

    With `state_dir`, everything MiniStack writes to disk goes under it (temporary files,
    S3 data, its Cognito signing keys, Lambda code blobs). With `persist` too, it loads the
    state saved there at start and saves its whole state there on a graceful stop (`stop`):
    `PERSIST_STATE=1` with `STATE_DIR`, and `S3_PERSIST=1` for S3 objects. A hard kill
    (SIGKILL) saves nothing: everything since the last start is lost.
    """
    env = dict(os.environ)
    env.update(CREDENTIALS)
    env.update(
        GATEWAY_PORT=str(port),
        BIND_HOST=HOST,
        MINISTACK_HOST="localhost",
        MINISTACK_REGION=REGION,
        # With `cryptography` installed MiniStack would open an IoT mTLS listener on
        # 0.0.0.0:8883 whatever BIND_HOST says; keep everything on loopback.
        IOT_MTLS_ENABLED="0",
        SFTP_ENABLED="0",
        LOG_LEVEL=os.environ.get("MINISTACK_LOG_LEVEL", "WARNING"),
        # MiniStack hands its own AWS_ENDPOINT_URL to the functions it runs: it must be this
        # MiniStack's, never one inherited from a shell or test session talking to another
        AWS_ENDPOINT_URL=endpoint(port),
    )
    if state_dir is not None:
        env["TMPDIR"] = str(state_dir)
        env["S3_DATA_DIR"] = str(state_dir / "s3")
        env["STATE_DIR"] = str(state_dir / "state")
    if persist:
        if state_dir is None:
            raise ValueError("persist needs a state_dir")
        env.update(PERSIST_STATE="1", S3_PERSIST="1")
    else:
        env.update(PERSIST_STATE="0", S3_PERSIST="0")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # The child keeps its own copy of the log's descriptor; ours is closed once it has started.
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", MODULE],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while not is_up(port):
        if proc.poll() is not None:
            raise RuntimeError(f"MiniStack exited with {proc.returncode}; see {log_path}")
        if time.monotonic() > deadline:
            stop(proc.pid)
            raise RuntimeError(f"MiniStack did not start on port {port}; see {log_path}")
        time.sleep(0.1)
    if int(os.environ.get("LAMBDA_PROXY_WORKERS", "4")):  # 0: MiniStack's own workers (comparisons)
        start_lambda_proxy(port, proc.pid, log_path)
    return proc


def start_lambda_proxy(port: int, ministack_pid: int, log_path: Path) -> str:
    """Start infra/lambda_proxy.py for the MiniStack on `port` and record its URL in that
    MiniStack (SSM parameter LAMBDA_PROXY_PARAMETER), where a deploy finds it.

    It ends by itself once the MiniStack has gone. LAMBDA_PROXY_WORKERS bounds the warm
    workers of each function (default 4)."""
    proxy_port = free_port()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "infra.lambda_proxy", "--endpoint", endpoint(port)),
                *("--port", str(proxy_port), "--ministack-pid", str(ministack_pid)),
                *("--workers", os.environ.get("LAMBDA_PROXY_WORKERS", "4")),
            ],
            cwd=Path(__file__).resolve().parent.parent,
            # it and the functions it runs call this MiniStack, with credentials of their own
            env={**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": endpoint(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://{HOST}:{proxy_port}"
    deadline = time.monotonic() + 30
    while not lambda_proxy_up(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the Lambda proxy did not start; see {log_path}")
        time.sleep(0.1)
    LAMBDA_PROXIES[ministack_pid] = proc.pid
    ssm(endpoint(port)).put_parameter(Name=LAMBDA_PROXY_PARAMETER, Value=url, Type="String", Overwrite=True)
    return url


def lambda_proxy_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            status: int = r.status
            return status == 200
    except OSError:
        return False


def lambda_proxy_url(endpoint_url: str) -> str | None:
    """The URL of the running Lambda proxy of the MiniStack at `endpoint_url`, if it has one."""
    client = ssm(endpoint_url)
    try:
        url: str = client.get_parameter(Name=LAMBDA_PROXY_PARAMETER)["Parameter"]["Value"]
    except client.exceptions.ParameterNotFound:
        return None
    return url if lambda_proxy_up(url) else None


def ssm(endpoint_url: str) -> Any:
    return boto3.client(
        "ssm",
        region_name=REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def stop(pid: int, timeout: float = 30) -> bool:
    """Stop the MiniStack process group started by `start` (Lambda workers included) and its
    Lambda proxy, gracefully.

    SIGTERM: its server (hypercorn) then runs MiniStack's shutdown, which saves the state when
    it was started with `persist`. Only if it has not exited within `timeout` seconds is the
    group killed (SIGKILL), and then nothing is saved.
    """
    stopped = _stop(pid, timeout)
    proxy = LAMBDA_PROXIES.pop(pid, None)
    if proxy is not None:  # it would end by itself within a second; its workers with it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proxy, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(proxy, 0)
    return stopped


def _stop(pid: int, timeout: float = 30) -> bool:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child, or it lingers as a zombie
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    print(f"MiniStack (pid {pid}) did not stop within {timeout:g}s: killed, its state is NOT saved", file=sys.stderr)
    os.killpg(pid, signal.SIGKILL)
    return True
