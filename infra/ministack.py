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

HOST = "127.0.0.1"
REGION = "us-east-1"
# MiniStack accepts any credentials; boto3 only needs some to sign requests.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def endpoint(port: int) -> str:
    return f"http://{HOST}:{port}"


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
            [sys.executable, "-m", "ministack"],
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
    return proc


def stop(pid: int, timeout: float = 30) -> bool:
    """Stop the MiniStack process group started by `start` (Lambda workers included), gracefully.

    SIGTERM: its server (hypercorn) then runs MiniStack's shutdown, which saves the state when
    it was started with `persist`. Only if it has not exited within `timeout` seconds is the
    group killed (SIGKILL), and then nothing is saved.
    """
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
