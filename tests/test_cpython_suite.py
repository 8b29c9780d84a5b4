"""CPython's own ``importlib.metadata`` tests, run with the cache active.

The standard library's test suite is the reference for what every public API
returns on each version. It runs in a subprocess with the cache activated and
a settle window of 0 (its fixtures query files they wrote a moment before;
this kernel's timestamps are fine-grained), and must pass as it does without
the cache, with the cache having served listings or files along the way.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MODULES = (
    [
        "test.test_importlib.metadata.test_main",
        "test.test_importlib.metadata.test_api",
        "test.test_importlib.metadata.test_zip",
    ]
    if sys.version_info >= (3, 13)
    else [
        "test.test_importlib.test_main",
        "test.test_importlib.test_metadata_api",
        "test.test_importlib.test_zip",
    ]
)

RUNNER = """
import json, sys, unittest
from importlib_metadata_cache import _patch, _record, _startup
_startup.activate()
import importlib.metadata
served = []
native_lookup_for = _record.lookup_for
def counting(root, provider, lookup_class):
    found = native_lookup_for(root, provider, lookup_class)
    if found is not _record.MISS:
        served.append(root)
    return found
_record.lookup_for = counting
_patch.unpatch_all()
_patch.patch_provider(importlib.metadata)  # rebind to the counting lookup
suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:])
result = unittest.TextTestRunner(verbosity=1).run(suite)
print(json.dumps({"patched": sorted(_patch.patched), "served": len(served),
                  "run": result.testsRun, "ok": result.wasSuccessful()}))
"""


@pytest.mark.skipif(
    importlib.util.find_spec(MODULES[0]) is None, reason="this CPython ships no test package"
)
def test_cpython_importlib_metadata_suite_passes_with_the_cache(tmp_path: Path) -> None:
    """The standard library's own tests pass, and the cache served them."""
    env = dict(
        os.environ,
        IMPORTLIB_METADATA_CACHE="1",
        IMPORTLIB_METADATA_CACHE_SETTLE_MS="0",
        IMPORTLIB_METADATA_CACHE_DIR=str(tmp_path / "store"),
    )
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, *MODULES],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=600,
    )
    print(proc.stdout)
    print(proc.stderr, file=sys.stderr)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["ok"], proc.stderr[-4000:]
    assert report["run"] > 50
    assert report["patched"] == ["importlib.metadata"]
    assert report["served"] > 0
