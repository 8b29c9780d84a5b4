"""Interpreter modes and install layouts, each compared with the cache off.

For every mode and layout, ``differential`` takes a snapshot of every public
API (``_snapshot``) in a fresh process with ``IMPORTLIB_METADATA_CACHE=0``,
then in two fresh processes with the cache on: the first builds and saves the
records (settle window 0, so that they are trusted at once) and snapshots
twice, the second loads the saved records. Every cached snapshot must equal
the uncached one, every process must be silent, and the activation state must
be the one README's "Interpreter modes and layouts" table documents.

The venvs are made without pip (0.1 s instead of 4 s: ``venvs.pip`` drives
them from this interpreter's pip with ``--python``) and shared by the module;
a test that changes one works on a ``cp -a`` clone or restores it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import venvs
from venvs import OUR_FILES, Venv, fake_wheel, pip, run

pytestmark = pytest.mark.integration

OFF_VARIABLE = "IMPORTLIB_METADATA_CACHE"
SETTLE_VARIABLE = "IMPORTLIB_METADATA_CACHE_SETTLE_MS"
STORE_VARIABLE = "IMPORTLIB_METADATA_CACHE_DIR"
SITECUSTOMIZE = venvs.REPO_ROOT / "sitecustomize_example" / "sitecustomize.py"
GROUP = "imc.layouts"
NEVER_CALLED = "activate() was never called"
COUNT_FINDERS = (
    "import sys; print(sum(type(f).__name__ == '_PostImportFinder' for f in sys.meta_path))"
)

#: Run in a fresh process by ``differential``: ``sys.argv[-1]`` is its JSON
#: configuration. The same source is the ``__main__`` of the zipapp test. Each
#: snapshot starts with a few direct queries, as a program's first calls.
DRIVER = textwrap.dedent(
    """
    import importlib, json, os, sys
    CFG = json.loads(sys.argv[-1])
    exec(CFG["prelude"])
    provider = importlib.import_module(CFG["provider"])
    from importlib_metadata_cache import _snapshot, status

    def answer(call):
        try:
            return ["ok", call()]
        except Exception as exc:
            return ["raised", type(exc).__name__, str(exc)]

    def entry_points_of(name):
        return [[e.name, e.value, e.group] for e in provider.distribution(name).entry_points]

    def by_name(name):
        return {
            "version": answer(lambda: provider.version(name)),
            "metadata": answer(lambda: sorted(provider.metadata(name).items())),
            "distribution": answer(lambda: str(provider.distribution(name)._path)),
            "files": answer(lambda: [str(f) for f in provider.files(name) or ()]),
            "requires": answer(lambda: provider.requires(name)),
            "entry_points": answer(lambda: entry_points_of(name)),
        }

    def described(eps):
        return [[e.name, e.value, e.group, str(getattr(e.dist, "_path", None))] for e in eps]

    def first_queries():
        # What programs ask first; the snapshot starts with distributions().
        return {
            "group": answer(lambda: described(provider.entry_points(group="imc.layouts"))),
            "name": answer(lambda: described(provider.entry_points(name="a"))),
            "version": answer(lambda: provider.version("imcplug_a")),
            "distribution": answer(lambda: str(provider.distribution("IMCPLUG-A")._path)),
        }

    def snap():
        first = first_queries()
        found = _snapshot.snapshot(provider, per_name=CFG["per_name"])
        found["first queries"] = first
        if not CFG["per_name"]:
            found["by_name"] = {name: by_name(name) for name in CFG["names"]}
        # Through JSON, as the reference is: tuples become lists on both sides.
        return json.loads(json.dumps(found))

    runs = {"cold": snap()}
    if CFG["warm"]:
        runs["warm"] = snap()
    if CFG["reference"] is None:
        with open(CFG["out"], "w", encoding="utf-8") as f:
            json.dump(runs["cold"], f)
        diffs = []
    else:
        with open(CFG["reference"], encoding="utf-8") as f:
            reference = json.load(f)
        diffs = [f"{r}: {d}" for r, got in runs.items() for d in _snapshot.diff(reference, got)]

    def patched_once(module):
        search = vars(module.FastPath)["search"]
        inner = getattr(search, "__wrapped__", None)
        return getattr(search, "_imc_wrapped", False) and not getattr(inner, "_imc_wrapped", 0)

    report = status(query=False)
    dists = runs["cold"]["distributions"][1]
    print(json.dumps({
        "active": report["active"],
        "reason": report["reason"],
        "startup_files": report["startup_files"],
        "providers": {n: patched_once(sys.modules[n]) for n in report["providers"]},
        "finders": sum(type(f).__name__ == "_PostImportFinder" for f in sys.meta_path),
        "sys_path": [p if isinstance(p, str) else repr(p) for p in sys.path],
        "names": sorted(str(d["name"][1]) for d in dists if d["name"][0] == "ok"),
        "dist_dirs": sorted({os.path.dirname(d["path"][1]) for d in dists if d["path"]}),
        "records": {e["entry"]: (e.get("record") or {}).get("source") for e in report["entries"]},
        "differences": diffs[:40],
        "difference_count": len(diffs),
    }))
    """
)

#: Python 3.15's ``site`` (PEP 829), and the older one, acted out in a ``-S``
#: process over one site directory (``SITE_DIR``): the ``prelude`` of a
#: ``differential`` run. ``MODE``: ``"pth"`` runs the import lines of every
#: ``.pth`` and ignores ``.start`` files (3.10-3.14); ``"pep829"`` drops the
#: import lines of a ``.pth`` that has a matching ``.start`` and calls the
#: ``.start`` entry points after every import line (3.15-3.17); ``"both"`` runs
#: every import line and every entry point, as if a site did both.
EMULATED_SITE = textwrap.dedent(
    """
    import os, pkgutil, sys
    sys.path.append(SITE_DIR)
    names = sorted(n for n in os.listdir(SITE_DIR) if not n.startswith("."))

    def lines(name):
        with open(os.path.join(SITE_DIR, name), encoding="utf-8-sig") as f:
            found = (line.strip() for line in f.read().splitlines())
            return [line for line in found if line and not line.startswith("#")]

    starts = [n for n in names if n.endswith(".start")] if MODE != "pth" else []
    for name in names:
        if name.endswith(".pth"):
            if MODE == "pep829" and name[:-4] + ".start" in starts:
                continue
            for line in lines(name):
                if line.startswith(("import ", "import\\t")):
                    exec(line)
    for name in starts:
        for line in lines(name):
            pkgutil.resolve_name(line)()
    """
)

_counter = itertools.count()


# --------------------------------------------------------------------- helpers


def _drive(
    venv: Venv,
    config: dict[str, Any],
    *,
    flags: Sequence[str],
    env: Mapping[str, str | None],
    script: Path | None,
) -> Any:
    argv: list[str | Path] = [script] if script is not None else ["-c", DRIVER]
    proc = run(venv, [*argv, json.dumps(config)], flags=flags, env=env)
    assert proc.stderr == "", "a process printed on stderr"
    return json.loads(proc.stdout)


def differential(
    venv: Venv,
    tmp_path: Path,
    *,
    flags: Sequence[str] = (),
    env: Mapping[str, str | None] | None = None,
    prelude: str = "",
    provider: str = "importlib.metadata",
    script: Path | None = None,
    names: Sequence[str] | None = None,
) -> tuple[Any, Any, Any]:
    """Snapshots with the cache off, then on (builds, saves), then on (loads).

    Asserts that both cached runs equal the uncached one, on the same
    ``sys.path``, and that the off switch was obeyed; returns the three reports.
    With ``names``, the per-name part of the snapshot (``version()``,
    ``metadata()``, ``files()``... of every name of every distribution: most of
    its time) asks about these names only: for the base interpreter's
    site-packages, which may hold a hundred distributions.
    """
    reference = tmp_path / f"off-{next(_counter)}.json"
    config: dict[str, Any] = {
        "prelude": prelude,
        "provider": provider,
        "reference": None,
        "out": str(reference),
        "warm": False,
        "per_name": names is None,
        "names": list(names or ()),
    }
    base = dict(env or {})
    off = _drive(venv, config, flags=flags, env={**base, OFF_VARIABLE: "0"}, script=script)
    config.update(reference=str(reference), out=None, warm=True)
    on_env = {SETTLE_VARIABLE: "0", **base}
    first = _drive(venv, config, flags=flags, env=on_env, script=script)
    config["warm"] = False
    second = _drive(venv, config, flags=flags, env=on_env, script=script)
    assert off["active"] is False
    assert off["providers"] == {}
    for label, report in (("builds", first), ("loads", second)):
        assert report["differences"] == [], f"{label}: {report['difference_count']} differences"
        assert report["sys_path"] == off["sys_path"], label
        assert report["names"] == off["names"], label
        assert all(report["providers"].values()), f"{label}: patched twice"
        assert report["finders"] <= 1, label
    return off, first, second


def assert_active(*reports: Any, provider: str = "importlib.metadata") -> None:
    for report in reports:
        assert report["active"] is True
        assert report["reason"] == "activated"
        assert report["finders"] == 1
        assert report["providers"] == {provider: True}


def assert_loaded(report: Any, *entries: str | Path) -> None:
    """The second cached run loaded these entries' records from the store."""
    for entry in entries:
        assert report["records"][str(entry)] == "loaded", entry


