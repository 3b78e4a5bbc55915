"""bench/coldstart.py's helpers: the package's unzipped size, the runtime folder and the
reading of `python -X importtime` (the timing itself is the bench's, never a test's)."""

from __future__ import annotations

import zipfile

from bench.coldstart import MIB, heaviest_imports, runtime_dir, unzipped_mb

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       300 |        300 |   _io
import time:      2000 |       2500 |     botocore.utils
import time:       500 |       3000 |   botocore
import time:      1500 |       1500 |     pydantic.main
import time:      1000 |      10000 | app
some other line on stderr
"""


def test_unzipped_size_is_the_sum_of_the_files_not_the_zip(tmp_path):
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.py", "x" * MIB)  # compresses to almost nothing
        z.writestr("b/c.txt", "y" * (MIB // 2))
    assert path.stat().st_size < MIB / 10
    assert unzipped_mb(path) == 1.5


def test_heaviest_imports_sums_each_packages_own_time_over_its_modules():
    assert heaviest_imports(IMPORTTIME.splitlines()) == [
        ("botocore", 2.5),
        ("pydantic", 1.5),
        ("app", 1.0),
        ("_io", 0.3),
    ]
    assert heaviest_imports(IMPORTTIME.splitlines(), top=1) == [("botocore", 2.5)]


def test_the_runtime_folder_links_each_provided_module_that_exists(tmp_path):
    runtime = runtime_dir(tmp_path / "runtime", ("json", "email", "no_such_module_here"))
    assert sorted(p.name for p in runtime.iterdir()) == ["email", "json"]
    assert (runtime / "json" / "__init__.py").exists()
