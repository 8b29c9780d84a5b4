"""Answers kept per ``sys.path`` across processes, against the cache off.

Found by a bug hunt: each test compares, in fresh processes, the cached answer
with the answer of a process with the cache off (``IMPORTLIB_METADATA_CACHE=0``),
in native order, after a change the kept answers must not outlive (the records
rebuilt by ``importlib.invalidate_caches()`` elsewhere; symlinked metadata files
whose targets change). The backport tests need importlib_metadata 10.x
importable (the tox backport envs), or ``IMC_HUNT_BACKPORT``: a directory
holding it and its dependencies, to put on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
GROUP = "imc.hunt2"


def _backport_dir() -> str:
    """Where the backport is installed (with its dependencies), if anywhere."""
    import importlib.util

    found = os.environ.get("IMC_HUNT_BACKPORT")
    if found:
        return found
    spec = importlib.util.find_spec("importlib_metadata")
    if spec is None or spec.origin is None:
        return ""
    return str(Path(spec.origin).parent.parent)


BACKPORT_DIR = _backport_dir()

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    args = json.loads(sys.argv[1])
    from importlib_metadata_cache import _startup
    if args["cached"]:
        _startup.activate()
    import importlib.metadata as std
    mods = {"std": std}
    if args["backport"]:
        import importlib_metadata
        mods["bp"] = importlib_metadata
    sys.path[:0] = args["paths"]

    def version(dist):
        try:
            return dist.version
        except Exception as exc:
            return type(exc).__name__

    out = []
    for step in args["steps"]:
        if step[0] == "exec":
            exec(step[1])
            continue
        _, provider, params = step
        found = mods[provider].entry_points(**params)
        if isinstance(found, dict):  # 3.10/3.11 SelectableGroups, no parameters
            found = [ep for eps in found.values() for ep in eps]
        out.append([
            [ep.name, ep.value, str(ep.dist._path), version(ep.dist)]
            for ep in found
        ])
    print(json.dumps(out))
    """
)


def run(
    store: Path, paths: list[str], steps: list[Any], *, cached: bool = True, backport: bool = False
) -> Any:
    args = {"paths": paths, "steps": steps, "cached": cached, "backport": backport}
    return run_script(SCRIPT, [json.dumps(args)], store, cached=cached, backport=backport)