def status(venv: Venv, **kwargs: Any) -> Any:
    proc = run(venv, ["-m", "importlib_metadata_cache", "status", "--json"], **kwargs)
    assert proc.stderr == ""
    return json.loads(proc.stdout)


def install(venv: Venv, *args: str | Path, env: Mapping[str, str | None] | None = None) -> None:
    pip(venv, "install", "--no-index", "--no-deps", *args, env=env)


def dist_info_files(name: str, version: str, entry_points: str) -> dict[str, str]:
    stem = f"{name}-{version}.dist-info"
    return {
        f"{stem}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{stem}/entry_points.txt": entry_points,
        f"{stem}/top_level.txt": f"{name}\n",
    }


def write_tree(root: Path, files: Mapping[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def relink(link: Path, target: str | Path) -> None:
    """Point ``link`` at ``target`` atomically, as ``ln -sfn`` does."""
    temporary = link.with_name(link.name + ".new")
    temporary.symlink_to(target)
    os.replace(temporary, link)


@contextlib.contextmanager
def moved_away(venv: Venv, names: Sequence[str]) -> Iterator[None]:
    stash = venv.root / "stash"
    stash.mkdir(exist_ok=True)
    try:
        for name in names:
            (venv.site_packages / name).rename(stash / name)
        yield
    finally:
        for name in names:
            if (stash / name).exists():
                (stash / name).rename(venv.site_packages / name)


def leftovers(directory: Path) -> list[str]:
    """Our files in ``directory`` (pip removes a directory it empties)."""
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir() if "importlib_metadata_cache" in p.name)


#: The per-name questions of the layouts that include the base interpreter's
#: site-packages: ours, the plugins (in several spellings), common base
#: distributions and a name found nowhere.
NAMES = (
    "importlib-metadata-cache",
    "importlib_metadata_cache",
    "imcplug_a",
    "IMCPLUG-A",
    "imcplug_b",
    "imcplug.b",
    "imcplug_u",
    "pip",
    "pytest",
    "setuptools",
    "importlib-metadata",
    "does-not-exist-imc",
    "",
)


def base_purelib() -> str:
    """The base interpreter's site-packages, which ``--system-site-packages`` adds."""
    paths = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})
    return paths["purelib"]


