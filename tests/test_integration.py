"""The installed wheel in real venvs, driven by real subprocesses.

One venv with our wheel is shared by the module (tests that change it put it
back in a ``finally``); the uninstall test gets its own. Every subprocess runs
with a clean environment (see ``venvs.clean_env``) and prints its output.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import venvs
from importlib_metadata_cache._bench import QUESTIONS
from venvs import OUR_FILES, Venv, fake_wheel, pip, run

pytestmark = pytest.mark.integration

OFF_VARIABLE = "IMPORTLIB_METADATA_CACHE"
SETTLE_VARIABLE = "IMPORTLIB_METADATA_CACHE_SETTLE_MS"
SITECUSTOMIZE = venvs.REPO_ROOT / "sitecustomize_example" / "sitecustomize.py"

#: What ``site`` may import on our behalf at every interpreter start.
STARTUP_MODULES = {
    "importlib_metadata_cache",
    "importlib_metadata_cache._startup",
}
#: Never at startup: each costs milliseconds in every process of the venv.
HEAVY_MODULES = ("importlib.metadata", "json", "threading", "pathlib", "typing", "__future__")

IS_ACTIVE = "import importlib_metadata_cache._startup as s; print(s.is_active())"
#: Whether the stdlib provider is patched, after using it.
PATCH_STATE = textwrap.dedent(
    """
    import importlib.metadata as md, json, sys
    md.entry_points(); md.version("pip")
    print(json.dumps([
        "importlib_metadata_cache._patch" in sys.modules,
        hasattr(md.FastPath.search, "__wrapped__"),
        hasattr(md.PathDistribution.read_text, "__wrapped__"),
    ]))
    """
)
COUNT_FINDERS = (
    "import sys; print(sum(type(f).__name__ == '_PostImportFinder' for f in sys.meta_path))"
)


# --------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return venvs.our_wheel(tmp_path_factory)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Venv:
    """A fresh venv with our wheel installed; shared, so tests restore it."""
    return venvs.create_venv(tmp_path_factory.mktemp("shared") / "venv", wheel)


@pytest.fixture
def fresh_venv(tmp_path: Path, wheel: Path) -> Venv:
    """A venv of its own, for a test that breaks it."""
    return venvs.create_venv(tmp_path / "venv", wheel)


@pytest.fixture(scope="module")
def fake_wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``fakepkg`` 1.0, 1.0 again with other entry points, and 2.0."""
    root = tmp_path_factory.mktemp("fake-wheels")
    return {
        "1.0": fake_wheel(root / "a", "fakepkg", "1.0", "[imc.test]\nalpha = fakepkg:alpha\n"),
        "1.0-other": fake_wheel(
            root / "b",
            "fakepkg",
            "1.0",
            "[imc.test]\nbeta = fakepkg:beta\ngamma = fakepkg.sub:gamma [extra]\n",
            summary="Same version, other entry points.",
        ),
        "2.0": fake_wheel(
            root / "c",
            "fakepkg",
            "2.0",
            "[imc.test]\ndelta = fakepkg:delta\n\n[console_scripts]\nfakepkg-cli = fakepkg:main\n",
        ),
    }


@contextlib.contextmanager
def moved_away(venv: Venv, names: tuple[str, ...] = OUR_FILES) -> Iterator[None]:
    """Take our startup files out of site-packages for the duration."""
    stash = venv.root / "stash"
    stash.mkdir(exist_ok=True)
    moved = []
    try:
        for name in names:
            source = venv.site_packages / name
            if source.exists():
                source.rename(stash / name)
                moved.append(name)
        yield
    finally:
        for name in moved:
            (stash / name).rename(venv.site_packages / name)


@contextlib.contextmanager
def sitecustomize_in(venv: Venv) -> Iterator[Path]:
    target = venv.site_packages / "sitecustomize.py"
    assert not target.exists()
    shutil.copyfile(SITECUSTOMIZE, target)
    try:
        yield target
    finally:
        target.unlink()