def run_script(script: str, argv: list[str], store: Path, *, cached: bool, backport: bool) -> Any:
    """``script`` in a fresh ``python -S`` that can import this package (and
    the backport), with ``store``; the JSON of its last line of output."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "IMPORTLIB_METADATA_CACHE"))
    }
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + BACKPORT_DIR if backport else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["IMPORTLIB_METADATA_CACHE_SETTLE_MS"] = "50"
    env["IMPORTLIB_METADATA_CACHE_DIR"] = str(store)
    if not cached:
        env["IMPORTLIB_METADATA_CACHE"] = "0"
    proc = subprocess.run(
        [sys.executable, "-S", "-c", script, *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def settle() -> None:
    time.sleep(0.15)


def dist(root: Path, name: str, version: str, eps: dict[str, str], group: str = GROUP) -> Path:
    where = root / f"{name}-{version}.dist-info"
    where.mkdir(parents=True)
    (where / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if eps:
        lines = "".join(f"{k} = {v}\n" for k, v in eps.items())
        (where / "entry_points.txt").write_text(f"[{group}]\n{lines}")
    return where


def assert_same(store: Path, paths: list[str], steps: list[Any], backport: bool = False) -> None:
    on = run(store, paths, steps, backport=backport)
    off = run(store, paths, steps, cached=False, backport=backport)
    assert on == off


def _have_backport10() -> bool:
    init = Path(BACKPORT_DIR, "importlib_metadata", "__init__.py")
    return init.is_file() and "_safe_has_metadata" in init.read_text()


needs_backport10 = pytest.mark.skipif(
    not _have_backport10() or sys.version_info < (3, 9),
    reason="needs importlib_metadata 10.x in IMC_HUNT_BACKPORT",
)


def test_invalidate_caches_in_an_earlier_process_heals_the_saved_answers(tmp_path: Path) -> None:
    """The blind spot (a dist outside the answer gains entry points of the group
    by a file replaced in its *.dist-info) is documented to heal after
    ``importlib.invalidate_caches()``: a process calling it rebuilds and re-saves
    the records, but the answers saved for the sys.path are kept and replayed by
    every later process (their checks all pass), so the answer stays stale."""
    store, site = tmp_path / "store", tmp_path / "site"
    dist(site, "alpha", "1.0", {"a1": "x:y"})
    beta = dist(site, "beta", "1.0", {"b1": "x:y"}, group="other")
    settle()
    group = [["eps", "std", {"group": GROUP}]]
    run(store, [str(site)], group)
    run(store, [str(site)], group)  # the answers file is there
    eps = beta / "entry_points.txt"
    eps.with_name("new").write_text(f"[{GROUP}]\nb2 = x:y\n")
    os.replace(eps.with_name("new"), eps)
    settle()
    invalidate = ["exec", "import importlib; importlib.invalidate_caches()"]
    healed = run(store, [str(site)], [invalidate, ["eps", "std", {}]])
    assert "b2" in [ep[0] for ep in healed[0]]  # records rebuilt, and saved at exit
    assert run(store, [str(site)], [["eps", "std", {"name": "b2"}]])[0]  # the index healed
    # ... but the answer saved for the sys.path is replayed:
    assert_same(store, [str(site)], group)


def test_invalidate_caches_right_after_an_in_place_edit(tmp_path: Path) -> None:
    """A tool rewrites entry_points.txt in place and calls invalidate_caches()
    at once: its own query is right (native, the file is not settled), the
    records are rebuilt, but the saved answer stays and later processes replay it."""
    store, site = tmp_path / "store", tmp_path / "site"
    alpha = dist(site, "alpha", "1.0", {"a1": "x:y"})
    settle()
    group = [["eps", "std", {"group": GROUP}]]
    run(store, [str(site)], group)
    run(store, [str(site)], group)
    edit = f"open({str(alpha / 'entry_points.txt')!r}, 'r+').write('[{GROUP}]\\na2 = x:y\\n')"
    mine = run(
        store,
        [str(site)],
        [["exec", edit], ["exec", "import importlib; importlib.invalidate_caches()"], *group],
    )
    assert [ep[0] for ep in mine[0]] == ["a2"]
    settle()
    assert_same(store, [str(site)], group)


def test_a_healing_process_that_ends_with_os_exit_still_retires_the_answers(
    tmp_path: Path,
) -> None:
    """A process calls invalidate_caches() after an in-place edit, queries (its
    rebuilt record of the first entry is saved while it queries the second one)
    and ends with ``os._exit`` (no atexit, as a forked worker does): the
    answers kept before must not be replayed any more (found by a bug hunt:
    the generation marker was only replaced by the final flush)."""
    store, one, two = tmp_path / "store", tmp_path / "one", tmp_path / "two"
    alpha = dist(one, "alpha", "1.0", {"a1": "x:y"})
    dist(two, "beta", "1.0", {"b1": "x:y"})
    settle()
    paths = [str(one), str(two)]
    group = [["eps", "std", {"group": GROUP}]]
    run(store, paths, group)
    run(store, paths, group)  # the answers file is there
    before = os.stat(alpha)
    (alpha / "entry_points.txt").write_text(f"[{GROUP}]\na1 = x:changed\n")  # in place
    settle()
    assert os.stat(alpha).st_ctime_ns == before.st_ctime_ns  # the directory is untouched
    exit_now = "sys.stdout.write(json.dumps(out) + '\\n'); sys.stdout.flush(); os._exit(0)"
    invalidate = ["exec", "import importlib; importlib.invalidate_caches()"]
    healed = run(store, paths, [invalidate, *group, ["exec", exit_now]])
    assert [ep[1] for ep in healed[0]] == ["x:changed", "x:y"]
    assert_same(store, paths, group)


def test_a_stale_index_found_in_a_process_stops_the_saved_answers_there_too(
    tmp_path: Path,
) -> None:
    """In one process, a query finds an index stale (a distribution of its
    answer had a file replaced) and rebuilds it; a later query of another group
    in the same process must not replay the answer an earlier process saved
    (found by a bug hunt: the marker was replaced only at exit)."""
    store, site = tmp_path / "store", tmp_path / "site"
    alpha = dist(site, "alpha", "1.0", {"a1": "x:y"})
    dist(site, "beta", "1.0", {"b1": "x:y"}, group="other")
    settle()
    steps = [["eps", "std", {"group": GROUP}], ["eps", "std", {"group": "other"}]]
    run(store, [str(site)], steps)
    run(store, [str(site)], steps)  # both answers kept
    eps = alpha / "entry_points.txt"
    text = f"[{GROUP}]\na1 = x:y\n[other]\na2 = x:y\n"
    replace = (
        f"p = {str(eps)!r}; open(p + '.new', 'w').write({text!r});"
        " os.replace(p + '.new', p); import time; time.sleep(0.15)"
    )
    on = run(store, [str(site)], [["exec", replace], *steps])
    assert [ep[0] for ep in on[1]] == ["a2", "b1"]


def test_symlinked_entry_points_txt_whose_target_is_replaced(tmp_path: Path) -> None:
    """entry_points.txt a symlink (symlink farms: Nix/Guix/Spack views, stow) to a
    file that is replaced: the *.dist-info's stamp is unchanged; a symlinked
    *.dist-info is watched, a symlinked file in one is not."""
    store, site = tmp_path / "store", tmp_path / "site"
    where = dist(site, "pp", "1.0", {"p1": "x:y"})
    target = tmp_path / "eps.txt"
    os.replace(where / "entry_points.txt", target)
    os.symlink(target, where / "entry_points.txt")
    settle()
    group = [["eps", "std", {"group": GROUP}]]
    run(store, [str(site)], group)
    run(store, [str(site)], group)
    (tmp_path / "new").write_text(f"[{GROUP}]\np2 = x:y\n")
    os.replace(tmp_path / "new", target)
    assert_same(store, [str(site)], group)


@needs_backport10
@pytest.mark.parametrize("shadowing", [False, True])
def test_backport10_symlinked_metadata_whose_target_goes(tmp_path: Path, shadowing: bool) -> None:
    """importlib_metadata 10 puts distributions without metadata last
    (``_prefer_valid``, ``_has_metadata``: ``METADATA``.exists(), which follows a
    symlink). A METADATA symlink whose target goes leaves the *.dist-info's
    stamp unchanged: the counted index (``invalid``) and the saved answer
    keep the old order / shadowing."""
    store = tmp_path / "store"
    first, second = tmp_path / "first", tmp_path / "second"
    if shadowing:
        victim = dist(first, "sh", "1.0", {})
        dist(second, "sh", "2.0", {"s2": "x:y"})
        paths = [str(first), str(second)]
    else:
        victim = dist(first, "pp", "1.0", {"p1": "x:y"})
        dist(first, "qq", "1.0", {"q1": "x:y"})
        paths = [str(first)]
    target = tmp_path / "METADATA.target"
    os.replace(victim / "METADATA", target)
    os.symlink(target, victim / "METADATA")
    settle()
    steps = [["eps", "bp", {"group": GROUP}]]
    run(store, paths, steps, backport=True)
    run(store, paths, steps, backport=True)
    target.unlink()
    assert_same(store, paths, steps, backport=True)


def test_a_provider_upgraded_in_place_files_its_tables_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tables of a provider other than the standard library's (indexes,
    parses, answers) are filed under its file's path, size and mtime: the
    backport upgraded in place never reads what its older version built
    (found by a bug hunt)."""
    import types

    from importlib_metadata_cache import _query

    file = tmp_path / "importlib_metadata" / "__init__.py"
    file.parent.mkdir()
    file.write_text("# version 1\n")
    module = types.SimpleNamespace(__name__="importlib_metadata", __file__=str(file))
    monkeypatch.setattr(_query, "_provider_ids", {})
    first = _query.provider_id(module)
    assert first == _query.provider_id(module)  # kept for the process
    _query._provider_ids.clear()
    assert _query.provider_id(module) == first  # and across processes
    _query._provider_ids.clear()
    file.write_text("# version 2, longer\n")
    assert _query.provider_id(module) != first
    std = types.SimpleNamespace(__name__="importlib.metadata", __file__=str(file))
    assert _query.provider_id(std) == "importlib.metadata"  # its records carry the Python's version