# -------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return venvs.our_wheel(tmp_path_factory)


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("plugin-wheels")
    scripts = "[console_scripts]\nimcplug-a = imcplug_a:main\n"
    return {
        "a": fake_wheel(root / "a", "imcplug_a", "1.0", f"[{GROUP}]\na = imcplug_a:a\n{scripts}"),
        "b": fake_wheel(root / "b", "imcplug_b", "1.0", f"[{GROUP}]\nb = imcplug_b:b [x]\n"),
        "t": fake_wheel(root / "t", "imcplug_t", "1.0", f"[{GROUP}]\nt = imcplug_t.sub:t\n"),
        "u": fake_wheel(root / "u", "imcplug_u", "1.0", f"[{GROUP}]\nu = imcplug_u:u\n"),
    }


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, wheel: Path, plugins: dict[str, Path]) -> Venv:
    """A venv with our wheel and two plugins; shared: tests leave it as it was."""
    venv = venvs.create_venv(tmp_path_factory.mktemp("plain") / "venv", with_pip=False)
    install(venv, wheel, plugins["a"], plugins["b"])
    return venv


@pytest.fixture(scope="module")
def target_dir(
    tmp_path_factory: pytest.TempPathFactory, plain: Venv, plugins: dict[str, Path]
) -> Path:
    """``pip install --target DIR`` of a plugin (for ``PYTHONPATH=DIR``)."""
    target = tmp_path_factory.mktemp("target") / "lib"
    install(plain, "--target", target, plugins["t"])
    return target


@pytest.fixture(scope="module")
def system(
    tmp_path_factory: pytest.TempPathFactory, wheel: Path, plugins: dict[str, Path]
) -> tuple[Venv, dict[str, str | None]]:
    """A ``--system-site-packages`` venv with our wheel and a plugin, and the
    environment of a user base that holds another plugin: such a venv turns the
    user site on, and ``pip install --user`` there works for a distribution
    that the venv does not have. Distributions from three directories."""
    root = tmp_path_factory.mktemp("system")
    (root / "home").mkdir()
    env: dict[str, str | None] = {
        "PYTHONUSERBASE": str(root / "userbase"),
        "HOME": str(root / "home"),
    }
    venv = venvs.create_venv(root / "venv", options=["--system-site-packages"], with_pip=False)
    install(venv, wheel, plugins["b"])
    install(venv, "--user", plugins["u"], env=env)
    return venv, env


@pytest.fixture(scope="module")
def user_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    """A user base and a home of this module's own: never the real ``~/.local``."""
    root = tmp_path_factory.mktemp("user")
    (root / "home").mkdir()
    return {"PYTHONUSERBASE": str(root / "userbase"), "HOME": str(root / "home")}


def base_interpreter(root: Path) -> Venv:
    """The base interpreter itself (no venv), as a ``Venv`` whose store is under
    ``root``: where ``pip install --user`` belongs. Skips where pip may not
    install for the user (PEP 668)."""
    python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert python.exists(), python
    stdlib = Path(sysconfig.get_paths(vars={"installed_base": sys.base_prefix})["stdlib"])
    if (stdlib / "EXTERNALLY-MANAGED").exists():
        pytest.skip("the base interpreter is externally managed (PEP 668): no --user installs")
    return Venv(root, python, Path(base_purelib()), root / "imc-cache")


