"""infra/deploy.py's `slim`: the package loses what Lambda never reads and gains compiled
modules that Python uses as they are (Lambda's task root is read-only)."""

from __future__ import annotations

import stat
import subprocess
import sys
import zipfile

from infra.deploy import slim


def test_slim_drops_the_unused_keeps_the_rest_as_it_was_and_adds_unchecked_pyc(tmp_path):
    path = tmp_path / "deployment.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("app.py", "import lib\nVALUE = lib.f()\n")
        lib = zipfile.ZipInfo("lib/__init__.py")
        lib.external_attr = (stat.S_IFREG | 0o755) << 16
        z.writestr(lib, "def f():\n    return 42\n")
        for unused in ("botocore/client.py", "pycountry/locales/de/x.mo", "rich/console.py", "lib/types.pyi"):
            z.writestr(unused, "x = 1\n")
    slim(path)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        mode = z.getinfo("lib/__init__.py").external_attr >> 16
        z.extractall(tmp_path / "task")
    tag = sys.implementation.cache_tag
    assert names == {"app.py", "lib/__init__.py", f"__pycache__/app.{tag}.pyc", f"lib/__pycache__/__init__.{tag}.pyc"}
    assert mode & 0o777 == 0o755
    pyc = (tmp_path / "task" / "lib" / "__pycache__" / f"__init__.{tag}.pyc").read_bytes()
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # PEP 552: hash-based, not checked against the source
    # the source changed after compiling: Python still runs the compiled module (it is not recompiled)
    (tmp_path / "task" / "lib" / "__init__.py").write_text("def f():\n    return 0\n")
    code = "import sys; sys.path.insert(0, sys.argv[1]); import app; print(app.VALUE)"
    run = [sys.executable, "-S", "-B", "-c", code, str(tmp_path / "task")]
    assert subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip() == "42"
