"""Cold start of the deployed package: how long `import app` takes in a fresh interpreter,
and how big the package is unzipped.

The package is the one `make deploy` ships: `infra.deploy.package` (`chalice package`, then
`slim`). It is unzipped and imported as Lambda's Python 3.11 runtime would: no site-packages
(`python -S`), the package first on the path, then the modules the runtime itself provides
(boto3, botocore and their dependencies, `RUNTIME_PROVIDED`, from this environment), with
the environment the stack gives every function (`lambda_env`: tracing on, as the stack's
TraceDisabled parameter defaults to). Every function of the app imports the same `app.py`,
so this is every function's import.

    python -m bench.coldstart            # JSON: cold_start_import_ms, package_mb and detail
    python -m bench.coldstart --runs 20
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20  # Lambda's 250 MB unzipped limit is in these

# What /var/runtime holds on Lambda's Python runtime (and the package need not).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")

IMPORT_APP = (
    "import sys, time\n"
    "sys.path[:0] = sys.argv[1:]\n"
    "t = time.perf_counter()\n"
    "import app\n"
    "print((time.perf_counter() - t) * 1000)\n"
)


def unzipped_mb(zip_path: Path) -> float:
    """The package's size unzipped, in MiB (what counts against Lambda's limit)."""
    with zipfile.ZipFile(zip_path) as z:
        return sum(i.file_size for i in z.infolist()) / MIB


def runtime_dir(dest: Path, names: Iterable[str] = RUNTIME_PROVIDED) -> Path:
    """A folder standing for /var/runtime: a link to this environment's copy of each module."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (dest / source.name).symlink_to(source)
    return dest


def lambda_env(task_root: Path) -> dict[str, str]:
    """The variables Lambda sets and those infra/template.py gives the functions that matter
    at import (the others are read when the service is built, on the first request)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        # /var/task is read-only: what Python compiles at import is not kept for the next start
        "PYTHONDONTWRITEBYTECODE": "1",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": "pacsflow-local-api_handler",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "LOG_LEVEL": "INFO",
        "POWERTOOLS_SERVICE_NAME": "pacsflow",
        "POWERTOOLS_METRICS_NAMESPACE": "pacsflow",
        "POWERTOOLS_TRACE_DISABLED": "false",
        "PACSFLOW_REGION_ID": "us-east-1",
        "PACSFLOW_STAGE": "local",
    }


def import_ms(task_root: Path, runtime: Path, env: dict[str, str], runs: int) -> list[float]:
    """`import app`, in milliseconds, in each of `runs` fresh interpreters."""
    out = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-S", "-c", IMPORT_APP, str(task_root), str(runtime)],
            env=env,
            cwd=task_root,
            check=True,
            capture_output=True,
            text=True,
        )
        out.append(float(done.stdout.strip().splitlines()[-1]))
    return out


def heaviest_imports(importtime_lines: Iterable[str], top: int = 10) -> list[tuple[str, float]]:
    """From `python -X importtime` output: the top-level packages whose modules take the most
    time of their own (ms, summed over every module of the package)."""
    totals: dict[str, float] = {}
    for line in importtime_lines:
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        if not own.strip().isdigit():  # the header line
            continue
        package = name.strip().split(".")[0]
        totals[package] = totals.get(package, 0.0) + int(own) / 1000
    return sorted(((k, round(v, 1)) for k, v in totals.items()), key=lambda kv: -kv[1])[:top]


def profile_imports(task_root: Path, runtime: Path, env: dict[str, str], top: int = 12) -> list[tuple[str, float]]:
    done = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c", IMPORT_APP, str(task_root), str(runtime)],
        env=env,
        cwd=task_root,
        check=True,
        capture_output=True,
        text=True,
    )
    return heaviest_imports(done.stderr.splitlines(), top)


def measure(runs: int = 10, stage: str = "local") -> dict[str, Any]:
    from infra.deploy import package

    zip_path = package(stage) / "deployment.zip"
    with tempfile.TemporaryDirectory(prefix="pacsflow-coldstart-") as tmp:
        task_root, runtime = Path(tmp) / "task", runtime_dir(Path(tmp) / "runtime")
        with zipfile.ZipFile(zip_path) as z:
            z.extractall(task_root)
        env = lambda_env(task_root)
        times = import_ms(task_root, runtime, env, runs)
        heaviest = profile_imports(task_root, runtime, env)
    return {
        "cold_start_import_ms": round(statistics.median(times), 1),
        "package_mb": round(unzipped_mb(zip_path), 1),
        "cold_start_detail": {
            "import_ms_runs": [round(t, 1) for t in times],
            "package_zip_mb": round(zip_path.stat().st_size / MIB, 1),
            "heaviest_imports_ms": dict(heaviest),
            "runtime_provided": list(RUNTIME_PROVIDED),
            "tracing": "on (TraceDisabled defaults to false)",
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--stage", default="local")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.runs, args.stage)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