@pytest.fixture(scope="module")
def user(
    tmp_path_factory: pytest.TempPathFactory,
    wheel: Path,
    plugins: dict[str, Path],
    user_env: dict[str, str | None],
) -> tuple[Venv, Path]:
    """Our wheel and a plugin installed with ``pip install --user`` for the base
    interpreter, into a user base of this module's own.

    Not a venv: a venv turns the user site off unless it is made with
    ``--system-site-packages``, and then its own site-packages comes first on
    ``sys.path``, pip refuses a ``--user`` install that it would shadow, and
    ``pip uninstall`` in it leaves a user-site distribution alone ("outside
    environment"). Returns the interpreter and its user site-packages.
    """
    python = base_interpreter(tmp_path_factory.mktemp("user-python"))
    install(python, "--user", wheel, plugins["a"], env=user_env)
    code = "import site; print(site.getusersitepackages(), site.ENABLE_USER_SITE)"
    where, enabled = run(python, code, env=user_env).stdout.split()
    assert enabled == "True"
    user_site = Path(where)
    assert user_site.is_relative_to(str(user_env["PYTHONUSERBASE"]))
    assert sorted(OUR_FILES) == sorted(p.name for p in user_site.glob("importlib_metadata_cache.*"))
    return python, user_site


# ------------------------------------------------------------ interpreter modes


def test_default(plain: Venv, tmp_path: Path) -> None:
    off, first, second = differential(plain, tmp_path)
    assert_active(first, second)
    assert off["reason"] == "IMPORTLIB_METADATA_CACHE turns it off"
    assert {"importlib-metadata-cache", "imcplug_a", "imcplug_b"} <= set(first["names"])
    assert sorted(first["startup_files"]) == sorted(
        str(plain.site_packages / name) for name in OUR_FILES
    )
    assert_loaded(second, plain.site_packages)


@pytest.mark.parametrize("flag", ["-I", "-E"])
def test_isolated_and_ignore_environment(plain: Venv, tmp_path: Path, flag: str) -> None:
    """Site-packages is processed, and our variables are read all the same."""
    off, first, second = differential(plain, tmp_path, flags=[flag])
    assert_active(first, second)
    assert_loaded(second, plain.site_packages)
    if flag == "-I":
        assert "" not in off["sys_path"]


def test_no_user_site_in_a_venv(plain: Venv, tmp_path: Path) -> None:
    """A venv's site-packages is no user site: ``-s`` (``PYTHONNOUSERSITE``, the
    same flag) leaves the cache on."""
    _, first, second = differential(plain, tmp_path, flags=["-s"])
    assert_active(first, second)
    assert_loaded(second, plain.site_packages)


def test_no_site(plain: Venv, tmp_path: Path) -> None:
    """``-S``: no ``.pth`` is processed, so the cache is off (and says why)."""
    env: dict[str, str | None] = {"PYTHONPATH": str(plain.site_packages)}
    _, first, second = differential(plain, tmp_path, flags=["-S"], env=env)
    for report in (first, second):
        assert report["active"] is False
        assert "-S" in report["reason"]
        assert report["providers"] == {}
        assert report["finders"] == 0
    assert "imcplug_a" in first["names"]


def test_no_site_then_site_main(plain: Venv, tmp_path: Path) -> None:
    """``-S`` and a later ``site.main()``: the ``.pth`` runs then, and activates."""
    off, first, second = differential(
        plain, tmp_path, flags=["-S"], prelude="import site; site.main()"
    )
    assert_active(first, second)
    assert str(plain.site_packages) in off["sys_path"]
    assert_loaded(second, plain.site_packages)


# ---------------------------------------------------------------------- layouts


def test_pip_install_target_on_pythonpath(plain: Venv, tmp_path: Path, target_dir: Path) -> None:
    """Distributions in a ``--target`` directory on ``PYTHONPATH`` are cached too."""
    env: dict[str, str | None] = {"PYTHONPATH": str(target_dir)}
    _, first, second = differential(plain, tmp_path, env=env)
    assert_active(first, second)
    assert "imcplug_t" in first["names"]
    assert str(target_dir) in first["dist_dirs"]
    assert_loaded(second, target_dir, plain.site_packages)


def test_our_package_installed_with_target(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, wheel: Path, plugins: dict[str, Path]
) -> None:
    """``pip install --target DIR`` of this package: its ``.pth`` in DIR is never
    processed (not a site dir), so the cache is off; the sitecustomize block in
    DIR turns it on."""
    venv = venvs.create_venv(tmp_path_factory.mktemp("bare") / "venv", with_pip=False)
    target = tmp_path / "lib"
    install(venv, "--target", target, wheel, plugins["t"])
    assert sorted(p.name for p in target.glob("importlib_metadata_cache.*")) == sorted(OUR_FILES)
    env: dict[str, str | None] = {"PYTHONPATH": str(target)}
    report = status(venv, env=env)
    assert report["active"] is False
    assert NEVER_CALLED in report["reason"]
    assert report["startup_files"] == []
    assert report["providers"] == {}

    shutil.copyfile(SITECUSTOMIZE, target / "sitecustomize.py")
    _, first, second = differential(venv, tmp_path, env=env)
    assert_active(first, second)
    assert_loaded(second, target)


