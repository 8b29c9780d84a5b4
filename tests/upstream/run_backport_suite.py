"""Run ``importlib_metadata``'s own upstream test suite with our cache active.

Usage (in an environment where importlib-metadata-cache is installed, e.g. a
tox venv)::

    python tests/upstream/run_backport_suite.py [--version X] [--compare] [-- PYTEST_ARGS]

1. downloads the backport's sdist from PyPI (9.0.1 on Python < 3.11, the
   latest otherwise: 10.x needs 3.11+) and unpacks it into a temp dir;
2. installs it (pip, from the sdist) and its ``test`` extra into the current
   interpreter's environment, less the pytest plugins that only lint, type
   check, measure coverage or time (``pytest-perf`` only collects the root's
   ``exercises.py``, which is not run here);
3. runs pytest on the sdist's ``tests/`` (upstream's ``pytest.ini`` and root
   ``conftest.py`` apply, as when upstream runs it) with our plugin
   ``imc_upstream_plugin`` (this directory goes on ``PYTHONPATH``), which keeps
   the backport patched and fails the session unless the cache served hits to
   the backport's own patched layers.

``--compare`` also runs the suite once with the cache off
(``IMPORTLIB_METADATA_CACHE=0``) and compares the outcome of every test: the
exit status is 1 on any difference (a test that fails upstream without the
cache too is reported, and is no difference), or if either run's own check
fails. Without ``--compare`` the exit status is the cached run's.

pytest runs from a scratch directory, not the sdist's root, so that the
tests import the pip-installed copy of the very same version (with its
``.dist-info``, which tests such as ``version('importlib_metadata')`` need)
rather than the unpacked source through ``sys.path[0]``.
"""

from __future__ import annotations

import argparse
import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLUGIN = "imc_upstream_plugin"

#: pytest plugins of the ``test`` extra that ``tests/`` does not need.
PLUGINS_ONLY = {
    "pytest-perf",  # collects exercises.py at the sdist root; not run here
    "pytest-enabler",
    "pytest-checkdocs",
    "pytest-ruff",
    "pytest-mypy",
    "pytest-cov",
    "pytest-black",
    "pytest-flake8",
}


def log(message: str) -> None:
    print(f"[upstream] {message}", flush=True)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def default_version() -> str | None:
    """9.0.1 on 3.10 (10.x requires 3.11); ``None`` (the latest) otherwise."""
    return "9.0.1" if sys.version_info < (3, 11) else None


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True)


def download(version: str | None, dest: Path) -> Path:
    spec = "importlib_metadata" + (f"=={version}" if version else "")
    # ``--no-binary importlib_metadata``, not ``:all:``: the latter also makes
    # pip build the sdist's build requirements (setuptools, setuptools_scm,
    # coherent.licensed) from source to prepare its metadata, ~70 s more.
    pip(
        "download",
        "--no-binary",
        "importlib_metadata",
        "--no-deps",
        "--quiet",
        spec,
        "-d",
        str(dest),
    )
    found = sorted(dest.glob("importlib_metadata-*.tar.gz"))
    if len(found) != 1:
        raise SystemExit(f"expected one sdist in {dest}, found {found}")
    return found[0]


def unpack(sdist: Path, dest: Path) -> Path:
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # Python < 3.10.12 / 3.11.4
            tar.extractall(dest)
    roots = [p for p in dest.iterdir() if p.is_dir()]
    if len(roots) != 1 or not (roots[0] / "tests").is_dir():
        raise SystemExit(f"unexpected sdist layout in {dest}: {roots}")
    return roots[0]


def test_requirements(root: Path) -> tuple[list[str], list[str]]:
    """The ``test`` extra from the sdist's PKG-INFO: (to install, skipped)."""
    with open(root / "PKG-INFO", encoding="utf-8") as handle:
        meta = email.parser.Parser().parse(handle)
    wanted: list[str] = []
    skipped: list[str] = []
    extra = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
    for line in meta.get_all("Requires-Dist") or []:
        requirement, _, marker = line.partition(";")
        if "test" not in extra.findall(marker):
            continue
        name = re.match(r"\s*([A-Za-z0-9._-]+)", requirement)
        if name and normalize(name.group(1)) in PLUGINS_ONLY:
            skipped.append(requirement.strip())
            continue
        rest = re.sub(r"""(\s+and\s+)?extra\s*==\s*["']test["'](\s+and\s+)?""", " ", marker)
        rest = rest.strip()
        if rest and " or " not in rest:
            wanted.append(f"{requirement.strip()}; {rest}")
        else:
            wanted.append(requirement.strip())
    return wanted, skipped


def installed_version(name: str) -> str | None:
    code = (
        "import importlib.metadata as m, sys\n"
        f"try: print(m.version({name!r}))\n"
        "except m.PackageNotFoundError: sys.exit(1)\n"
    )
    env = dict(os.environ, IMPORTLIB_METADATA_CACHE="0")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return proc.stdout.strip() if proc.returncode == 0 else None