ORDERS = textwrap.dedent(
    """
    import json, os, sys
    from importlib_metadata_cache import _startup
    mode, cached, site, copy = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4]

    def drop_x(module, wrapped=False):
        import functools
        native = module.EntryPoints.select
        def select(self, **params):
            return native(module.EntryPoints(ep for ep in self if ep.name != "x"), **params)
        if wrapped:  # its name and module are then the native one's
            select = functools.wraps(native)(select)
        module.EntryPoints.select = select

    def names(found):
        if isinstance(found, dict):  # 3.10/3.11 SelectableGroups
            found = [ep for eps in found.values() for ep in eps]
        return sorted([ep.name, ep.group, vars(ep).get("tag")] for ep in found)

    if mode in ("patched-before-activation", "wrapped-before-activation"):
        import importlib.metadata as md
        drop_x(md, wrapped=mode.startswith("wrapped"))
        if cached:
            _startup.activate()
    else:
        if cached:
            _startup.activate()
        if mode == "backport-patched-first":
            import importlib_metadata as bp
            native = bp.EntryPoint.matches
            bp.EntryPoint.matches = lambda self, **p: native(self, **p) and self.name != "x"
            import importlib.metadata as md
        elif mode == "patched-before-the-backport":
            import importlib.metadata as md
            drop_x(md)
            import importlib_metadata
        elif mode == "new-after-a-query":
            import importlib.metadata as md
        elif mode == "two-copies":
            import importlib_metadata as md
    sys.path.insert(0, site)
    out = [names(md.entry_points(group="imc.hunt2"))]
    if mode == "new-after-a-query":
        def new(cls, *args, **kwargs):
            self = object.__new__(cls)
            vars(self)["tag"] = "new"
            return self
        md.EntryPoint.__new__ = new
    if mode == "two-copies":  # another copy under the same name
        for name in [n for n in sys.modules if n.startswith("importlib_metadata")]:
            del sys.modules[name]
        sys.path.insert(0, copy)
        import importlib_metadata as md
        assert md.__file__.startswith(copy), md.__file__
    out.append(names(md.entry_points(group="imc.hunt2")))
    out.append(names(md.entry_points(group="imc.hunt2.copy")))
    out.append(names(ep for d in md.distributions(path=[site]) for ep in d.entry_points))
    print(json.dumps(out))
    """
)