def test_zipapp(plain: Venv, tmp_path: Path) -> None:
    """A zipapp whose ``__main__`` asks for entry points and distributions, with
    a ``*.dist-info`` inside the zip (and one in a subdirectory of it, on
    ``sys.path`` too): zip entries take the native path."""
    source = tmp_path / "app"
    write_tree(source, {"__main__.py": DRIVER})
    write_tree(source, dist_info_files("zapp", "1.0", f"[{GROUP}]\nz = zapp:z\n"))
    write_tree(source / "lib", dist_info_files("zsub", "1.0", f"[{GROUP}]\ns = zsub:s\n"))
    app = tmp_path / "app.pyz"
    run(plain, ["-m", "zipapp", source, "-o", app])
    with zipfile.ZipFile(app) as zf:
        assert "zapp-1.0.dist-info/entry_points.txt" in zf.namelist()
    prelude = "sys.path.append(os.path.join(sys.path[0], 'lib'))"
    _, first, second = differential(plain, tmp_path, prelude=prelude, script=app)
    assert_active(first, second)
    assert first["sys_path"][0] == str(app)
    assert "zapp" in first["names"]
    assert first["records"][str(app)] is None  # a file: served by the native code
    assert_loaded(second, plain.site_packages)


def test_venv_copies(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, wheel: Path, plugins: dict[str, Path]
) -> None:
    root = tmp_path_factory.mktemp("copies")
    venv = venvs.create_venv(root / "venv", options=["--copies"], with_pip=False)
    assert not venv.python.is_symlink()
    install(venv, wheel, plugins["a"])
    _, first, second = differential(venv, tmp_path)
    assert_active(first, second)
    assert "imcplug_a" in first["names"]
    assert_loaded(second, venv.site_packages)


def test_copied_venv_never_gets_the_original_records(plain: Venv, tmp_path: Path) -> None:
    """``cp -a`` keeps every mtime; the records are keyed by entry path and
    stamps (with inode and ctime), so neither the copy nor a copy put back at
    the original path is ever served another tree's record. One store for all."""
    store = tmp_path / "store"
    env: dict[str, str | None] = {STORE_VARIABLE: str(store)}
    original = venvs.clone_venv(plain, tmp_path / "venv")  # a private original
    _, first, second = differential(original, tmp_path, env=env)
    assert_loaded(second, original.site_packages)
    # A read-only site set inside the venv travels with every copy of it.
    run(original, ["-m", "importlib_metadata_cache", "warm", "--site"], env=env)
    assert list((original.root / "share" / "importlib-metadata-cache").iterdir())

    copy = venvs.clone_venv(original, tmp_path / "copy")
    assert copy.site_packages != original.site_packages
    _, first, second = differential(copy, tmp_path, env=env)
    assert_active(first, second)
    assert str(copy.site_packages) in first["dist_dirs"]
    assert str(original.site_packages) not in first["dist_dirs"]
    assert_loaded(second, copy.site_packages)

    # Another tree at the very path of saved records (user store and site set),
    # with the same mtimes.
    moved = tmp_path / "moved"
    original.root.rename(moved)
    subprocess.run(["cp", "-a", moved, original.root], check=True)
    site = original.site_packages
    st = site.stat()
    shutil.rmtree(next(site.glob("imcplug_a-*.dist-info")))
    os.utime(site, ns=(st.st_atime_ns, st.st_mtime_ns))
    _, first, second = differential(original, tmp_path, env=env)
    assert "imcplug_a" not in first["names"]
    assert "imcplug_b" in first["names"]


def test_system_site_packages(system: tuple[Venv, dict[str, str | None]], tmp_path: Path) -> None:
    """Distributions from the venv, the user site and the base interpreter, in
    this order on ``sys.path``; for each provider importable there (the
    backport may be in the base)."""
    venv, env = system
    code = "import importlib.util as u; print(u.find_spec('importlib_metadata') is not None)"
    providers = ["importlib.metadata"]
    if run(venv, code, env=env).stdout.strip() == "True":
        providers.append("importlib_metadata")
    for provider in providers:
        _, first, second = differential(venv, tmp_path, env=env, provider=provider, names=NAMES)
        assert_active(first, second, provider=provider)
        assert {"imcplug_b", "imcplug_u"} <= set(first["names"])
        user_site = next(p for p in first["dist_dirs"] if p.startswith(env["PYTHONUSERBASE"]))
        order = [str(venv.site_packages), user_site, base_purelib()]
        assert [p for p in first["sys_path"] if p in order] == order
        assert str(venv.site_packages) in first["dist_dirs"]
        if any(Path(base_purelib()).glob("*.dist-info")):
            assert base_purelib() in first["dist_dirs"]
        if provider == "importlib.metadata":
            assert_loaded(second, *order)


def test_user_site(
    user: tuple[Venv, Path], tmp_path: Path, user_env: dict[str, str | None]
) -> None:
    """``pip install --user``: our ``.pth`` in the user site activates the cache;
    distributions from the user site and the interpreter's site-packages."""
    python, user_site = user
    _, first, second = differential(python, tmp_path, env=user_env, names=NAMES)
    assert_active(first, second)
    assert first["startup_files"] == [str(user_site / name) for name in OUR_FILES]
    assert "imcplug_a" in first["names"]
    assert str(user_site) in first["dist_dirs"]
    assert first["sys_path"].index(str(user_site)) < first["sys_path"].index(base_purelib())
    assert_loaded(second, user_site, base_purelib())