def outcomes(junit: Path) -> dict[str, str]:
    """Per test id, its outcome (``passed``, ``failed``, ``error``, ``skipped``...)."""
    result: dict[str, list[str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag == "failure":
                outcome = "failed"
            elif child.tag == "error":
                outcome = "error"
            elif child.tag == "skipped":
                kind = child.get("type") or ""
                outcome = "xfailed" if "xfail" in kind else "skipped"
        result.setdefault(test_id, []).append(outcome)
    return {k: "+".join(sorted(v)) for k, v in result.items()}


def compare(
    cached: dict[str, str], uncached: dict[str, str]
) -> tuple[list[str], list[tuple[str, str, str]]]:
    """(tests failing without the cache, [(test, without, with) that differ])."""
    bad = {"failed", "error"}
    upstream_failures = sorted(t for t, o in uncached.items() if bad & set(o.split("+")))
    differences = []
    for test in sorted(set(cached) | set(uncached)):
        with_cache = cached.get(test, "absent")
        without = uncached.get(test, "absent")
        if with_cache != without:
            differences.append((test, without, with_cache))
    return upstream_failures, differences


def run_suite(
    root: Path, work: Path, mode: str, pytest_args: list[str]
) -> tuple[int, dict[str, str], dict, float]:
    junit = work / f"junit-{mode}.xml"
    report = work / f"report-{mode}.json"
    scratch = work / f"cwd-{mode}"
    scratch.mkdir(exist_ok=True)
    for stale in (junit, report):
        if stale.exists():
            stale.unlink()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), *filter(None, [env.get("PYTHONPATH")])])
    env["IMC_UPSTREAM_MODE"] = mode
    env["IMC_UPSTREAM_REPORT"] = str(report)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_PLUGINS", None)
    if mode == "cached":
        env.pop("IMPORTLIB_METADATA_CACHE", None)
        # Upstream's fixtures write a fresh temp site dir for every test and
        # query it within milliseconds. The cache trusts a stamp only once it
        # is older than the settle window (default 2000 ms), so with the
        # default nothing the tests create would ever be served from memory
        # and this run would prove nothing. The kernel here keeps nanosecond
        # timestamps, so 0 is safe (the racy-timestamp rule still requires a
        # stamp strictly older than the moment it was observed).
        env["IMPORTLIB_METADATA_CACHE_SETTLE_MS"] = "0"
    else:
        env["IMPORTLIB_METADATA_CACHE"] = "0"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        PLUGIN,
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(root),
        "-rfEs",
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit2",
        str(root / "tests"),
        *pytest_args,
    ]
    log(f"[{mode}] $ " + " ".join(cmd))
    start = time.monotonic()
    rc = subprocess.run(cmd, cwd=scratch, env=env).returncode
    elapsed = time.monotonic() - start
    log(f"[{mode}] pytest exited {rc} after {elapsed:.1f} s")
    results = outcomes(junit) if junit.exists() else {}
    verdict = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    return rc, results, verdict, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--version",
        help="importlib_metadata version (default: 9.0.1 on 3.10, else the latest)",
    )
    parser.add_argument(
        "--compare", action="store_true", help="also run without the cache and diff"
    )
    parser.add_argument("--workdir", type=Path, help="keep the work files here")
    parser.add_argument(
        "--no-install", action="store_true", help="assume the sdist and deps are installed"
    )
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to pytest")
    args = parser.parse_args(argv)

    version = args.version or default_version()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="imc-upstream-"))
    work.mkdir(parents=True, exist_ok=True)
    work = work.resolve()
    timings: dict[str, float] = {}
    try:
        start = time.monotonic()
        sdist = download(version, work / "dist")
        root = unpack(sdist, work / "src")
        log(f"sdist: {sdist.name} -> {root}")
        wanted, skipped = test_requirements(root)
        log(f"test requirements: {wanted}; skipped (plugins only): {skipped}")
        if not args.no_install:
            pip("install", "--quiet", str(sdist), *wanted)
        expected = sdist.name[len("importlib_metadata-") : -len(".tar.gz")]
        got = installed_version("importlib_metadata")
        if got != expected:
            log(f"importlib_metadata {got} is installed, not {expected}")
            return 2
        timings["download+install"] = time.monotonic() - start
        log(f"importlib_metadata {got} installed on Python {sys.version.split()[0]}")

        rc, cached, verdict, timings["cached run"] = run_suite(
            root, work, "cached", args.pytest_args
        )
        status = 0
        if not verdict.get("ok"):
            log(f"cached run: cache check FAILED: {verdict.get('problems', 'no report')}")
            status = 1
        else:
            log(
                f"cached run: cache check passed: {verdict['backport_hits']} hits served "
                f"to the backport ({verdict['backport_search_hits']} listings, "
                f"{verdict['backport_read_text_hits']} texts) in "
                f"{verdict['tests_with_backport_hits']} of {verdict['tests_run']} tests; "
                f"{verdict['total_hits']} hits in all"
            )
        if not cached:
            log("cached run: no junit results")
            status = 1

        if not args.compare:
            if rc != 0:
                log("cached run failed; use --compare to see whether upstream fails too")
            return status or rc

        rc_off, uncached, verdict_off, timings["uncached run"] = run_suite(
            root, work, "uncached", args.pytest_args
        )
        if not verdict_off.get("ok"):
            log(f"uncached run: baseline check FAILED: {verdict_off.get('problems')}")
            status = 1
        if not uncached:
            log("uncached run: no junit results")
            status = 1
        upstream_failures, differences = compare(cached, uncached)
        if upstream_failures:
            log(f"{len(upstream_failures)} test(s) fail WITHOUT the cache too (upstream):")
            for test in upstream_failures:
                log(f"  {uncached[test]:8} {test}")
        counts = {}
        for outcome in cached.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        log(f"cached outcomes: {dict(sorted(counts.items()))}")
        if differences:
            status = 1
            log(f"{len(differences)} test(s) differ (without cache -> with cache):")
            for test, without, with_cache in differences:
                log(f"  {without} -> {with_cache}: {test}")
        else:
            log(f"identical outcomes for all {len(cached)} tests with and without the cache")
        if rc not in (0, 1) or rc_off not in (0, 1):
            log(f"unexpected pytest exit codes: cached {rc}, uncached {rc_off}")
            status = 1
        return status
    finally:
        timings_text = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        log(f"timings: {timings_text}")
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