def status(
    venv: Venv, *, env: dict[str, str | None] | None = None, flags: tuple[str, ...] = ()
) -> Any:
    proc = run(venv, ["-m", "importlib_metadata_cache", "status", "--json"], env=env, flags=flags)
    return json.loads(proc.stdout)


def json_of(venv: Venv, code: str, **kwargs: Any) -> Any:
    return json.loads(run(venv, code, **kwargs).stdout)


# ----------------------------------------------------------------- activation


def test_status_active(venv: Venv) -> None:
    report = status(venv)
    assert {"active", "reason", "startup_files", "providers", "entries"} <= set(report)
    assert report["active"] is True
    assert report["reason"] == "activated"
    assert report["cache_dir"] == str(venv.cache_dir)  # never the user's cache
    assert sorted(report["startup_files"]) == sorted(
        str(venv.site_packages / name) for name in OUR_FILES
    )
    # status() queried once, so the stdlib provider was imported and patched.
    assert "importlib.metadata" in report["providers"]
    entries = {e["entry"]: e for e in report["entries"]}
    assert entries[str(venv.site_packages)]["kind"] == "directory"
    assert entries[str(venv.site_packages)]["record"] is not None


def test_status_human_output(venv: Venv) -> None:
    proc = run(venv, ["-m", "importlib_metadata_cache", "status"])
    assert "cache: active (activated)" in proc.stdout
    assert str(venv.site_packages) in proc.stdout