@pytest.mark.parametrize(
    ("flags", "env"),
    [(["-s"], {}), ([], {"PYTHONNOUSERSITE": "1"})],
    ids=["-s", "PYTHONNOUSERSITE"],
)
def test_user_site_disabled(
    user: tuple[Venv, Path],
    user_env: dict[str, str | None],
    flags: list[str],
    env: dict[str, str | None],
) -> None:
    """``-s``/``PYTHONNOUSERSITE``: a ``--user`` install is not even importable:
    the cache is off, silently."""
    python, user_site = user
    code = textwrap.dedent(
        """
        import importlib.metadata as md, importlib.util, json, sys
        print(json.dumps([
            importlib.util.find_spec("importlib_metadata_cache") is not None,
            "importlib_metadata_cache" in sys.modules,
            sorted(d.metadata["Name"] for d in md.distributions()).count("imcplug_a"),
            sys.path,
        ]))
        """
    )
    proc = run(python, code, flags=flags, env={**user_env, **env})
    assert proc.stderr == ""
    importable, imported, plugin_count, path = json.loads(proc.stdout)
    assert (importable, imported, plugin_count) == (False, False, 0)
    assert str(user_site) not in path


def test_same_directory_twice(plain: Venv, tmp_path: Path) -> None:
    """Site-packages again, at the front and at the end of ``sys.path``, spelled
    as it is, with a trailing slash, and through ``..``: its distributions are
    reported once per entry and shadowed, as natively."""
    site = str(plain.site_packages)
    spellings = [site, site + "/", os.path.join(site, "..", "site-packages")]
    prelude = f"sys.path[:0] = {spellings!r}; sys.path.extend({spellings!r})"
    _, first, second = differential(plain, tmp_path, prelude=prelude)
    assert_active(first, second)
    assert first["sys_path"].count(site) == 3
    assert first["names"].count("imcplug_a") == 7
    assert_loaded(second, site)


def test_symlink_to_site_packages_on_sys_path(
    plain: Venv, tmp_path: Path, target_dir: Path
) -> None:
    """A symlink to site-packages added to ``sys.path``, then re-pointed at
    another directory between processes."""
    link = tmp_path / "link"
    link.symlink_to(plain.site_packages, target_is_directory=True)
    store = tmp_path / "store"
    env: dict[str, str | None] = {STORE_VARIABLE: str(store)}
    prelude = f"sys.path.insert(0, {str(link)!r})"
    _, first, second = differential(plain, tmp_path, prelude=prelude, env=env)
    assert_active(first, second)
    assert str(link) in first["dist_dirs"]
    assert first["names"].count("imcplug_a") == 2
    assert_loaded(second, link, plain.site_packages)

    relink(link, target_dir)
    _, first, second = differential(plain, tmp_path, prelude=prelude, env=env)
    assert first["names"].count("imcplug_a") == 1
    assert "imcplug_t" in first["names"]
    assert_loaded(second, link)


@pytest.fixture
def symlinked_dist_info(tmp_path: Path) -> tuple[Path, Path]:
    """``entry/imcsym-1.0.dist-info`` -> ``real/current/imcsym-1.0.dist-info``,
    where ``real/current`` -> ``v1``; ``v2`` holds the same distribution with
    entry points in another group. Returns ``entry`` and ``real/current``."""
    real = tmp_path / "real"
    write_tree(real / "v1", dist_info_files("imcsym", "1.0", f"[{GROUP}]\none = imcsym:one\n"))
    write_tree(real / "v2", dist_info_files("imcsym", "1.0", "[imc.other]\ntwo = imcsym:two\n"))
    current = real / "current"
    current.symlink_to("v1", target_is_directory=True)
    entry = tmp_path / "entry"
    entry.mkdir()
    (entry / "imcsym-1.0.dist-info").symlink_to(
        current / "imcsym-1.0.dist-info", target_is_directory=True
    )
    write_tree(entry, dist_info_files("imcplain", "1.0", f"[{GROUP}]\np = imcplain:p\n"))
    return entry, current


def test_dangling_and_looping_dist_info_symlinks(plain: Venv, tmp_path: Path) -> None:
    """A ``*.dist-info`` symlink to nowhere, and one to itself (``ELOOP``: the
    native code raises ``OSError`` from most questions): the same answers and
    the same exceptions."""
    entry = tmp_path / "entry"
    write_tree(entry, dist_info_files("imcplain", "1.0", f"[{GROUP}]\np = imcplain:p\n"))
    (entry / "broken-1.0.dist-info").symlink_to(tmp_path / "nowhere")
    (entry / "loop-1.0.dist-info").symlink_to("loop-1.0.dist-info")
    env: dict[str, str | None] = {"PYTHONPATH": str(entry)}
    _, first, second = differential(plain, tmp_path, env=env)
    assert_active(first, second)
    assert_loaded(second, entry)