#: Appended to a copy of the backport: its entry points' groups get a suffix.
COPY_PATCH = """
_imc_native_from_text = EntryPoints._from_text
def _imc_from_text(text):
    for ep in _imc_native_from_text(text):
        yield EntryPoint(name=ep.name, value=ep.value, group=ep.group + ".copy")
EntryPoints._from_text = staticmethod(_imc_from_text)
"""


@pytest.mark.parametrize(
    "mode",
    [
        "patched-before-activation",
        "wrapped-before-activation",
        "backport-patched-first",
        "patched-before-the-backport",
        "new-after-a-query",
        "two-copies",
    ],
)
def test_programs_own_entry_point_classes_in_any_order(tmp_path: Path, mode: str) -> None:
    """A program's own ``select``/``matches``/``__new__``, whenever it is set
    (before activation, on the backport imported first, on the standard
    library before the backport is imported, after a first query), and a
    second copy of the backport imported under the same name, are answered
    as natively (all found by a bug hunt)."""
    needs = mode in ("backport-patched-first", "patched-before-the-backport", "two-copies")
    if needs and not BACKPORT_DIR:
        pytest.skip("needs the importlib_metadata backport")
    if mode == "new-after-a-query" and sys.version_info < (3, 11):
        pytest.skip("3.10's EntryPoint is a named tuple")
    store, site, copy = tmp_path / "store", tmp_path / "site", tmp_path / "copy"
    dist(site, "alpha", "1.0", {"x": "alpha:x"})
    dist(site, "beta", "1.0", {"y": "beta:y"})
    if mode == "two-copies":
        source = Path(BACKPORT_DIR, "importlib_metadata")
        shutil.copytree(
            source, copy / "importlib_metadata", ignore=shutil.ignore_patterns("__pycache__")
        )
        init = copy / "importlib_metadata" / "__init__.py"
        init.write_text(init.read_text() + COPY_PATCH)
    settle()

    def answers(cached: bool) -> Any:
        argv = [mode, "1" if cached else "0", str(site), str(copy)]
        return run_script(ORDERS, argv, store, cached=cached, backport=bool(BACKPORT_DIR))

    off = answers(False)
    assert answers(True) == answers(True) == off
    if mode == "new-after-a-query":
        assert off[1][0][2] == "new"
    elif mode != "two-copies":  # (the first copy's finder stays on sys.meta_path)
        assert off[1] == [["y", GROUP, None]]  # the program's own selection ran