def test_status_into_a_pipe_closed_early_is_quiet(venv: Venv) -> None:
    """``status | head -1``: the reader leaves; no BrokenPipeError traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # no reader at all: every write fails with EPIPE
    try:
        proc = subprocess.run(
            [str(venv.python), "-m", "importlib_metadata_cache", "status"],
            env=venvs.clean_env(),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write_end)
    assert proc.stderr == ""
    assert proc.returncode == 1


@pytest.mark.parametrize("value", ["0", "false", "OFF", "no", " No "])
def test_off_switch(venv: Venv, value: str, tmp_path: Path) -> None:
    store = tmp_path / "store"
    env: dict[str, str | None] = {OFF_VARIABLE: value, "IMPORTLIB_METADATA_CACHE_DIR": str(store)}
    report = status(venv, env=env)
    assert report["active"] is False
    assert OFF_VARIABLE in report["reason"]
    assert report["providers"] == {}
    # Importing and using the provider does not patch it either,
    assert json_of(venv, PATCH_STATE, env=env) == [False, False, False]
    # and nothing is persisted.
    assert not store.exists()
    # (The positive control: on by default.)
    assert json_of(venv, PATCH_STATE) == [True, True, True]


@pytest.mark.parametrize("value", ["1", "", "yes", "on", "true"])
def test_other_values_leave_it_on(venv: Venv, value: str) -> None:
    assert run(venv, IS_ACTIVE, env={OFF_VARIABLE: value}).stdout.strip() == "True"


@pytest.mark.parametrize("flag", ["-I", "-E"])
def test_isolated_and_ignore_environment(venv: Venv, flag: str) -> None:
    """Design decision: our variables are honoured under -E/-I.

    They are not PYTHON* variables, and the off switch must always work.
    """
    assert run(venv, IS_ACTIVE, flags=[flag]).stdout.strip() == "True"
    off = run(venv, IS_ACTIVE, flags=[flag], env={OFF_VARIABLE: "0"})
    assert off.stdout.strip() == "False"
    # -m still finds the installed package (-I only drops the cwd/script dir).
    report = status(venv, flags=(flag,))
    assert report["active"] is True
    report = status(venv, flags=(flag,), env={OFF_VARIABLE: "off"})
    assert report["active"] is False
    assert OFF_VARIABLE in report["reason"]


def test_no_site(venv: Venv) -> None:
    code = (
        "import sys, importlib.metadata as m; "
        "print(len(list(m.distributions())), 'importlib_metadata_cache' in sys.modules)"
    )
    proc = run(venv, code, flags=["-S"])
    count, loaded = proc.stdout.split()
    assert int(count) >= 0
    assert loaded == "False"
    assert proc.stderr == ""
    # With site-packages on the path but site not run, the package is
    # importable, yet no .pth was processed: not active, and status says why.
    env: dict[str, str | None] = {"PYTHONPATH": str(venv.site_packages)}
    proc = run(venv, code, flags=["-S"], env=env)
    count, loaded = proc.stdout.split()
    assert int(count) >= 2  # pip and ourselves
    assert loaded == "False"
    report = status(venv, flags=("-S",), env=env)
    assert report["active"] is False
    assert "-S" in report["reason"]
    assert report["providers"] == {}


# --------------------------------------------------------------- startup cost


def test_startup_imports_only_our_tiny_modules(venv: Venv) -> None:
    # sys.modules is read before anything is imported for the printing itself.
    code = "import sys; mods = sorted(sys.modules); print('\\n'.join(mods))"
    with_pth = set(run(venv, code).stdout.split())
    off = set(run(venv, code, env={OFF_VARIABLE: "0"}).stdout.split())
    neutral = venv.site_packages / "zz_imc_test_neutral.pth"
    with moved_away(venv):
        no_pth = set(run(venv, code).stdout.split())
        # The baseline: a .pth file that does nothing. Processing any .pth
        # file costs site its own imports (3.13+ decodes it as utf-8-sig).
        neutral.write_text("# processed by site, does nothing\n", encoding="ascii")
        try:
            baseline = set(run(venv, code).stdout.split())
        finally:
            neutral.unlink()
    assert set(venv.our_files()) == set(OUR_FILES)  # restored
    added = with_pth - baseline
    assert added == STARTUP_MODULES
    assert not baseline - with_pth
    for name in HEAVY_MODULES:
        assert name not in added
    # Against no .pth at all, the difference is site's own (encodings only).
    assert all(name.startswith("encodings.") for name in with_pth - no_pth - STARTUP_MODULES)
    # The off switch costs the same imports and no more.
    assert off == with_pth


def test_startup_is_silent(venv: Venv) -> None:
    proc = run(venv, "pass")
    assert (proc.stdout, proc.stderr) == ("", "")
    proc = run(venv, "pass", flags=["-X", "dev", "-W", "error"])
    assert (proc.stdout, proc.stderr) == ("", "")


@pytest.mark.parametrize("name", ["aaa_imc_test.pth", "zzz_imc_test.pth"])
def test_another_pth_imports_the_provider(venv: Venv, name: str) -> None:
    """A .pth processed before ours (already imported) or after (hooked)."""
    other = venv.site_packages / name
    other.write_text("import importlib.metadata\n", encoding="ascii")
    try:
        assert json_of(venv, PATCH_STATE) == [True, True, True]
        report = status(venv)
        assert report["active"] is True
        assert "importlib.metadata" in report["providers"]
        assert json_of(venv, PATCH_STATE, env={OFF_VARIABLE: "0"}) == [False, False, False]
    finally:
        other.unlink()


# ------------------------------------------------------------------ querying


QUERY_TWICE = textwrap.dedent(
    """
    import importlib.metadata as md, json
    def query():
        eps = md.entry_points(group="console_scripts")
        return [[ep.name, ep.value, ep.dist.name] for ep in eps]
    first = query()
    second = query()
    import importlib_metadata_cache
    print(json.dumps({
        "first": first,
        "second": second,
        "status": importlib_metadata_cache.status(query=False),
    }))
    """
)


def test_queries_are_served(venv: Venv) -> None:
    proc = run(venv, QUERY_TWICE, env={SETTLE_VARIABLE: "0", "IMPORTLIB_METADATA_CACHE_DEBUG": "1"})
    cached = json.loads(proc.stdout)
    uncached = json_of(venv, QUERY_TWICE, env={OFF_VARIABLE: "0"})
    assert cached["status"]["active"] is True
    assert uncached["status"]["active"] is False
    assert cached["first"] == cached["second"] == uncached["first"] == uncached["second"]
    names = {name for name, _, _ in cached["first"]}
    assert {"pip", "importlib-metadata-cache"} <= names
    assert "importlib.metadata" in cached["status"]["providers"]
    assert uncached["status"]["providers"] == {}
    entries = {e["entry"]: e for e in cached["status"]["entries"]}
    record = entries[str(venv.site_packages)]["record"]
    assert record is not None
    assert record["state"] == "fresh"  # settle window 0: trusted at once
    assert record["fresh"] is True
    assert record["distributions"] >= 2
    # The second query was served from the answer the first one kept for this
    # sys.path (the entries, watched files and distributions re-stated).
    replayed = "entry_points(group='console_scripts'): the answer kept for this sys.path"
    assert replayed in proc.stderr


def test_debug_trace(venv: Venv) -> None:
    proc = run(
        venv,
        "import importlib.metadata as md; md.entry_points(); md.entry_points()",
        env={"IMPORTLIB_METADATA_CACHE_DEBUG": "1"},
    )
    lines = proc.stderr.splitlines()
    assert lines, "the debug trace printed nothing"
    assert all(line.startswith("importlib-metadata-cache: ") for line in lines), lines
    assert any("patched importlib.metadata" in line for line in lines)
    # And nothing at all without it.
    proc = run(venv, "import importlib.metadata as md; md.entry_points(); md.entry_points()")
    assert proc.stderr == ""


# The same queries in the long-running process and in each fresh oracle.
QUERY_SRC = textwrap.dedent(
    """
    import importlib.metadata as md
    import json

    def _ep(ep):
        dist = ep.dist
        return [ep.name, ep.value, ep.group, None if dist is None else [dist.name, dist.version]]

    def query():
        out = {"entry_points": [_ep(ep) for ep in md.entry_points(group="imc.test")]}
        try:
            out["version"] = md.version("fakepkg")
        except md.PackageNotFoundError as exc:
            out["version"] = ["PackageNotFoundError", str(exc)]
        try:
            dist = md.distribution("fakepkg")
        except md.PackageNotFoundError as exc:
            out["distribution"] = ["PackageNotFoundError", str(exc)]
        else:
            out["distribution"] = {
                "name": dist.metadata["Name"],
                "version": dist.version,
                "summary": dist.metadata["Summary"],
                "entry_points": [_ep(ep) for ep in dist.entry_points],
                "path": str(dist._path),
            }
        out["distributions"] = [d.metadata["Name"] for d in md.distributions()]
        out["console_scripts"] = [_ep(ep) for ep in md.entry_points(group="console_scripts")]
        return out

    def snapshot():
        from importlib_metadata_cache import _snapshot
        return json.loads(json.dumps(_snapshot.snapshot(md)))
    """
)

ORACLE_SRC = QUERY_SRC + textwrap.dedent(
    """
    import sysconfig
    import importlib_metadata_cache as _imc
    _query, _snap = query(), snapshot()
    _where = sysconfig.get_path("purelib")
    _entries = _imc.status(query=False)["entries"]
    print(json.dumps({
        "active": _imc.is_active(),
        "query": _query,
        "snapshot": _snap,
        "record": next(e.get("record") for e in _entries if e["entry"] == _where),
    }))
    """
)

DRIVER_SRC = QUERY_SRC + textwrap.dedent(
    """
    import os, subprocess, sys, sysconfig, time
    import importlib_metadata_cache
    from importlib_metadata_cache import _snapshot

    ORACLE = sys.argv[2]

    def oracle(cache=False):
        # A fresh process: uncached, or cached (it loads the persisted records).
        env = dict(os.environ, IMPORTLIB_METADATA_CACHE="1" if cache else "0")
        proc = subprocess.run(
            [sys.executable, "-c", ORACLE], env=env, capture_output=True, text=True
        )
        sys.stderr.write(proc.stderr)
        if proc.returncode:
            raise SystemExit(f"the oracle failed with {proc.returncode}")
        return json.loads(proc.stdout)

    def site_packages_record():
        where = sysconfig.get_path("purelib")
        entries = importlib_metadata_cache.status(query=False)["entries"]
        return next(e.get("record") for e in entries if e["entry"] == where)

    results = []
    for step in json.loads(sys.argv[1]):
        if step[0] == "sleep":
            time.sleep(step[1])
            continue
        if step[0] == "pip":
            proc = subprocess.run(
                [sys.executable, "-m", "pip", *step[1:]], capture_output=True, text=True
            )
            sys.stderr.write(f"$ pip {' '.join(step[1:])}\\n{proc.stdout}{proc.stderr}")
            if proc.returncode:
                raise SystemExit(f"pip failed with {proc.returncode}")
            continue
        # Twice: the first query may (re)list, the second may be served.
        first = {"query": query(), "snapshot": snapshot()}
        second = {"query": query(), "snapshot": snapshot()}
        ref = oracle()
        fresh = oracle(cache=True)
        results.append({
            "label": step[1],
            "active": importlib_metadata_cache.is_active(),
            "providers": sorted(importlib_metadata_cache.status(query=False)["providers"]),
            "oracle_active": ref["active"],
            "record": site_packages_record(),
            "fresh_active": fresh["active"],
            "fresh_record": fresh["record"],
            "cached": [first["query"], second["query"], fresh["query"]],
            "uncached": ref["query"],
            "snapshot_diff": [
                f"{run}: {line}"
                for run, got in (("first", first), ("second", second), ("fresh", fresh))
                for line in _snapshot.diff(ref["snapshot"], got["snapshot"])
            ],
        })
    print(json.dumps(results))
    """
)


def _eps(*pairs: tuple[str, str], version: str) -> list[Any]:
    return [[name, value, "imc.test", ["fakepkg", version]] for name, value in pairs]


@pytest.mark.parametrize(
    ("settle_ms", "pause"),
    [("0", 0.0), (None, 0.0), ("200", 0.3)],
    ids=["settle-0", "settle-default", "settle-200-paused"],
)
def test_pip_between_queries_in_one_process(
    venv: Venv, fake_wheels: dict[str, Path], settle_ms: str | None, pause: float
) -> None:
    """Install, reinstall, upgrade and uninstall under a running process.

    No ``importlib.invalidate_caches()`` anywhere: the cache must notice by
    itself, and every answer must equal a fresh uncached process's. With a
    ``pause`` longer than the settle window, each state is also queried once
    settled, so that pip then changes what the cache trusts and serves.
    """
    install = ["pip", "install", "--no-index", "--no-deps"]
    changes = [
        ("installed", [*install, str(fake_wheels["1.0"])]),
        ("reinstalled", [*install, "--force-reinstall", str(fake_wheels["1.0-other"])]),
        ("upgraded", [*install, "--upgrade", str(fake_wheels["2.0"])]),
        ("uninstalled", ["pip", "uninstall", "-y", "fakepkg"]),
    ]
    steps: list[list[Any]] = [["query", "before"]]
    for label, command in changes:
        if pause:
            steps += [["sleep", pause], ["query", f"{steps[-1][1]}, settled"]]
        steps += [command, ["query", label]]
    try:
        proc = run(
            venv,
            ["-c", DRIVER_SRC, json.dumps(steps), ORACLE_SRC],
            env={SETTLE_VARIABLE: settle_ms},
        )
    finally:
        pip(venv, "uninstall", "-y", "fakepkg")  # leave the shared venv clean
    results = {r["label"]: r for r in json.loads(proc.stdout)}
    assert list(results) == [s[1] for s in steps if s[0] == "query"]

    for label, result in results.items():
        assert result["active"] is True, label
        assert result["providers"] == ["importlib.metadata"], label
        assert result["oracle_active"] is False, label
        assert result["fresh_active"] is True, label
        first, second, fresh = result["cached"]
        assert first == result["uncached"], label
        assert second == result["uncached"], label
        assert fresh == result["uncached"], label
        assert result["snapshot_diff"] == [], label
        if settle_ms == "0" or label.endswith(", settled"):
            # The record was trusted: the second query was served from it. The
            # long-running process saves it at its next query or at exit, so
            # the fresh process either loaded it or rebuilt and saved it.
            record = result["record"]
            assert record is not None, label
            assert record["state"] == "fresh", label
            assert record["hits"] >= 1, label
            assert result["fresh_record"]["source"] in ("loaded", "saved"), label
            assert result["fresh_record"]["state"] == "fresh", label
    if pause:
        assert sum(label.endswith(", settled") for label in results) == len(changes)

    not_found = ["PackageNotFoundError", "No package metadata was found for fakepkg"]
    expected = {
        "before": ([], not_found),
        "installed": (_eps(("alpha", "fakepkg:alpha"), version="1.0"), "1.0"),
        "reinstalled": (
            _eps(("beta", "fakepkg:beta"), ("gamma", "fakepkg.sub:gamma [extra]"), version="1.0"),
            "1.0",
        ),
        "upgraded": (_eps(("delta", "fakepkg:delta"), version="2.0"), "2.0"),
        "uninstalled": ([], not_found),
    }
    for label, (eps, version) in expected.items():
        answer = results[label]["cached"][1]
        assert answer["entry_points"] == eps, label
        assert answer["version"] == version, label
    assert results["reinstalled"]["cached"][1]["distribution"]["summary"] == (
        "Same version, other entry points."
    )
    scripts = [ep[0] for ep in results["upgraded"]["cached"][1]["console_scripts"]]
    assert "fakepkg-cli" in scripts
    scripts = [ep[0] for ep in results["uninstalled"]["cached"][1]["console_scripts"]]
    assert "fakepkg-cli" not in scripts


# -------------------------------------------------------------------- verify


def _verify(venv: Venv, env: dict[str, str | None]) -> Any:
    """``verify --json``; its exit code (0) is checked by ``run``."""
    proc = run(venv, ["-m", "importlib_metadata_cache", "verify", "--json"], env=env)
    report = json.loads(proc.stdout)
    assert all(not d for d in report["differences"].values()), report["differences"]
    return report


def test_verify_human_output(venv: Venv) -> None:
    proc = run(venv, ["-m", "importlib_metadata_cache", "verify"])
    assert "importlib.metadata:" in proc.stdout
    assert "cache off vs on: identical" in proc.stdout


def test_pip_itself_sees_the_same(venv: Venv, fake_wheels: dict[str, Path]) -> None:
    """pip reads installed metadata through importlib.metadata on 3.11+."""
    pip(venv, "install", "--no-index", "--no-deps", fake_wheels["2.0"])
    try:
        answers = {}
        for label, env in (("on", {SETTLE_VARIABLE: "0"}), ("off", {OFF_VARIABLE: "0"})):
            listed = run(venv, ["-m", "pip", "list", "--format=json"], env=env).stdout
            shown = run(venv, ["-m", "pip", "show", "fakepkg"], env=env).stdout
            checked = run(venv, ["-m", "pip", "check"], env=env).stdout
            answers[label] = (json.loads(listed), shown, checked)
        assert answers["on"] == answers["off"]
        assert {"name": "fakepkg", "version": "2.0"} in answers["on"][0]
    finally:
        pip(venv, "uninstall", "-y", "fakepkg")


@pytest.mark.parametrize("settle_ms", ["0", None], ids=["settle-0", "settle-default"])
def test_verify(venv: Venv, fake_wheels: dict[str, Path], settle_ms: str | None) -> None:
    env: dict[str, str | None] = {SETTLE_VARIABLE: settle_ms}
    report = _verify(venv, env)
    count = report["distributions"]["importlib.metadata"]
    assert count >= 2
    pip(venv, "install", "--no-index", "--no-deps", fake_wheels["2.0"])
    try:
        report = _verify(venv, env)
        assert report["distributions"]["importlib.metadata"] == count + 1
    finally:
        pip(venv, "uninstall", "-y", "fakepkg")


# ----------------------------------------------------------------- uninstall


def test_uninstall_removes_startup_files_and_a_stray_pth_is_silent(
    fresh_venv: Venv, wheel: Path
) -> None:
    venv = fresh_venv
    assert set(venv.our_files()) == set(OUR_FILES)
    pip(venv, "uninstall", "-y", "importlib-metadata-cache")
    assert venv.our_files() == []
    assert not (venv.site_packages / "importlib_metadata_cache").exists()
    leftovers = [
        p.name for p in venv.site_packages.iterdir() if "importlib_metadata_cache" in p.name
    ]
    assert leftovers == []

    # A stray copy of our startup files, without the package: silent.
    with zipfile.ZipFile(wheel) as zf:
        for name in OUR_FILES:
            (venv.site_packages / name).write_bytes(zf.read(name))
    code = "import sys; print('importlib_metadata_cache' in sys.modules)"
    for flags in ([], ["-I"], ["-X", "dev", "-W", "error"]):
        proc = run(venv, "pass", flags=flags)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
        proc = run(venv, code, flags=flags)
        assert (proc.stdout, proc.stderr) == ("False\n", "")
    # A leftover empty package directory (a namespace package now): silent too.
    (venv.site_packages / "importlib_metadata_cache" / "__pycache__").mkdir(parents=True)
    proc = run(venv, "import importlib.metadata as md; md.entry_points()")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    shutil.rmtree(venv.site_packages / "importlib_metadata_cache")

    # The sitecustomize block is just as silent without the package.
    with sitecustomize_in(venv):
        proc = run(venv, "pass")
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
        proc = run(venv, "import sitecustomize; print(sitecustomize.__file__)")
        assert proc.stdout.strip() == str(venv.site_packages / "sitecustomize.py")


# ------------------------------------------------------------- sitecustomize


def test_sitecustomize_example_activates(venv: Venv) -> None:
    assert SITECUSTOMIZE.is_file()
    with moved_away(venv), sitecustomize_in(venv) as target:
        proc = run(venv, "import sitecustomize; print(sitecustomize.__file__)")
        assert proc.stdout.strip() == str(target)  # ours, not a base interpreter's
        report = status(venv)
        assert report["startup_files"] == []
        assert report["active"] is True
        assert "importlib.metadata" in report["providers"]
        assert run(venv, IS_ACTIVE, flags=["-I"]).stdout.strip() == "True"
        # The off switch still works, and startup stays silent.
        report = status(venv, env={OFF_VARIABLE: "0"})
        assert report["active"] is False
        assert OFF_VARIABLE in report["reason"]
        proc = run(venv, "pass")
        assert proc.stderr == ""
        assert run(venv, COUNT_FINDERS).stdout.strip() == "1"
    # With the .pth back as well: activated once, not twice.
    with sitecustomize_in(venv):
        assert run(venv, COUNT_FINDERS).stdout.strip() == "1"
        assert status(venv)["active"] is True
    assert set(venv.our_files()) == set(OUR_FILES)


# -------------------------------------------------------------------- bench


def test_bench_measures_the_cache_and_says_when_it_is_not_active(
    venv: Venv, tmp_path: Path
) -> None:
    """``bench`` (the README's main job) answers every question with the cache
    active in its cache-on processes; run where the cache is importable but not
    installed (no ``.pth``: the source tree on ``PYTHONPATH``), it says so and
    exits 1 instead of printing ratios of the uncached code against itself; a
    question that raises there (no such distribution) is reported, not fatal."""
    proc = run(venv, ["-m", "importlib_metadata_cache", "bench", "--rounds", "1", "--json"])
    rows = json.loads(proc.stdout[proc.stdout.index("[") :])
    assert [row["question"] for row in rows] == list(QUESTIONS)
    assert all(row["active"] is True for row in rows)
    assert all(row["call_on"][0] > 0 and row["call_off"][0] > 0 for row in rows)
    assert "warning" not in proc.stdout
    bare = venvs.create_venv(tmp_path / "bare", with_pip=False)
    source = str(venvs.REPO_ROOT / "src")
    args = ["-m", "importlib_metadata_cache", "bench", "--rounds", "1"]
    proc = run(bare, args, env={"PYTHONPATH": source}, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "warning: the cache was not active" in proc.stdout
    # An empty environment: the questions about a distribution say why they
    # were not measured, and bench itself does not fail.
    assert "version()                    not measured: " in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