def test_symlinked_dist_info_retargeted_behind_the_entry(
    plain: Venv, tmp_path: Path, symlinked_dist_info: tuple[Path, Path]
) -> None:
    """A ``*.dist-info`` that is a symlink. Then the link stays and what it
    leads to changes (a ``current`` symlink re-pointed from ``v1`` to ``v2``, as
    release tools do): the entry's own stamp is unchanged, its saved record is
    loaded, and the snapshot (which starts by reading every distribution) gets
    the distribution's new entry points all the same."""
    entry, current = symlinked_dist_info
    env: dict[str, str | None] = {"PYTHONPATH": str(entry)}
    _, first, second = differential(plain, tmp_path, env=env)
    assert_active(first, second)
    assert {"imcsym", "imcplain"} <= set(first["names"])
    assert_loaded(second, entry)
    before = (entry.stat().st_mtime_ns, entry.stat().st_ctime_ns)
    relink(current, "v2")
    assert (entry.stat().st_mtime_ns, entry.stat().st_ctime_ns) == before
    differential(plain, tmp_path, env=env)


#: Group and name queries as a program's first metadata call (the snapshot reads
#: every distribution's files first, which refreshes what it then asks about).
FIRST_QUERIES = textwrap.dedent(
    """
    import importlib.metadata as md, json
    print(json.dumps([
        [ep.value for ep in md.entry_points(group="imc.other")],
        [ep.value for ep in md.entry_points(name="two")],
        [ep.value for ep in md.entry_points(group="imc.layouts")],
    ]))
    """
)


def test_symlinked_dist_info_retargeted_first_query(
    plain: Venv, tmp_path: Path, symlinked_dist_info: tuple[Path, Path]
) -> None:
    entry, current = symlinked_dist_info
    env: dict[str, str | None] = {"PYTHONPATH": str(entry), SETTLE_VARIABLE: "0"}
    before = json.loads(run(plain, FIRST_QUERIES, env=env).stdout)  # saves the index
    assert before[:2] == [[], []]
    assert "imcsym:one" in before[2]
    relink(current, "v2")
    uncached = json.loads(run(plain, FIRST_QUERIES, env={**env, OFF_VARIABLE: "0"}).stdout)
    assert uncached[:2] == [["imcsym:two"], ["imcsym:two"]]
    assert "imcsym:one" not in uncached[2]
    cached = json.loads(run(plain, FIRST_QUERIES, env=env).stdout)
    assert cached == uncached


@pytest.mark.xfail(
    strict=True,
    reason=(
        "documented blind spot (README): entry_points.txt replaced (written aside, "
        "os.replace'd) in a *.dist-info outside the answer leaves the entry's stamp "
        "as it was: entry_points(group=...) from the saved index misses the new group "
        "until the entry changes or invalidate_caches(); no installer does this, and "
        "seeing it would mean a stat of every distribution at every query"
    ),
)
def test_replaced_entry_points_outside_the_answer(plain: Venv, tmp_path: Path) -> None:
    entry = tmp_path / "entry"
    write_tree(entry, dist_info_files("imcsym", "1.0", f"[{GROUP}]\none = imcsym:one\n"))
    env: dict[str, str | None] = {"PYTHONPATH": str(entry), SETTLE_VARIABLE: "0"}
    before = json.loads(run(plain, FIRST_QUERIES, env=env).stdout)  # saves the index
    assert before[:2] == [[], []]
    stamp = (entry.stat().st_mtime_ns, entry.stat().st_ctime_ns)
    aside = entry / "imcsym-1.0.dist-info" / "entry_points.txt.new"
    aside.write_text("[imc.other]\ntwo = imcsym:two\n", encoding="utf-8")
    os.replace(aside, aside.with_suffix(""))
    assert (entry.stat().st_mtime_ns, entry.stat().st_ctime_ns) == stamp
    uncached = json.loads(run(plain, FIRST_QUERIES, env={**env, OFF_VARIABLE: "0"}).stdout)
    assert uncached[:2] == [["imcsym:two"], ["imcsym:two"]]
    cached = json.loads(run(plain, FIRST_QUERIES, env=env).stdout)
    assert cached == uncached


# -------------------------------------------------------------- install hygiene


def test_installed_record_lists_the_startup_files(plain: Venv) -> None:
    """pip copies the wheel's RECORD: ``pip uninstall`` removes what it lists."""
    (dist_info,) = plain.site_packages.glob("importlib_metadata_cache-*.dist-info")
    rows = (dist_info / "RECORD").read_text(encoding="utf-8").splitlines()
    listed = {row.split(",")[0]: row for row in rows}
    for name in OUR_FILES:
        assert name in listed
        assert listed[name].split(",")[1].startswith("sha256=")
    code = (
        "import importlib.metadata as md; "
        "print([str(f) for f in md.files('importlib-metadata-cache') if f.suffix != '.py'])"
    )
    files = run(plain, code).stdout
    for name in OUR_FILES:
        assert repr(name) in files


def test_user_install_uninstall_leaves_nothing(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, wheel: Path
) -> None:
    python = base_interpreter(tmp_path_factory.mktemp("user-uninstall"))
    env: dict[str, str | None] = {
        "PYTHONUSERBASE": str(tmp_path / "userbase"),
        "HOME": str(tmp_path),
    }
    install(python, "--user", wheel, env=env)
    where = run(python, "import site; print(site.getusersitepackages())", env=env).stdout
    site = Path(where.strip())
    assert sorted(OUR_FILES) == sorted(p.name for p in site.glob("importlib_metadata_cache.*"))
    assert status(python, env=env)["active"] is True
    pip(python, "uninstall", "-y", "importlib-metadata-cache", env=env)
    assert leftovers(site) == []
    assert not (tmp_path / "userbase" / "bin" / "importlib-metadata-cache").exists()
    proc = run(python, "import sys; print('importlib_metadata_cache' in sys.modules)", env=env)
    assert (proc.stdout, proc.stderr) == ("False\n", "")


def test_editable_install(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, plugins: dict[str, Path]
) -> None:
    """``pip install -e`` of this checkout: hatchling's editable wheel carries the
    force-included ``.pth`` and ``.start`` beside its own path ``.pth``, which
    sorts first, so the cache is active, served from the checkout's ``src``."""
    venv = venvs.create_venv(tmp_path_factory.mktemp("editable") / "venv", with_pip=False)
    # (A plugin too: pip removes a site-packages that the uninstall would empty.)
    install(venv, plugins["a"])
    pip(venv, "install", "--no-deps", "-e", venvs.REPO_ROOT)
    found = sorted(p.name for p in venv.site_packages.iterdir() if p.suffix in (".pth", ".start"))
    assert found == sorted(["_editable_impl_importlib_metadata_cache.pth", *OUR_FILES])
    src = venvs.REPO_ROOT / "src"
    path_pth = venv.site_packages / "_editable_impl_importlib_metadata_cache.pth"
    assert path_pth.read_text(encoding="utf-8").strip() == str(src)
    where = run(venv, "import importlib_metadata_cache as m; print(m.__file__)").stdout.strip()
    assert Path(where).parent.parent == src
    _, first, second = differential(venv, tmp_path)
    assert_active(first, second)
    assert str(src) in first["sys_path"]
    assert_loaded(second, venv.site_packages, src)

    pip(venv, "uninstall", "-y", "importlib-metadata-cache")
    assert leftovers(venv.site_packages) == []
    assert list(venv.site_packages.glob("imcplug_a-*.dist-info"))
    proc = run(venv, "import sys; print('importlib_metadata_cache' in sys.modules)")
    assert (proc.stdout, proc.stderr) == ("False\n", "")


# ---------------------------------------------------------- PEP 829 .start files


def test_start_file_names_a_callable(plain: Venv) -> None:
    """Each entry of our ``.start`` resolves (``pkgutil.resolve_name``, strictly
    where Python 3.15 offers it) to the very function the ``.pth`` calls."""
    code = textwrap.dedent(
        """
        import json, pkgutil, sys
        from importlib_metadata_cache import _startup
        with open(sys.argv[1], encoding="utf-8-sig") as f:
            entries = [l.strip() for l in f.read().splitlines()]
        entries = [e for e in entries if e and not e.startswith("#")]
        out = []
        for entry in entries:
            try:
                found = pkgutil.resolve_name(entry, strict=True)
            except TypeError:  # before 3.15
                found = pkgutil.resolve_name(entry)
            out.append([entry, callable(found), found is _startup.activate])
        print(json.dumps(out))
        """
    )
    start = plain.site_packages / "importlib_metadata_cache.start"
    proc = run(plain, ["-c", code, start])
    entries = json.loads(proc.stdout)
    assert entries == [["importlib_metadata_cache._startup:activate", True, True]]
    assert re.fullmatch(r"[\w.]+:[\w.]+", entries[0][0])


@pytest.mark.parametrize("mode", ["pth", "pep829", "both"])
def test_activation_once_whichever_startup_files_run(
    plain: Venv, tmp_path: Path, mode: str
) -> None:
    """``site`` acted out over site-packages in a ``-S`` process: 3.10-3.14 (the
    ``.pth`` import line), 3.15+ (the ``.start`` entry point instead), or both
    one after the other. One activation, one hook, one patch."""
    prelude = f"SITE_DIR = {str(plain.site_packages)!r}; MODE = {mode!r}\n" + EMULATED_SITE
    _, first, second = differential(plain, tmp_path, flags=["-S"], prelude=prelude)
    assert_active(first, second)
    assert_loaded(second, plain.site_packages)


@pytest.mark.parametrize("kept", ["both", "pth", "start"])
def test_which_startup_file_activates(plain: Venv, tmp_path: Path, kept: str) -> None:
    """Python 3.10-3.14 know only the ``.pth``; 3.15-3.17 (PEP 829) skip the import
    line of a ``.pth`` that has a matching ``.start`` and call the entry point;
    3.18+ ignore import lines."""
    venv = venvs.clone_venv(plain, tmp_path / "venv")
    away = {"both": [], "pth": [OUR_FILES[1]], "start": [OUR_FILES[0]]}[kept]
    with moved_away(venv, away):
        report = status(venv)
        assert report["startup_files"] == [
            str(venv.site_packages / n) for n in OUR_FILES if n not in away
        ]
        pth_runs = OUR_FILES[0] not in away and (
            sys.version_info < (3, 15) or (kept == "pth" and sys.version_info < (3, 18))
        )
        start_runs = OUR_FILES[1] not in away and sys.version_info >= (3, 15)
        assert report["active"] is (pth_runs or start_runs)
        if not report["active"]:
            assert NEVER_CALLED in report["reason"]
        assert run(venv, COUNT_FINDERS).stdout.strip() == str(int(report["active"]))
