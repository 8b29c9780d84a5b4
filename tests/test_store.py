"""The persisted store, the way users meet it: real processes sharing one store.

Most tests run subprocesses of this very interpreter (``sys.executable -S``, so
that the record files' interpreter tag matches the in-process checks) with
``PYTHONPATH=<repo>/src``; the system interpreters have no ``.pth`` of ours, so
each script calls ``_startup.activate()`` before importing
``importlib.metadata``. Every subprocess's command, exit code, stdout and stderr
are printed before any assertion (pytest shows them on a failure). "Correct"
always means: equal to the answers of a process run with
``IMPORTLIB_METADATA_CACHE=0``. "Nothing of ours raised" means: exit 0 and no
traceback on stderr.

Every test has a store of its own (``IMPORTLIB_METADATA_CACHE_DIR``, the
``store`` fixture, which also points this process at it); none writes to the
user's cache. A few tests need root (``chown`` to a foreign uid, dropping to an
unknown uid) and are skipped without it; as root, permission bits do not stop
writes, so the read-only cases use a parent that is a file, an injected
``EROFS``, and a process that dropped to an unprivileged uid.

Tests marked ``xfail(strict=True)`` pin bugs found while writing this file;
each reason says what is wrong. They start passing (and so failing as XPASS)
once the bug is fixed: then drop the marker.
"""

from __future__ import annotations

import errno
import itertools
import json
import marshal
import os
import pwd
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import sites
from importlib_metadata_cache import _log, _patch, _record, _stamp, _store, _warm

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the store's trust model is POSIX's")

SRC = Path(__file__).resolve().parent.parent / "src"
#: ``-S``: this interpreter's own site-packages (hundreds of distributions on a
#: developer machine) are not what these tests are about, and would cost each
#: of the ~150 processes a tenth of a second; ``''``, the standard library and
#: ``src`` (``PYTHONPATH``) stay on ``sys.path``.
PYTHON = (sys.executable, "-S")
GROUP = "imc.store.tests"
#: The settle window conftest set for this session (and passes to subprocesses).
SETTLE_MS = round(_stamp.SETTLE_NS / 1_000_000)
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root: chown to another uid, setuid")
needs_proc_fd = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd to tell our descriptors"
)


def _unknown_uid() -> int:
    """A uid without a passwd entry (so ``~`` cannot be expanded for it)."""
    for uid in itertools.count(54321):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    raise AssertionError("unreachable")


FOREIGN_UID = _unknown_uid()


# ----------------------------------------------------------------- the sites


def ep_section(*lines: str) -> str:
    """An ``entry_points.txt`` with ``lines`` in the test group."""
    return f"[{GROUP}]\n" + "".join(f"{line}\n" for line in lines)


def base_files() -> dict[str, str | bytes | None]:
    """Three dist-infos and a legacy egg-info; all names of a length a test may reuse."""
    files: dict[str, str | bytes | None] = {}
    files.update(
        sites.dist_info(
            "alpha", "1.0", entry_points=ep_section("alpha_cli = alpha:run"), top_level="alpha\n"
        )
    )
    files.update(
        sites.dist_info(
            "beta",
            "2.3",
            entry_points=ep_section("beta_cli = beta.cli:main") + "[console_scripts]\nbeta = b:m\n",
        )
    )
    files.update(sites.dist_info("gamma", "0.1"))
    files.update(
        sites.dist_info(
            "legacy", "3.0", suffix=".egg-info", entry_points=ep_section("legacy_cli = legacy:run")
        )
    )
    return files


#: The names every query asks ``version()`` of.
NAMES = ("alpha", "beta", "gamma", "legacy", "newcomer", "not-installed-imc")


def settle() -> None:
    """Wait out the settle window, so that what was just written can be cached."""
    time.sleep(2 * _stamp.SETTLE_NS / 1e9 + 0.02)


def make_site(path: Path, files: Mapping[str, str | bytes | None] | None = None) -> str:
    """Build a site directory and let it settle."""
    site = sites.build(path, base_files() if files is None else files)
    settle()
    return site


def key_of(site: str | os.PathLike[str]) -> str:
    """The record key of an absolute entry, as ``_record.key_of`` spells it."""
    return str(Path(site))


def record_file(store: str | os.PathLike[str], site: str | os.PathLike[str]) -> Path:
    """Where the record of ``site`` lives in ``store``."""
    return Path(store) / _store.file_name(key_of(site))


def tmp_files(store: Path) -> list[str]:
    """The temporary files in ``store`` (writers in progress, or killed)."""
    if not store.exists():
        return []
    return sorted(n for n in os.listdir(store) if n.endswith(".tmp"))


def rec_files(store: Path) -> list[str]:
    """The record files in ``store``."""
    if not store.exists():
        return []
    return sorted(n for n in os.listdir(store) if n.endswith(".rec") and not n.startswith("."))


def loaded_trace(site: str | os.PathLike[str]) -> str:
    return f"loaded the record of {key_of(site)!r}"


# ---------------------------------------------------------- the subprocesses


def sub_env(
    store: str | os.PathLike[str] | None,
    *,
    cached: bool = True,
    debug: bool = False,
    extra: Mapping[str, str | None] | None = None,
) -> dict[str, str]:
    """The environment of a subprocess of this interpreter that can import our package."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "IMPORTLIB_METADATA_CACHE"))
    }
    env["PYTHONPATH"] = str(SRC)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["IMPORTLIB_METADATA_CACHE_SETTLE_MS"] = str(SETTLE_MS)
    if store is not None:
        env["IMPORTLIB_METADATA_CACHE_DIR"] = os.fspath(store)
    if not cached:
        env["IMPORTLIB_METADATA_CACHE"] = "0"
    if debug:
        env["IMPORTLIB_METADATA_CACHE_DEBUG"] = "1"
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    # Never the user's real cache: a store, or a default location under a HOME
    # of the test's own, or none at all (HOME removed, and a uid without a home).
    if "IMPORTLIB_METADATA_CACHE_DIR" not in env:
        assert env.get("HOME") != os.environ.get("HOME") or "HOME" not in env, env
        assert "XDG_CACHE_HOME" not in env, env
    return env


def show(label: str, proc: subprocess.CompletedProcess[str]) -> None:
    print(f"$ {label}")
    print(f"[exit {proc.returncode}]")
    if proc.stdout:
        print("[stdout]")
        print(proc.stdout.rstrip("\n"))
    if proc.stderr:
        print("[stderr]")
        print(proc.stderr.rstrip("\n"))


def assert_clean(proc: subprocess.CompletedProcess[str]) -> None:
    """Nothing raised: exit 0 and no traceback on stderr."""
    assert proc.returncode == 0, f"exit {proc.returncode}"
    assert "Traceback" not in proc.stderr


def run_py(
    args: list[str],
    env: Mapping[str, str],
    *,
    label: str,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60,
    check: bool = True,
    umask: int = -1,
) -> subprocess.CompletedProcess[str]:
    """Run this interpreter; print everything; with ``check``, assert nothing raised."""
    proc = subprocess.run(
        [*PYTHON, *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        umask=umask,
    )
    show(f"{label} (cwd={cwd or os.getcwd()})", proc)
    if check:
        assert_clean(proc)
    return proc


QUERY = textwrap.dedent(
    """
    import json, os, sys
    from importlib_metadata_cache import _startup
    _startup.activate()
    import importlib.metadata as md
    from importlib_metadata_cache import _record

    args = json.loads(sys.argv[1])
    for entry in reversed(args["paths"]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    site = args["site"]
    eps = sorted([ep.name, ep.value] for ep in md.entry_points(group=args["group"]))
    versions = {}
    for name in args["names"]:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    dists = sorted(d.metadata["Name"] for d in md.distributions(path=[site]))
    record = _record.records.get(_record.key_of(site))
    print(json.dumps({
        "active": _startup.is_active(),
        "answers": {"entry_points": eps, "versions": versions, "distributions": dists},
        "record": None if record is None else {
            "persisted": record.persisted, "hits": record.hits, "misses": record.misses,
        },
    }))
    """
)


def query_args(
    site: str | os.PathLike[str],
    paths: list[str] | None = None,
    names: tuple[str, ...] = NAMES,
) -> str:
    return json.dumps(
        {
            "site": os.fspath(site),
            "paths": [os.fspath(p) for p in (paths or [site])],
            "group": GROUP,
            "names": list(names),
        }
    )


def query(
    site: str | os.PathLike[str],
    store: str | os.PathLike[str] | None,
    *,
    cached: bool = True,
    debug: bool = False,
    paths: list[str] | None = None,
    names: tuple[str, ...] = NAMES,
    cwd: str | os.PathLike[str] | None = None,
    extra: Mapping[str, str | None] | None = None,
    timeout: float = 60,
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """One process: ``entry_points(group=)``, ``version()``, ``distributions()``; JSON."""
    proc = run_py(
        ["-c", QUERY, query_args(site, paths, names)],
        sub_env(store, cached=cached, debug=debug, extra=extra),
        label=f"QUERY {'cached' if cached else 'UNCACHED'} {site} store={store}",
        cwd=cwd,
        timeout=timeout,
    )
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["active"] is cached
    return data, proc


def uncached(site: str | os.PathLike[str], store: str | os.PathLike[str], **kw: Any) -> Any:
    """The answers of a process with the cache off: the reference."""
    return query(site, store, cached=False, **kw)[0]["answers"]


# ------------------------------------------------------------------ fixtures


def _clear_memory() -> None:
    getattr(_patch, "clear_memory", _record.clear)()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A store of this test's own, for this process (env, resolution reset) and subprocesses."""
    _record.flush()  # what earlier tests left unsaved goes to the session's store, not here
    _clear_memory()
    path = tmp_path / "store"
    monkeypatch.setenv("IMPORTLIB_METADATA_CACHE_DIR", str(path))
    monkeypatch.setattr(_store, "_writes_disabled", False)
    if hasattr(_record, "load_saved"):  # invalidate_caches() and warm() turn it off
        monkeypatch.setattr(_record, "load_saved", True)
    _store._resolved.clear()
    yield path
    _clear_memory()
    _store._resolved.clear()


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A directory every user can read (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="imc-store-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_public(path: Path) -> None:
    """Readable by everyone, whatever the umask."""
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
        del dirs  # walked anyway


# ---------------------------------------------------------- in-process views


def inprocess_answers(site: str) -> dict[str, Any]:
    """What this process's (patched) provider answers about ``site`` alone."""
    import importlib.metadata as md

    dists = list(md.distributions(path=[site]))
    return {
        "entry_points": sorted(
            [ep.name, ep.value] for d in dists for ep in d.entry_points if ep.group == GROUP
        ),
        "versions": sorted([d.metadata["Name"], d.version] for d in dists),
    }


def native_answers(site: str) -> dict[str, Any]:
    """The same with the cache switched off in this process."""
    import importlib.metadata as md

    _patch.enabled = False
    try:
        md.FastPath.__new__.cache_clear()
        return inprocess_answers(site)
    finally:
        _patch.enabled = True


def fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


# ================================================================ 1. location

#: Environment variants where our spelling must be platformdirs' (None: unset).
LOCATION_VARIANTS: dict[str, dict[str, str | None]] = {
    "xdg-set": {"XDG_CACHE_HOME": "/tmp/imc-xdg-cache"},
    "xdg-set-trailing-slash": {"XDG_CACHE_HOME": "/tmp/imc-xdg-cache/"},
    "xdg-unset": {"XDG_CACHE_HOME": None},
    "xdg-empty": {"XDG_CACHE_HOME": ""},
    "xdg-blank": {"XDG_CACHE_HOME": "   "},
    "other-home": {"XDG_CACHE_HOME": None, "HOME": "/tmp/imc-other-home"},
    "home-unset-known-uid": {"XDG_CACHE_HOME": None, "HOME": None},
}


@pytest.mark.skipif(sys.platform != "linux", reason="the Linux spelling")
@pytest.mark.parametrize(
    "variant",
    [
        *LOCATION_VARIANTS,
        "home-empty",
        "xdg-relative",
    ],
)
def test_default_dir_is_platformdirs_user_cache_dir(
    variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``default_dir()`` spells the user cache directory exactly as platformdirs does."""
    import platformdirs  # a test-only dependency

    changes = {
        **LOCATION_VARIANTS,
        "home-empty": {"XDG_CACHE_HOME": None, "HOME": ""},
        "xdg-relative": {"XDG_CACHE_HOME": "relative/cache"},
    }[variant]
    for name, value in changes.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    expected = platformdirs.user_cache_dir("importlib-metadata-cache")
    print(f"{variant}: ours {_store.default_dir()!r}, platformdirs {expected!r}")
    assert _store.default_dir() == expected


AS_USER = textwrap.dedent(
    """
    import atexit, json, os, sys
    args = json.loads(sys.argv[1])
    from importlib_metadata_cache import _startup
    _startup.activate()
    import importlib.metadata as md
    from importlib_metadata_cache import _patch, _store

    def answers():
        eps = sorted([ep.name, ep.value] for ep in md.entry_points(group=args["group"]))
        versions = {}
        for name in args["names"]:
            try:
                versions[name] = md.version(name)
            except md.PackageNotFoundError:
                versions[name] = None
        dists = sorted(d.metadata["Name"] for d in md.distributions(path=[args["site"]]))
        return {"entry_points": eps, "versions": versions, "distributions": dists}

    sys.path.insert(0, args["site"])
    # Import everything the query needs while still root, with the cache off:
    # the interpreter's own files may be unreadable to the uid we drop to.
    _patch.enabled = False
    answers()
    _patch.enabled = True
    md.FastPath.__new__.cache_clear()
    assert not _store._resolved, "the store was chosen before dropping privileges"

    os.setgroups([])
    os.setgid(args["uid"])
    os.setuid(args["uid"])

    writes = []
    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    WRITE_EVENTS = {
        "os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "os.symlink",
        "os.link", "os.truncate", "os.chmod", "os.chown", "os.utime", "shutil.rmtree",
    }

    def audit(event, event_args):
        if event == "open" and isinstance(event_args[2], int) and event_args[2] & WRITE_FLAGS:
            writes.append([event, str(event_args[0])])
        elif event in WRITE_EVENTS:
            writes.append([event, str(event_args[0])])

    sys.addaudithook(audit)
    result = {}

    @atexit.register  # before the cache registers its flush: so it runs after it
    def report():
        result["writes"] = writes
        print(json.dumps(result), flush=True)

    result["uid"] = os.getuid()
    result["home"] = os.path.expanduser("~")
    result["default_dir"] = _store.default_dir()
    result["answers"] = answers()
    result["cache_dir"] = _store.cache_dir()
    """
)


def run_as_user(
    site: str,
    cwd: Path,
    *,
    extra: Mapping[str, str | None],
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """Start as root, import everything, drop to ``FOREIGN_UID``, query with the cache on."""
    args = json.dumps({"site": site, "group": GROUP, "names": list(NAMES), "uid": FOREIGN_UID})
    proc = run_py(
        ["-c", AS_USER, args],
        sub_env(None, debug=True, extra=extra),
        label=f"AS_USER uid={FOREIGN_UID} {site}",
        cwd=cwd,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc


@needs_root
def test_no_home_and_an_unknown_uid_is_memory_only(public_tmp: Path) -> None:
    """Without HOME and a passwd entry there is no store: answers are right, nothing is written."""
    site = sites.build(public_tmp / "site", base_files())
    make_public(public_tmp)
    cwd = public_tmp / "cwd"
    cwd.mkdir()
    os.chown(cwd, FOREIGN_UID, FOREIGN_UID)  # so that a '~' directory *could* be created here
    settle()
    data, proc = run_as_user(
        site,
        cwd,
        extra={"HOME": None, "XDG_CACHE_HOME": None, "IMPORTLIB_METADATA_CACHE_DIR": None},
    )
    expected = uncached(site, public_tmp / "unused-store")
    assert data["uid"] == FOREIGN_UID
    assert data["home"] == "~"  # the premise: '~' cannot be expanded
    assert data["default_dir"] is None
    assert data["cache_dir"] is None
    assert data["answers"] == expected
    assert data["writes"] == []
    assert "saved the record" not in proc.stderr
    assert os.listdir(cwd) == []  # no directory named '~' (or anything else)
    assert not (public_tmp / "unused-store").exists()


def test_a_relative_cache_dir_is_memory_only(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative IMPORTLIB_METADATA_CACHE_DIR means memory only, in any working directory."""
    site = make_site(tmp_path / "site")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    data, proc = query(site, "relative-store", debug=True, cwd=cwd)
    expected = uncached(site, store)
    assert "is not absolute: memory only" in proc.stderr
    assert "saved the record" not in proc.stderr
    assert data["answers"] == expected
    assert os.listdir(cwd) == []
    assert not store.exists()
    # In this process too.
    monkeypatch.setenv("IMPORTLIB_METADATA_CACHE_DIR", "relative-store")
    _store._resolved.clear()
    monkeypatch.chdir(cwd)
    assert _store.cache_dir() is None
    assert _store.save(key_of(site), {"nothing": b""}) is False
    assert os.listdir(cwd) == []


@needs_root
def test_root_leaves_another_users_home_alone(tmp_path: Path) -> None:
    """Root with another user's HOME must not create directories owned by root in it."""
    site = make_site(tmp_path / "site")
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, FOREIGN_UID, FOREIGN_UID)
    data, _ = query(
        site,
        None,
        debug=True,
        extra={
            "HOME": str(home),
            "XDG_CACHE_HOME": None,
            "IMPORTLIB_METADATA_CACHE_DIR": None,
        },
    )
    assert data["answers"] == uncached(site, tmp_path / "unused")
    made = [(str(p), p.stat().st_uid) for p in home.rglob("*")]
    print(made)
    assert not any(uid != FOREIGN_UID for _path, uid in made)


# ================================================= 2. a second process loads


def test_a_second_process_answers_from_the_saved_record(tmp_path: Path, store: Path) -> None:
    """A second process loads the record the first one saved, serves hits from it, and is right."""
    site = make_site(tmp_path / "site")
    first, _ = query(site, store)
    rec = record_file(store, site)
    assert rec.is_file()
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert stat.S_IMODE(rec.stat().st_mode) == 0o600
    second, proc = query(site, store, debug=True)
    expected = uncached(site, store)
    assert loaded_trace(site) in proc.stderr
    assert f"listed {site!r}" not in proc.stderr  # the listing came from the file
    assert second["record"]["persisted"] == "loaded"
    assert second["record"]["hits"] > 0
    assert first["answers"] == expected
    assert second["answers"] == expected
    assert expected["entry_points"] == [
        ["alpha_cli", "alpha:run"],
        ["beta_cli", "beta.cli:main"],
        ["legacy_cli", "legacy:run"],
    ]


KEPT_TEXTS = textwrap.dedent(
    """
    import json, sys
    from importlib_metadata_cache import _startup
    _startup.activate()
    import importlib.metadata as md

    site = sys.argv[1]
    opened = []
    def audit(event, args):
        if event == "open" and str(args[0]).startswith(site):
            opened.append(str(args[0])[len(site):])
    sys.addaudithook(audit)
    sys.path.insert(0, site)
    dist = md.distribution("alpha")
    texts = [dist.read_text(name) for name in ("top_level.txt", "entry_points.txt")]
    print(json.dumps({"texts": texts, "opened": sorted(opened)}))
    """
)


def test_a_later_process_reads_the_kept_texts_from_the_saved_record(
    tmp_path: Path, store: Path
) -> None:
    """The small files kept in a record (``entry_points.txt``, ``top_level.txt``)
    are saved with it (decoded only when a query reads one): a later process
    gets their texts without opening them."""
    site = make_site(tmp_path / "site")
    runs = [
        json.loads(run_py(["-c", KEPT_TEXTS, site], sub_env(store), label=f"TEXTS {i}").stdout)
        for i in range(2)
    ]
    off = run_py(["-c", KEPT_TEXTS, site], sub_env(store, cached=False), label="UNCACHED")
    expected = json.loads(off.stdout)
    assert runs[0]["texts"] == runs[1]["texts"] == expected["texts"]
    assert expected["texts"][0] == "alpha\n"
    files = ["/alpha-1.0.dist-info/entry_points.txt", "/alpha-1.0.dist-info/top_level.txt"]
    assert runs[0]["opened"] == expected["opened"] == files
    assert runs[1]["opened"] == []


def big_site_files(count: int) -> dict[str, str | bytes | None]:
    """``count`` distributions, each with entry points in a group of its own and
    in the test group: a record file much larger than what a query reads."""
    files = base_files()
    for i in range(count):
        name = f"bulk{i:04d}"
        eps = ep_section(f"{name} = {name}:run") + f"[imc.own.{i}]\nx = {name}:x\n"
        files.update(sites.dist_info(name, f"1.{i}", entry_points=eps, top_level=f"{name}\n"))
    return files


def test_a_record_larger_than_what_a_query_reads(tmp_path: Path, store: Path) -> None:
    """The sections beyond the first bytes read are read from the file when needed."""
    site = make_site(tmp_path / "site", big_site_files(600))
    names = (*NAMES, "bulk0000", "bulk0599")
    first, _ = query(site, store, names=names)
    rec = record_file(store, site)
    assert rec.stat().st_size > 2 * _store.PREFIX
    second, proc = query(site, store, debug=True, names=names)
    expected = uncached(site, store, names=names)
    assert loaded_trace(site) in proc.stderr
    assert first["answers"] == second["answers"] == expected
    assert len(expected["entry_points"]) == 603
    saved = _store.load(key_of(site))
    assert saved is not None
    far = [n for n in saved.names() if n == "record" or n.startswith("index:")]
    assert all(saved.get(n) for n in far)  # every section reads back


def test_a_section_of_a_file_replaced_since_it_was_opened_is_not_read(
    tmp_path: Path, store: Path
) -> None:
    """A section read after the file was replaced (another process saved) raises
    rather than mix two files; the caller then answers natively."""
    site = make_site(tmp_path / "site", big_site_files(600))
    query(site, store)
    saved = _store.load(key_of(site))
    assert saved is not None
    toc, start, prefix = saved._toc, saved._start, saved._prefix
    far = [n for n, (at, size, _crc) in toc.items() if start + at + size > len(prefix)]
    assert far, "every section was within the first bytes read"
    assert saved.get(far[0])  # read from the file, which has not changed
    sites.build(tmp_path / "site", sites.dist_info("late", "1.0"))
    settle()
    query(site, store)  # relists and saves a new file in its place
    with pytest.raises(OSError, match="changed"):
        saved.get(far[0])
    with pytest.raises(OSError, match="changed"):
        saved.get(far[-1])
    # and a process that opened the old file answers right all the same
    data, _ = query(site, store)
    assert data["answers"] == uncached(site, store)


def test_a_process_that_replaced_its_own_record_file_still_reads_the_old_one(
    tmp_path: Path,
    store: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Sections this process has not read yet stay readable after it saved a new
    file in place of the one it loaded (it keeps the old file's sections), so
    its later queries are still served, not sent to the native path."""
    import importlib.metadata as md

    site = make_site(tmp_path / "site", big_site_files(600))
    query(site, store)  # another process saved the record
    monkeypatch.setattr(sys, "path", [site, *sys.path])
    monkeypatch.setattr(_log, "enabled", True)
    _clear_memory()
    assert [ep.name for ep in md.entry_points(group="imc.own.3")] == ["x"]
    rec = record_file(store, site)
    before = rec.stat().st_ino
    assert md.packages_distributions()["bulk0001"] == ["bulk0001"]  # a new table to save
    _record.flush()
    assert rec.stat().st_ino != before, "the record was not saved again"
    for i in (0, 299, 598):
        assert [ep.value for ep in md.entry_points(group=f"imc.own.{i}")] == [f"bulk{i:04d}:x"]
    trace = capsys.readouterr().err
    assert "_select(" not in trace, trace  # "_select({...}) falls back to the native code"
    assert "saved the record of" in trace


METADATA_QUERY = textwrap.dedent(
    """
    import json, sys
    from importlib_metadata_cache import _startup
    _startup.activate()
    import importlib.metadata as md
    import email.message
    import email.parser

    parses = []
    real = email.parser.Parser.parsestr
    def counting(self, text, headersonly=False):
        parses.append(text.split("\\n", 2)[1])
        return real(self, text, headersonly)
    email.parser.Parser.parsestr = counting
    # What the provider's Message asks of the body when it repairs the headers.
    repairs, inside = [], []
    real_payload = email.message.Message.get_payload
    def get_payload(self, *args, **kwargs):
        if inside:
            repairs.append(self["Name"])
        return real_payload(self, *args, **kwargs)
    email.message.Message.get_payload = get_payload
    sys.path.insert(0, sys.argv[1])
    out = {}
    for dist in md.distributions(path=[sys.argv[1]]):
        inside.append(1)
        meta = dist.metadata
        inside.clear()
        out[dist._path.name] = [meta.items(), meta.get_payload(), meta.defects, meta.json]
    print(json.dumps(
        {"metadata": out, "parses": sorted(parses), "repairs": sorted(repairs)}, default=repr
    ))
    """
)


def test_a_later_process_gets_metadata_without_parsing_it(tmp_path: Path, store: Path) -> None:
    """The parsed headers of METADATA are saved (keyed by the header text), so a
    later process builds ``dist.metadata`` without the ``email`` parser; a text
    whose parse is not a plain header block and body is parsed every time.
    What the provider's ``Message`` makes of the headers is saved too: the
    later process does not repair them again."""
    files = base_files()
    odd = {
        "crlf-1.0.dist-info/METADATA": "Name: crlf\r\nVersion: 1.0\r\n\r\nBody\r\n",
        "nobody-1.0.dist-info/METADATA": "Name: nobody\nVersion: 1.0\n",
        "folded-1.0.dist-info/METADATA": "Name: folded\nVersion: 1.0\nSummary: a\n  b\n\nx\n",
        "from-1.0.dist-info/METADATA": "From nobody\nName: from\nVersion: 1.0\n\nbody\n",
        "defect-1.0.dist-info/METADATA": "Name: defect\nVersion: 1.0\nno colon here\n\nx\n",
    }
    site = make_site(tmp_path / "site", {**files, **odd})
    env = sub_env(store)
    runs = [
        json.loads(run_py(["-c", METADATA_QUERY, site], env, label=f"METADATA {i}").stdout)
        for i in range(2)
    ]
    off = run_py(["-c", METADATA_QUERY, site], sub_env(store, cached=False), label="UNCACHED")
    expected = json.loads(off.stdout)["metadata"]
    assert runs[0]["metadata"] == runs[1]["metadata"] == expected
    assert len(runs[0]["parses"]) == len(expected)  # the first process parses each once
    # The second: only the texts that are not a plain header block and body.
    # (read_text gives universal newlines: the CRLF text is a plain one)
    assert runs[1]["parses"] == ["Name: from", "Version: 1.0"], runs[1]["parses"]
    with_body = sorted(dict(meta[0])["Name"] for meta in expected.values() if meta[1])
    assert runs[0]["repairs"] == json.loads(off.stdout)["repairs"] == with_body
    # Kept per header block, whatever the parse came from ("from" is parsed again).
    assert runs[1]["repairs"] == [], runs[1]["repairs"]


BACKPORT_METADATA = textwrap.dedent(
    """
    import json, sys
    from importlib_metadata_cache import _startup
    _startup.activate()
    sys.path.insert(0, sys.argv[2])
    sys.path.append(sys.argv[3])  # its dependencies, where it is installed
    import importlib_metadata as md
    assert md.__file__.startswith(sys.argv[2]), md.__file__
    sys.path.insert(0, sys.argv[1])
    out = []
    for _ in range(3):  # the backport 10 imports its Message lazily, at the first
        meta = md.distribution("folded").metadata
        out.append([meta.items(), meta.get_payload()])
    print(json.dumps(out))
    """
)


def test_a_provider_edited_in_place_repairs_headers_its_new_way(
    tmp_path: Path, store: Path
) -> None:
    """What a provider's ``Message`` makes of a header block is saved with the
    fingerprint of the code that made it: a backport whose ``_adapters.py`` is
    changed in place (an upgrade at the same path) is never answered with what
    the old code did (found by a bug hunt)."""
    import importlib.util

    spec = importlib.util.find_spec("importlib_metadata")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the importlib_metadata backport is not installed here")
    source = Path(next(iter(spec.submodule_search_locations)))
    copy = tmp_path / "copy"
    shutil.copytree(source, copy / source.name, ignore=shutil.ignore_patterns("__pycache__"))
    adapters = copy / "importlib_metadata" / "_adapters.py"
    code = adapters.read_text()
    if "indent = ' ' * 8" not in code:
        pytest.skip("a backport whose _repair_headers this test does not know")
    text = "Metadata-Version: 2.1\nName: folded\nVersion: 1\nLicense: x\n        y\n\nbody\n"
    site = make_site(tmp_path / "site", {"folded-1.0.dist-info/METADATA": text})
    args = ["-c", BACKPORT_METADATA, site, str(copy), str(source.parent)]

    def answers(label: str, cached: bool = True) -> Any:
        proc = run_py(args, sub_env(store, cached=cached), label=label)
        return json.loads(proc.stdout)

    before = [answers(f"BEFORE {i}") for i in range(2)]  # learnt, then replayed
    assert before[0] == before[1] == answers("BEFORE UNCACHED", cached=False)
    adapters.write_text(code.replace("indent = ' ' * 8", "indent = ' ' * 4"))
    after = answers("AFTER UNCACHED", cached=False)
    assert after != before[0]  # the edit shows at all
    assert [answers(f"AFTER {i}") for i in range(2)] == [after, after]


# ================================================ 3. never stale across processes

EGG_EPS = "legacy-3.0.egg-info/entry_points.txt"


def _install(site: Path) -> Path:
    sites.build(
        site, sites.dist_info("newcomer", "0.5", entry_points=ep_section("new_cli = n:run"))
    )
    return site / "newcomer-0.5.dist-info"


def _uninstall(site: Path) -> Path:
    shutil.rmtree(site / "beta-2.3.dist-info")
    return site


def _upgrade(site: Path) -> Path:
    shutil.rmtree(site / "alpha-1.0.dist-info")
    sites.build(
        site, sites.dist_info("alpha", "1.1", entry_points=ep_section("alpha_cli = a:run2"))
    )
    return site / "alpha-1.1.dist-info"


def _force_reinstall(site: Path) -> Path:
    """Same name and version, other entry points of the same length (inodes may be reused)."""
    shutil.rmtree(site / "alpha-1.0.dist-info")
    sites.build(
        site, sites.dist_info("alpha", "1.0", entry_points=ep_section("alpha_new = alpha:run"))
    )
    return site / "alpha-1.0.dist-info" / "entry_points.txt"


def _edit_egg_info(site: Path) -> Path:
    """``setup.py develop`` style: rewrite in place, same size."""
    path = site / EGG_EPS
    with open(path, "r+b") as handle:
        handle.write(ep_section("legacy_new = legacy:run").encode())
    return path


def _edit_egg_info_keep_mtime(site: Path) -> Path:
    """The same, then put the old mtime back: only the ctime tells."""
    path = site / EGG_EPS
    before = path.stat()
    _edit_egg_info(site)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    return path


def _install_keep_dir_mtime(site: Path) -> Path:
    """Add a distribution, then restore the entry's mtime (``cp -p``, ``tar``, ``os.utime``)."""
    before = os.stat(site)
    _install(site)
    os.utime(site, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(site).st_mtime_ns == before.st_mtime_ns
    return site


def _replace_dist_info_entry_points(site: Path) -> Path:
    """An editor's save (write a temporary file, rename it over) inside a ``*.dist-info``."""
    path = site / "alpha-1.0.dist-info" / "entry_points.txt"
    temporary = path.with_name("entry_points.txt.new")
    temporary.write_text(ep_section("alpha_new = alpha:run"))
    os.replace(temporary, path)
    return path


MUTATIONS: dict[str, Callable[[Path], Path]] = {
    "install": _install,
    "uninstall": _uninstall,
    "upgrade": _upgrade,
    "force-reinstall-same-version": _force_reinstall,
    "egg-info-edited-in-place": _edit_egg_info,
    "egg-info-edited-mtime-restored": _edit_egg_info_keep_mtime,
    "install-entry-mtime-restored": _install_keep_dir_mtime,
    "dist-info-entry-points-replaced": _replace_dist_info_entry_points,
}

#: Known to fail; see the reasons.
MUTATION_BUGS: dict[str, str] = {}


def _start_of_a_second() -> None:
    time.sleep(1.0 - time.time() % 1.0 + 0.005)


@pytest.mark.parametrize(
    "mutation",
    [
        pytest.param(m, marks=pytest.mark.xfail(strict=True, reason=MUTATION_BUGS[m]))
        if m in MUTATION_BUGS
        else m
        for m in MUTATIONS
    ],
)
def test_never_stale_across_processes(tmp_path: Path, store: Path, mutation: str) -> None:
    """A change made right after a record was saved is seen by the next process.

    The ``egg-info`` cases are about a file changed in the very second its record
    was saved: on a loaded machine a process may take longer than that, so the
    scenario is tried up to three times (each try checks the answers)."""
    same_second = mutation.startswith("egg-info")
    for attempt in range(3):
        site = make_site(tmp_path / f"site{attempt}")
        if same_second:
            _start_of_a_second()
        before, _ = query(site, store)  # saves the record at exit
        rec = record_file(store, site)
        assert rec.is_file()
        changed = MUTATIONS[mutation](Path(site))
        after, proc = query(site, store, debug=True)
        expected = uncached(site, store)
        assert loaded_trace(site) in proc.stderr  # the old record was there to be misused
        assert after["answers"] == expected
        assert expected != before["answers"]  # the change shows at all
        if not same_second:
            break
        saved_s = rec.stat().st_mtime_ns // 10**9
        changed_s = changed.stat().st_ctime_ns // 10**9
        print(f"record saved in second {saved_s}, file changed in second {changed_s}")
        if saved_s == changed_s:
            break
    else:
        pytest.skip("the record was never saved in the second the file changed (3 tries)")
    settle()
    again, _ = query(site, store)  # once settled, the new state is saved and served
    assert again["answers"] == expected


LOOP = textwrap.dedent(
    """
    import json, sys
    from importlib_metadata_cache import _startup
    _startup.activate()
    import importlib.metadata as md
    from importlib_metadata_cache import _record

    site = sys.argv[1]
    sys.path.insert(0, site)
    loop = [
        [d._path.name, [[ep.group, ep.name, ep.value, ep.dist._path.name] for ep in d.entry_points]]
        for d in md.distributions(path=[site])
    ]
    record = _record.records.get(_record.key_of(site))
    print(json.dumps({
        "loop": loop,
        "orders": sorted(record.orders) if record else [],
        "learnt": sorted(record.learnt) if record else [],
        "persisted": record.persisted if record else None,
    }))
    """
)


def loop(site: str | os.PathLike[str], store: Path, *, cached: bool = True) -> dict[str, Any]:
    """One process: pluggy's loop (``dist.entry_points`` of every distribution), in order."""
    proc = run_py(
        ["-c", LOOP, os.fspath(site)],
        sub_env(store, cached=cached),
        label=f"LOOP {'cached' if cached else 'UNCACHED'} {site}",
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_a_loop_in_a_later_process_is_served_and_sees_every_change(
    tmp_path: Path, store: Path
) -> None:
    """The order of ``distributions()`` and the parse of each ``entry_points.txt``
    are saved with the record; a later process's loop uses them, and still sees
    a distribution installed since (a new listing) and a file edited in place
    (its own stamp), as the native code does."""
    site = Path(make_site(tmp_path / "site"))
    first = loop(site, store)
    assert first["loop"] == loop(site, store, cached=False)["loop"]
    second = loop(site, store)  # served from what the first one saved
    assert second["persisted"] == "loaded"
    assert second["orders"] == ["order:importlib.metadata"]
    assert second["learnt"] == ["eps:importlib.metadata"]
    assert second["loop"] == first["loop"]
    _install(site)
    settle()
    installed = loop(site, store)
    assert installed["loop"] == loop(site, store, cached=False)["loop"] != first["loop"]
    loop(site, store)  # the new listing's order and parses, saved again
    path = site / "alpha-1.0.dist-info" / "entry_points.txt"
    dir_stat = os.stat(path.parent)
    with open(path, "w") as handle:  # in place: same inode, the directories untouched
        handle.write(ep_section("alpha_cli = alpha:run", "alpha_more = alpha:more"))
    os.utime(path.parent, ns=(dir_stat.st_atime_ns, dir_stat.st_mtime_ns))
    edited = loop(site, store)
    expected = loop(site, store, cached=False)["loop"]
    assert edited["persisted"] == "loaded"
    assert edited["loop"] == expected != installed["loop"]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A fresh venv with this project's wheel installed: its ``.pth`` is live."""
    import venvs

    wheel = venvs.our_wheel(tmp_path_factory)
    return venvs.create_venv(tmp_path_factory.mktemp("store-venv") / "venv", wheel)


def venv_query(
    venv: Any,
    store: Path,
    *,
    cached: bool = True,
    debug: bool = False,
    names: tuple[str, ...] = ("imcfake", "pip"),
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    import venvs

    env: dict[str, str | None] = {
        "IMPORTLIB_METADATA_CACHE_DIR": str(store),
        "IMPORTLIB_METADATA_CACHE_SETTLE_MS": str(SETTLE_MS),
        "IMPORTLIB_METADATA_CACHE": None if cached else "0",
        "IMPORTLIB_METADATA_CACHE_DEBUG": "1" if debug else None,
    }
    proc = venvs.run(venv, ["-c", QUERY, query_args(venv.site_packages, names=names)], env=env)
    assert_clean(proc)
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["active"] is cached
    return data, proc


@pytest.mark.integration
def test_never_stale_across_real_pip_operations(venv: Any, tmp_path: Path) -> None:
    """Real pip installs, force-reinstalls, upgrades and uninstalls are seen by the next process."""
    import venvs

    store = tmp_path / "store"
    env = {
        "IMPORTLIB_METADATA_CACHE_DIR": str(store),  # pip runs with the cache on too
        "IMPORTLIB_METADATA_CACHE_SETTLE_MS": str(SETTLE_MS),
    }
    wheels = tmp_path / "wheels"
    one = venvs.fake_wheel(wheels / "a", "imcfake", "1.0", ep_section("fake_a = imcfake:run"))
    one_b = venvs.fake_wheel(wheels / "b", "imcfake", "1.0", ep_section("fake_b = imcfake:run"))
    two = venvs.fake_wheel(wheels / "c", "imcfake", "2.0", ep_section("fake_c = imcfake:run"))
    install = ["-m", "pip", "install", "--no-index", "--no-deps"]
    steps: list[tuple[str, list[str], list[list[str]], str | None]] = [
        (
            "force-reinstall",
            [*install, "--force-reinstall", str(one_b)],
            [["fake_b", "imcfake:run"]],
            "1.0",
        ),
        ("upgrade", [*install, str(two)], [["fake_c", "imcfake:run"]], "2.0"),
        ("uninstall", ["-m", "pip", "uninstall", "-y", "imcfake"], [], None),
        ("install", [*install, str(one)], [["fake_a", "imcfake:run"]], "1.0"),
    ]
    try:
        venvs.run(venv, [*install, str(one)], env=env)
        settle()
        venv_query(venv, store)  # the record of site-packages, saved at exit
        for label, pip_args, eps, version in steps:
            print(f"---- {label}")
            venvs.run(venv, pip_args, env=env)
            after, proc = venv_query(venv, store, debug=True)  # at once: within the window
            expected = venv_query(venv, store, cached=False)[0]["answers"]
            assert loaded_trace(venv.site_packages) in proc.stderr
            assert after["answers"] == expected, label
            assert expected["entry_points"] == eps
            assert expected["versions"]["imcfake"] == version
            settle()
            again, _ = venv_query(venv, store)  # saves the settled state for the next step
            assert again["answers"] == expected, label
    finally:
        venvs.run(venv, ["-m", "pip", "uninstall", "-y", "imcfake"], env=env, check=False)


# =================================================================== 4. faults


def test_a_store_whose_parent_is_a_file_is_memory_only(tmp_path: Path) -> None:
    """When the store cannot be created (its parent is a file), queries are right and quiet."""
    site = make_site(tmp_path / "site")
    parent = tmp_path / "a-file"
    parent.write_text("not a directory\n")
    store = parent / "store"
    first, proc = query(site, store, debug=True)
    second, proc2 = query(site, store, debug=True)
    expected = uncached(site, store)
    assert "cannot create" in proc.stderr
    assert "memory only from now on" in proc.stderr
    assert first["answers"] == expected
    assert second["answers"] == expected
    assert "loaded the record" not in proc2.stderr
    assert parent.read_text() == "not a directory\n"


def test_a_store_that_is_a_file_is_memory_only(tmp_path: Path) -> None:
    """When the store path is a regular file, queries are right and the file is left alone."""
    site = make_site(tmp_path / "site")
    store = tmp_path / "store-file"
    store.write_bytes(b"someone's file\n")
    store.chmod(0o600)
    data, proc = query(site, store, debug=True)
    expected = uncached(site, store)
    assert "memory only from now on" in proc.stderr
    assert data["answers"] == expected
    assert store.read_bytes() == b"someone's file\n"


@needs_root
def test_a_read_only_store_for_a_plain_user(public_tmp: Path) -> None:
    """A store the user owns but cannot write (0500): right answers, no error, nothing written."""
    site = sites.build(public_tmp / "site", base_files())
    make_public(public_tmp)
    store = public_tmp / "store"
    store.mkdir()
    os.chown(store, FOREIGN_UID, FOREIGN_UID)
    store.chmod(0o500)
    cwd = public_tmp / "cwd"
    cwd.mkdir()
    settle()
    data, proc = run_as_user(site, cwd, extra={"IMPORTLIB_METADATA_CACHE_DIR": str(store)})
    expected = uncached(site, public_tmp / "unused-store")
    assert data["cache_dir"] == str(store)
    assert data["answers"] == expected
    assert "memory only from now on" in proc.stderr
    assert os.listdir(store) == []


@needs_proc_fd
def test_a_read_only_file_system_is_memory_only(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """EROFS when creating the temporary file: the save fails once, quietly, and writes stop."""
    site = make_site(tmp_path / "site")
    store.mkdir(mode=0o700)
    real_open = os.open
    refused: list[str] = []

    def read_only(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if flags & os.O_CREAT and dir_fd is not None and fd_path(dir_fd) == str(store):
            refused.append(str(path))
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(_log, "enabled", True)
    monkeypatch.setattr(_store.os, "open", read_only)
    answers = inprocess_answers(site)
    _record.flush()  # what atexit does
    err = capsys.readouterr().err
    print(err)
    assert refused
    assert _store._writes_disabled is True
    assert "memory only from now on" in err
    assert os.listdir(store) == []
    count = len(refused)
    assert _store.save(key_of(site), {"x": b""}) is False
    assert len(refused) == count  # did not even try
    monkeypatch.setattr(_store.os, "open", real_open)
    assert answers == native_answers(site)


@needs_proc_fd
def test_a_full_disk_during_a_write_is_memory_only(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ENOSPC mid-write: save is False, the temp file goes, writes stop, answers stay right."""
    site = make_site(tmp_path / "site")
    store.mkdir(mode=0o700)
    real_write = os.write
    real_open = os.open
    writes: list[int] = []
    opens: list[str] = []

    def full_disk(fd: int, data: Any) -> int:
        if fd_path(fd).startswith(str(store) + os.sep):
            writes.append(fd)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    def counting_open(
        path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None
    ) -> int:
        in_store = dir_fd is not None and fd_path(dir_fd) == str(store)
        if in_store or str(path).startswith(str(store)):
            opens.append(str(path))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(_log, "enabled", True)
    monkeypatch.setattr(_store.os, "write", full_disk)
    monkeypatch.setattr(_store.os, "open", counting_open)
    answers = inprocess_answers(site)
    saved = _store.save(key_of(site), _record.records[key_of(site)].payload())
    err = capsys.readouterr().err
    print(err)
    assert saved is False
    assert writes
    assert _store._writes_disabled is True
    assert "memory only from now on" in err
    assert os.listdir(store) == []  # neither a temporary file nor a record
    counts = (len(writes), len(opens))
    _record.flush()  # the atexit flush of the same process: does not even try
    assert _store.save(key_of(site), {"x": b""}) is False
    assert (len(writes), len(opens)) == counts
    assert os.listdir(store) == []
    monkeypatch.setattr(_store.os, "write", real_write)
    monkeypatch.setattr(_store.os, "open", real_open)
    assert answers == native_answers(site)
    assert inprocess_answers(site) == answers


def _truncate(data: bytes, other: bytes) -> bytes:
    return data[: len(data) // 2]


def _garbage(data: bytes, other: bytes) -> bytes:
    return bytes(random.Random(7).randrange(256) for _ in range(len(data)))


def _old_format(data: bytes, other: bytes) -> bytes:
    magic = _store.MAGIC
    return magic[:-1] + bytes([(magic[-1] - 1) % 256]) + data[len(magic) :]


def _sections(data: bytes) -> tuple[str, dict[str, bytes]]:
    key, _tag, toc, start = _store.unpack_head(data)
    return key, {
        name: data[start + at : start + at + size] for name, (at, size, _crc) in toc.items()
    }


def _foreign_tag(data: bytes, other: bytes) -> bytes:
    key, sections = _sections(data)
    return _store.pack(key, sections, tag="cpython-00-0")


def _bad_payload(data: bytes, other: bytes) -> bytes:
    key, sections = _sections(data)
    return _store.pack(key, {name: b"not marshal data" for name in sections})


#: name -> (what to make of a valid file, given another entry's valid file; trace)
CORRUPTIONS: dict[str, tuple[Callable[[bytes, bytes], bytes], str | None]] = {
    "empty": (lambda data, other: b"", "not a record of format"),
    "truncated": (_truncate, "cannot load the record of"),
    "garbage": (_garbage, "not a record of format"),
    "old-format": (_old_format, "not a record of format"),
    "foreign-key": (lambda data, other: other, "it is the record of"),
    "foreign-interpreter": (_foreign_tag, "it is the record of"),
    "bad-payload": (_bad_payload, None),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_bad_record_file_is_a_miss_and_gets_replaced(
    tmp_path: Path, store: Path, corruption: str
) -> None:
    """A corrupt, truncated, foreign or old file is a miss; the next save replaces it."""
    site = make_site(tmp_path / "site")
    other_site = make_site(tmp_path / "other", sites.dist_info("other", "9.9"))
    query(site, store, paths=[site, other_site])
    rec, other_rec = record_file(store, site), record_file(store, other_site)
    make, trace = CORRUPTIONS[corruption]
    bad = make(rec.read_bytes(), other_rec.read_bytes())
    if corruption == "foreign-key":
        os.replace(other_rec, rec)  # a valid record file under another entry's name
    else:
        rec.write_bytes(bad)
    assert rec.read_bytes() == bad
    data, proc = query(site, store, debug=True)
    expected = uncached(site, store)
    if trace is not None:
        assert trace in proc.stderr
    assert data["answers"] == expected
    assert rec.read_bytes() != bad  # replaced by the save at exit
    again, proc = query(site, store, debug=True)
    assert loaded_trace(site) in proc.stderr
    assert f"listed {site!r}" not in proc.stderr
    assert again["answers"] == expected


def _snapshot(store: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in store.iterdir() if p.name.endswith(".rec")}


def _restore(store: Path, files: dict[str, bytes]) -> None:
    for path in store.iterdir():
        if path.name.endswith(".rec") and path.name not in files:
            path.unlink()
    for name, data in files.items():
        (store / name).write_bytes(data)
        (store / name).chmod(0o600)


def test_a_bit_flipped_in_a_saved_file_is_never_an_answer(tmp_path: Path, store: Path) -> None:
    """One bit flipped on the disk, in the head or in any section of a record
    file or of a file of answers, would decode to another name, import path or
    stamp: it fails that part's checksum, and the answers are the uncached ones
    (the file is a miss, and is removed). Each flip is tried on the same store."""
    site = make_site(tmp_path / "site")
    query(site, store)  # the records
    query(site, store)  # the answers, made from the loaded records
    expected = uncached(site, store)
    files = _snapshot(store)
    assert any(name.startswith("answers-") for name in files), sorted(files)
    flips = caught = 0
    for name, data in sorted(files.items()):
        _key, _tag, toc, start = _store.unpack_head(data)
        places = [("head", _store.HEAD_AT + 3)] + [
            (section, start + at + size // 2) for section, (at, size, _crc) in toc.items() if size
        ]
        for section, where in places:
            flipped = bytearray(data)
            flipped[where] ^= 0x04
            _restore(store, {**files, name: bytes(flipped)})
            got, proc = query(site, store, debug=True)
            assert got["answers"] == expected, (name, section)
            flips += 1
            if "fails its checksum" in proc.stderr:
                caught += 1
                assert not (store / name).exists() or (store / name).read_bytes() != flipped
    assert flips > 10 and caught > 5, (flips, caught)
    _restore(store, files)
    again, _proc = query(site, store)
    assert again["answers"] == expected


def test_a_fifo_in_the_store_does_not_hang(tmp_path: Path, store: Path) -> None:
    """A FIFO where a record file should be is a miss, not a hang."""
    site = make_site(tmp_path / "site")
    store.mkdir(mode=0o700)
    os.mkfifo(record_file(store, site), 0o600)
    data, _ = query(site, store, timeout=3)
    assert data["answers"] == uncached(site, store)


# ------------------------------------------------------------------ trust

EVIL = ["evil_hook", "os:system"]


def poison(path: Path) -> None:
    """Make a valid record name ``evil_hook = os:system`` for alpha: same-length edits.

    Every copy of the entry point's name and value (in the cached
    ``entry_points.txt`` text, in any index or memo) is replaced byte for byte,
    and the checksums are made again (of the sections, and of the buckets in
    each memo's table), as an attacker able to write the file would: the
    checksums catch corruption, the trust checks catch others' files. The
    control query proves it took.
    """
    data = path.read_bytes()
    assert data.count(b"alpha_cli") and data.count(b"alpha:run")
    key, sections = _sections(data)
    sections = {
        name: part.replace(b"alpha_cli", b"evil_hook").replace(b"alpha:run", b"os:system")
        for name, part in sections.items()
    }
    for name in [n for n in sections if n.endswith(":toc")]:
        memo = name[: -len("toc")] + "data"
        count, toc = marshal.loads(sections[name])
        blob = sections[memo]
        toc = {
            n: (at, size, _store.crc32(blob[at : at + size])) for n, (at, size, _c) in toc.items()
        }
        sections[name] = marshal.dumps((count, toc))
    path.write_bytes(_store.pack(key, sections))


def _chown_file(store: Path, rec: Path, elsewhere: Path) -> Path:
    os.chown(rec, FOREIGN_UID, FOREIGN_UID)
    return store


def _chmod_file(mode: int) -> Callable[[Path, Path, Path], Path]:
    def attack(store: Path, rec: Path, elsewhere: Path) -> Path:
        rec.chmod(mode)
        return store

    return attack


def _symlink_file(store: Path, rec: Path, elsewhere: Path) -> Path:
    elsewhere.mkdir(mode=0o700)
    target = elsewhere / rec.name
    os.replace(rec, target)  # still ours, 0600: only the link is wrong
    rec.symlink_to(target)
    return store


def _chmod_dir(mode: int) -> Callable[[Path, Path, Path], Path]:
    def attack(store: Path, rec: Path, elsewhere: Path) -> Path:
        store.chmod(mode)
        return store

    return attack


def _chown_dir(store: Path, rec: Path, elsewhere: Path) -> Path:
    os.chown(store, FOREIGN_UID, FOREIGN_UID)
    return store


def _symlink_dir(store: Path, rec: Path, elsewhere: Path) -> Path:
    link = store.parent / "store-link"
    link.symlink_to(store, target_is_directory=True)
    return link


#: name -> (attack: returns the store path to use; trace; a file attack?)
ATTACKS: dict[str, tuple[Callable[[Path, Path, Path], Path], str, bool]] = {
    "file-owned-by-another-user": (_chown_file, "not a private file", True),
    "file-group-writable": (_chmod_file(0o620), "not a private file", True),
    "file-world-writable": (_chmod_file(0o602), "not a private file", True),
    "file-is-a-symlink": (_symlink_file, "cannot load the record of", True),
    "dir-group-writable": (_chmod_dir(0o770), "not a private directory", False),
    "dir-world-writable-sticky": (_chmod_dir(0o1777), "not a private directory", False),
    "dir-owned-by-another-user": (_chown_dir, "not a private directory", False),
    "dir-is-a-symlink": (_symlink_dir, "cannot save the record of", False),
}


def answers_files(store: Path) -> list[Path]:
    """The files of answers kept per ``sys.path`` (``_query.Answer``)."""
    return sorted(p for p in store.iterdir() if p.name.startswith("answers-"))


@pytest.mark.parametrize("which", ["record", "answers"])
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_record_others_could_have_written_is_ignored(
    tmp_path: Path, store: Path, attack: str, which: str
) -> None:
    """A poisoned record, or file of answers, in a file or directory others
    could write is never served."""
    do_attack, trace, file_attack = ATTACKS[attack]
    if "another-user" in attack and not IS_ROOT:
        pytest.skip("chown to another uid needs root")
    site = make_site(tmp_path / "site")
    query(site, store)
    query(site, store)  # answers are kept by a process that loaded the records
    if which == "record":
        rec = record_file(store, site)
        for derived in answers_files(store):  # made from the record: made again from it
            derived.unlink()
    else:  # the groups' answers (the names' are in a file of their own)
        [rec] = [p for p in answers_files(store) if b"alpha_cli" in p.read_bytes()]
    poison(rec)
    control, _ = query(site, store)
    assert EVIL in control["answers"]["entry_points"]  # the poison works when trusted
    if which == "record":
        for derived in answers_files(store):  # the poison, kept by a process that trusted it
            derived.unlink()
    used = do_attack(store, rec, tmp_path / "elsewhere")
    listing = sorted(os.listdir(store))
    poisoned = {n: (store / n).read_bytes() for n in listing if (store / n).is_file()}
    data, proc = query(site, used, debug=True)
    expected = uncached(site, used)
    assert EVIL not in data["answers"]["entry_points"]
    assert data["answers"] == expected
    assert trace in proc.stderr
    if file_attack:
        # Replaced by a clean file of ours, which the next process loads.
        st = os.lstat(rec)
        assert stat.S_ISREG(st.st_mode)
        assert st.st_uid == os.geteuid()
        assert stat.S_IMODE(st.st_mode) == 0o600
        assert b"evil_hook" not in rec.read_bytes()
        again, proc = query(site, used, debug=True)
        assert loaded_trace(site) in proc.stderr
        assert again["answers"] == expected
    else:
        # Nothing written into a directory others control.
        assert sorted(os.listdir(store)) == listing
        assert {n: (store / n).read_bytes() for n in poisoned} == poisoned
    if attack == "file-is-a-symlink":
        assert b"evil_hook" in (tmp_path / "elsewhere" / rec.name).read_bytes()  # left alone


# ============================================================ 5. killed writer

SLOW_WRITER = textwrap.dedent(
    """
    import json, os, sys, time
    from importlib_metadata_cache import _store
    args = json.loads(sys.argv[1])
    real_write = os.write
    chunks = 0

    def slow_write(fd, data):
        # 4 KiB at a time, slowly; says so once 256 KiB are out.
        global chunks
        time.sleep(0.002)
        written = real_write(fd, bytes(memoryview(data)[:4096]))
        chunks += 1
        if chunks == 64:
            print("midway", flush=True)
        return written

    os.write = slow_write
    payload = {"record": b"x" * 8_000_000}
    print(_store.save(args["key"], payload), flush=True)
    """
)


@pytest.mark.parametrize("had_record", [True, False], ids=["over-a-record", "first-record"])
def test_a_writer_killed_mid_write_leaves_no_partial_record(
    tmp_path: Path, store: Path, had_record: bool
) -> None:
    """SIGKILL mid-write leaves the previous file or none, never a torn one; tmp files go."""
    site = make_site(tmp_path / "site")
    rec = record_file(store, site)
    if had_record:
        query(site, store)
        before: bytes | None = rec.read_bytes()
    else:
        store.mkdir(mode=0o700)
        before = None
    writer = subprocess.Popen(
        [*PYTHON, "-c", SLOW_WRITER, json.dumps({"key": key_of(site)})],
        env=sub_env(store),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(30, writer.kill)
    watchdog.start()
    try:
        said = writer.stdout.readline() if writer.stdout else ""
        writer.kill()  # mid-write: 256 KiB of 8 MB are out
    finally:
        watchdog.cancel()
    out, err = writer.communicate(timeout=30)
    print(f"[killed writer: exit {writer.returncode}]\n{said}{out}{err}")
    assert said == "midway\n", "the writer did not get midway"
    assert writer.returncode == -9
    if before is None:
        assert not rec.exists()
    else:
        assert rec.read_bytes() == before
    left = tmp_files(store)
    assert len(left) == 1  # the killed writer's, partial
    partial = os.stat(store / left[0]).st_size
    assert 256 * 1024 <= partial < 8_000_000
    data, proc = query(site, store, debug=True)
    assert data["answers"] == uncached(site, store)
    if had_record:
        assert loaded_trace(site) in proc.stderr
    # The stale temporary file goes when a new record file is next added ...
    stale = store / left[0]
    old = time.time() - _store.STALE_TMP_S - 60
    os.utime(stale, (old, old))
    live = store / f".{rec.name}.{os.getpid()}.00c0ffee.tmp"  # a writer at work: kept
    live.write_bytes(b"in progress")
    other = tmp_path / "another-entry"
    other.mkdir()
    assert _store.save(key_of(other), {"x": b""}) is True
    assert not stale.exists()
    assert live.exists()
    # ... and _prune itself does it too.
    os.utime(live, (old, old))
    _store._prune(str(store))
    assert tmp_files(store) == []


# ============================================================== 6. concurrency

WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from importlib_metadata_cache import _startup
    _startup.activate()
    import importlib.metadata as md
    args = json.loads(sys.argv[1])
    sys.path.insert(0, args["site"])
    known = set(args["known"])
    open(os.path.join(args["ready"], str(os.getpid())), "w").close()
    while not os.path.exists(args["go"]):
        time.sleep(0.002)
    rounds = []
    for _ in range(args["rounds"]):
        t0 = time.time_ns()
        eps = [ep.name for ep in md.entry_points(group=args["group"])]
        t1 = time.time_ns()
        versions = {}
        for name in args["names"]:
            try:
                versions[name] = md.version(name)
            except md.PackageNotFoundError:
                versions[name] = None
            except Exception as exc:  # removed between finding and reading: natively too
                versions[name] = {"raised": repr(exc)}
        t2 = time.time_ns()
        names, vanished = [], 0
        for dist in md.distributions():
            try:
                name = dist.metadata["Name"]
            except Exception:  # removed between the listing and the read: natively too
                vanished += 1
                continue
            if name in known:
                names.append(name)
        t3 = time.time_ns()
        rounds.append({
            "t": [t0, t1, t2, t3], "entry_points": eps, "versions": versions,
            "names": names, "vanished": vanished,
        })
    print(json.dumps(rounds))
    """
)

BASE = {f"cbase{i}": f"1.{i}" for i in range(4)}


def _transient(i: int) -> tuple[str, str, str]:
    """(name, version, dist-info directory name) of the i-th transient distribution."""
    name, version = f"ctr{i}", f"0.{i}"
    return name, version, f"{name}-{version}.dist-info"


class Installer(threading.Thread):
    """Installs and uninstalls distributions, atomically, every ~20 ms; logs every state.

    The pattern (add a, add b, remove a, remove b, add c, ...) keeps at most two
    transient distributions, so every subset of a state is a state: a reader
    racing with a removal (natively too) still lands on a state.
    """

    def __init__(self, site: Path, stage: Path) -> None:
        super().__init__(daemon=True)
        self.site, self.stage = site, stage
        (stage / "trash").mkdir(parents=True)
        self.log: list[tuple[str, str, int, int]] = []
        self.states: list[frozenset[str]] = [frozenset()]
        self.stopped = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            rng = random.Random(20240229)
            present: list[str] = []
            counter = itertools.count()
            for op in itertools.cycle(("add", "add", "remove", "remove")):
                if self.stopped.is_set():
                    return
                if op == "add":
                    name, version, directory = _transient(next(counter))
                    sites.build(
                        self.stage / name,
                        sites.dist_info(name, version, entry_points=ep_section(f"{name}_ep = m:f")),
                    )
                    start = time.time_ns()
                    os.rename(self.stage / name / directory, self.site / directory)
                    present.append(name)
                else:
                    name = present.pop(0)
                    directory = _transient(int(name[3:]))[2]
                    start = time.time_ns()
                    os.rename(self.site / directory, self.stage / "trash" / directory)
                self.log.append((op, name, start, time.time_ns()))
                self.states.append(frozenset(present))
                # Mostly fast; now and then long enough for the entry to settle.
                time.sleep(0.12 if rng.random() < 0.15 else 0.02)
        except BaseException as exc:
            self.error = exc


class Timeline:
    """When each transient distribution surely, or possibly, was installed."""

    def __init__(self, log: list[tuple[str, str, int, int]]) -> None:
        self.added: dict[str, tuple[int, int]] = {}
        self.removed: dict[str, tuple[int, int]] = {}
        for op, name, start, end in log:
            (self.added if op == "add" else self.removed)[name] = (start, end)

    def surely(self, name: str, a: int, b: int) -> bool:
        """Installed during the whole of ``[a, b]``."""
        added, removed = self.added.get(name), self.removed.get(name)
        return added is not None and added[1] <= a and (removed is None or removed[0] >= b)

    def possibly(self, name: str, a: int, b: int) -> bool:
        """Installed at some moment of ``[a, b]``."""
        added, removed = self.added.get(name), self.removed.get(name)
        return added is not None and added[0] <= b and (removed is None or removed[1] >= a)


def check_round(
    answer: dict[str, Any], timeline: Timeline, states: set[frozenset[str]], names: list[str]
) -> list[str]:
    """Problems with one round of one worker's answers (empty: a valid state, on time)."""
    problems = []
    t0, t1, t2, t3 = answer["t"]
    # entry_points(group=...): the eps of a state the installer passed through.
    eps = answer["entry_points"]
    if len(set(eps)) != len(eps):
        problems.append(f"duplicate entry points {eps}")
    base_eps = {f"{n}_ep" for n in BASE}
    if not base_eps <= set(eps):
        problems.append(f"base entry points missing: {sorted(base_eps - set(eps))}")
    ours = base_eps | {e for e in eps if e.startswith("ctr") and e.endswith("_ep")}
    strange = set(eps) - ours
    if strange:
        problems.append(f"unknown entry points {sorted(strange)}")
    dists = frozenset(e[: -len("_ep")] for e in eps if e.startswith("ctr"))
    if dists not in states:
        problems.append(f"entry points of {sorted(dists)}: no state of the installer")
    for name in timeline.added:
        if timeline.surely(name, t0, t1) and name not in dists:
            problems.append(f"entry_points: {name} installed throughout, missing")
        if name in dists and not timeline.possibly(name, t0, t1):
            problems.append(f"entry_points: {name} never installed during the query (stale)")
    # version(): right for what was there all along, None for what never was.
    for name in names:
        value = answer["versions"][name]
        if name in BASE:
            if value != BASE[name]:
                problems.append(f"version({name}) = {value!r}")
            continue
        expected = f"0.{int(name[3:])}"
        if timeline.surely(name, t1, t2) and value != expected:
            problems.append(f"version({name}) = {value!r}, installed throughout")
        elif not timeline.possibly(name, t1, t2) and value is not None:
            problems.append(f"version({name}) = {value!r}, never installed meanwhile (stale)")
        elif value not in (None, expected) and not isinstance(value, dict):
            problems.append(f"version({name}) = {value!r}")
    # distributions(): the names of a state, on time.
    found = answer["names"]
    if len(set(found)) != len(found):
        problems.append(f"duplicate distributions {found}")
    if not set(BASE) <= set(found):
        problems.append(f"base distributions missing from {found}")
    transients = frozenset(n for n in found if n.startswith("ctr"))
    if transients not in states:
        problems.append(f"distributions {sorted(transients)}: no state of the installer")
    for name in timeline.added:
        if timeline.surely(name, t2, t3) and name not in transients:
            problems.append(f"distributions: {name} installed throughout, missing")
        if name in transients and not timeline.possibly(name, t2, t3):
            problems.append(f"distributions: {name} never installed meanwhile (stale)")
    return problems


def test_concurrent_processes_against_an_installer_answer_valid_states(
    tmp_path: Path, store: Path
) -> None:
    """32 processes at once, while distributions come and go: each answers a state, on time."""
    workers, rounds, asked = 32, 3, 40
    files: dict[str, str | bytes | None] = {}
    for name, version in BASE.items():
        files.update(sites.dist_info(name, version, entry_points=ep_section(f"{name}_ep = m:f")))
    site = make_site(tmp_path / "site", files)
    ready, go = tmp_path / "ready", tmp_path / "go"
    ready.mkdir()
    names = [*BASE, *(_transient(i)[0] for i in range(asked))]
    args = json.dumps(
        {
            "site": site,
            "group": GROUP,
            "names": names,
            "known": [*BASE, *(_transient(i)[0] for i in range(2000))],
            "ready": str(ready),
            "go": str(go),
            "rounds": rounds,
        }
    )
    env = sub_env(store)
    procs = [
        subprocess.Popen(
            [*PYTHON, "-c", WORKER, args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    installer = Installer(Path(site), tmp_path / "stage")
    results: list[tuple[int, str, str]] = []
    try:
        deadline = time.monotonic() + 60
        while len(os.listdir(ready)) < workers and time.monotonic() < deadline:
            assert all(p.poll() is None for p in procs), "a worker died before the start"
            time.sleep(0.01)
        assert len(os.listdir(ready)) == workers, "workers not ready within 60 s"
        installer.start()
        time.sleep(0.05)
        go.touch()
        for proc in procs:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append((proc.returncode, out, err))
    finally:
        installer.stopped.set()
        installer.join(timeout=10)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert installer.error is None, installer.error
    timeline = Timeline(installer.log)
    states = set(installer.states)
    print(f"installer: {len(installer.log)} operations, {len(states)} states")
    problems: list[str] = []
    for number, (code, out, err) in enumerate(results):
        print(f"---- worker {number}: exit {code}\n{out}{err}")
        if code != 0 or "Traceback" in err:
            problems.append(f"worker {number}: exit {code}, stderr {err[-2000:]!r}")
            continue
        for index, answer in enumerate(json.loads(out)):
            for problem in check_round(answer, timeline, states, names):
                problems.append(f"worker {number} round {index}: {problem}")
    assert not problems, "\n".join(problems[:60])
    assert len(installer.log) >= 10, "the installer barely ran: the test proves little"
    # The uncached reference of the final state is what the checker assumed.
    final, _ = query(site, store, cached=False, names=tuple(names))
    present = installer.states[-1]
    assert sorted(e for e, _v in final["answers"]["entry_points"]) == sorted(
        [f"{n}_ep" for n in BASE] + [f"{n}_ep" for n in present]
    )
    # Every file the stampede left loads; a final warm saves the site's record.
    assert tmp_files(store) == []
    outcome = _warm.warm([site])
    print(outcome)
    assert outcome == [(site, f"saved to {store}")]
    assert _store.load(key_of(site)) is not None
    found = _store.entries(str(store))
    assert found
    for name, key, _size, _mtime in found:
        assert key != "?", f"{name} does not load"
        assert _store.load(key) is not None, f"{name} does not load"
    assert tmp_files(store) == []


# ============================================================ 7. bounded store

IN_CWD = textwrap.dedent(
    """
    import json, os, sys
    from importlib_metadata_cache import _startup
    _startup.activate()
    import importlib.metadata as md
    eps = sorted(ep.name for ep in md.entry_points(group=sys.argv[1]))
    dirs = sorted(
        {p for p in sys.path if isinstance(p, str) and os.path.isabs(p) and os.path.isdir(p)}
    )
    print(json.dumps({"path0": sys.path[0], "entry_points": eps, "dirs": dirs}))
    """
)


def test_one_file_per_entry_however_many_runs(tmp_path: Path, store: Path) -> None:
    """Runs from 20 working directories, twice each, leave one file per absolute entry."""
    cwds = []
    for i in range(20):
        cwd = tmp_path / f"cwd{i}"
        sites.build(
            cwd, sites.dist_info(f"cwd{i}pkg", "1.0", entry_points=ep_section(f"cwd{i}_ep = m:f"))
        )
        cwds.append(cwd)
    settle()
    env = sub_env(store)
    dirs: set[str] = set()
    for run in range(2):
        procs = [
            (
                i,
                subprocess.Popen(
                    [*PYTHON, "-c", IN_CWD, GROUP],
                    env=env,
                    cwd=cwd,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
            for i, cwd in enumerate(cwds)
        ]
        for i, proc in procs:
            out, err = proc.communicate(timeout=60)
            print(f"---- run {run} in cwd{i}: exit {proc.returncode}\n{out}{err}")
            assert proc.returncode == 0 and "Traceback" not in err
            data = json.loads(out)
            assert data["path0"] == ""  # python -c: the working directory, relative
            assert data["entry_points"] == [f"cwd{i}_ep"]  # each its own cwd's, never cached
            dirs.update(data["dirs"])
    marker = _store.file_name(_store.GENERATION)  # the one file not of an entry
    expected = sorted([*(_store.file_name(key_of(d)) for d in dirs), marker])
    print("\n".join(expected))
    assert rec_files(store) == expected
    assert tmp_files(store) == []


def test_prune_keeps_the_store_bounded(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_FILES, records of vanished directories go first, then the oldest ones."""
    monkeypatch.setattr(_store, "MAX_FILES", 5)
    entries = [tmp_path / f"entry{i}" for i in range(10)]
    for entry in entries:
        entry.mkdir()
    epoch = time.time() - 10_000

    def save(i: int) -> None:
        assert _store.save(key_of(entries[i]), {"i": bytes([i])}) is True
        path = record_file(store, entries[i])
        os.utime(path, (epoch + i, epoch + i))  # a distinct, increasing age

    def kept() -> list[int]:
        names = set(rec_files(store))
        return [i for i, e in enumerate(entries) if record_file(store, e).name in names]

    for i in range(5):
        save(i)
    assert kept() == [0, 1, 2, 3, 4]
    shutil.rmtree(entries[1])
    shutil.rmtree(entries[3])
    save(5)
    assert kept() == [0, 2, 4, 5]  # the vanished ones went, the oldest live one stayed
    save(6)
    assert kept() == [0, 2, 4, 5, 6]
    for i in (7, 8, 9):
        save(i)
        assert len(rec_files(store)) <= 5
    assert kept() == [5, 6, 7, 8, 9]
    assert (store / "CACHEDIR.TAG").exists()


# ================================================== 8. warm, status, clear, site


@pytest.mark.integration
def test_warm_status_clear_and_the_site_set(venv: Any, tmp_path: Path) -> None:
    """warm saves to the user store, status shows it, clear drops it; warm --site serves all."""
    import venvs

    site = make_site(tmp_path / "site")
    store = tmp_path / "store"
    base_env: dict[str, str | None] = {
        "IMPORTLIB_METADATA_CACHE_DIR": str(store),
        "IMPORTLIB_METADATA_CACHE_SETTLE_MS": str(SETTLE_MS),
        "PYTHONPATH": site,
    }

    def cli(*args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
        proc = venvs.run(venv, ["-m", "importlib_metadata_cache", *args], env={**base_env, **env})
        assert_clean(proc)
        return proc

    def status_of_site(active: bool = True, **env: str | None) -> dict[str, Any]:
        proc = cli("status", "--json", IMPORTLIB_METADATA_CACHE_DEBUG="1", **env)
        report = json.loads(proc.stdout)
        assert report["active"] is active
        entry: dict[str, Any] = next(e for e in report["entries"] if e["entry"] == site)
        entry["loaded"] = loaded_trace(site) in proc.stderr
        return entry

    prefix = venvs.run(venv, "import sys; print(sys.prefix)").stdout.strip()
    share = os.path.join(prefix, "share", "importlib-metadata-cache")
    try:
        assert f"{site}: saved to {store}" in cli("warm", site).stdout
        entry = status_of_site()
        assert entry["persisted"]["store"] == "user"
        assert entry["persisted"]["file"] == str(record_file(store, site))
        assert entry["loaded"]  # and status's own query used it
        assert "removed" in cli("clear").stdout
        assert not record_file(store, site).exists()

        assert f"{site}: saved to {share}" in cli("warm", "--site", site).stdout
        site_rec = record_file(share, site)
        assert stat.S_IMODE(os.stat(share).st_mode) == 0o755
        assert stat.S_IMODE(site_rec.stat().st_mode) == 0o644
        assert site_rec.stat().st_uid == os.geteuid()

        empty = tmp_path / "empty-store"
        extra = {"IMPORTLIB_METADATA_CACHE_DIR": str(empty), "IMPORTLIB_METADATA_CACHE_DEBUG": "1"}
        proc = venvs.run(venv, ["-c", QUERY, query_args(site)], env={**base_env, **extra})
        assert_clean(proc)
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        assert f"{loaded_trace(site)} from {share!r}" in proc.stderr
        assert data["answers"] == uncached(site, store)
        # (Cache off: with it on, status's own query would first save to the user store.)
        off = status_of_site(
            False,
            IMPORTLIB_METADATA_CACHE_DIR=str(tmp_path / "unused"),
            IMPORTLIB_METADATA_CACHE="0",
        )
        assert off["persisted"]["store"] == "site"
        assert off["persisted"]["file"] == str(site_rec)
    finally:
        venvs.run(venv, ["-m", "importlib_metadata_cache", "clear", "--all", "--site"])
    assert rec_files(Path(share)) == []


def test_warm_site_is_readable_by_everyone_under_a_strict_umask(tmp_path: Path) -> None:
    """The site set's files are 0644 in a 0755 directory even under umask 077."""
    site = make_site(tmp_path / "site")
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    proc = subprocess.run(
        [str(python), "-m", "importlib_metadata_cache", "warm", "--site", site],
        env=sub_env(tmp_path / "store"),
        capture_output=True,
        text=True,
        umask=0o077,
        check=False,
    )
    show("venv python -m importlib_metadata_cache warm --site (umask 077)", proc)
    assert_clean(proc)
    share = env_dir / "share" / "importlib-metadata-cache"
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in [share, *share.iterdir()]}
    print(modes)
    assert stat.S_IMODE(share.stat().st_mode) == 0o755
    assert stat.S_IMODE(record_file(share, site).stat().st_mode) == 0o644


def test_a_relocated_or_replaced_environment_is_never_served_old_data(
    tmp_path: Path, store: Path
) -> None:
    """Another tree unpacked at the same path with the same mtimes (an image
    layer, ``cp -p``, ``tar``) is told apart by inode and ctime, and a copy at
    another path gets a record of its own."""
    site = Path(make_site(tmp_path / "site"))
    before, _ = query(site, store)
    assert record_file(store, site).is_file()
    # The same path, another tree: beta replaced by newcomer, mtimes preserved.
    other = tmp_path / "other"
    shutil.copytree(site, other, copy_function=shutil.copy2)
    shutil.rmtree(other / "beta-2.3.dist-info")
    sites.build(other, sites.dist_info("newcomer", "1.0", entry_points=ep_section("n = n:m")))
    old = os.stat(site)
    shutil.rmtree(site)
    os.rename(other, site)
    os.utime(site, ns=(old.st_atime_ns, old.st_mtime_ns))
    settle()
    after, _ = query(site, store)
    assert after["answers"] == uncached(site, store)
    assert after["answers"] != before["answers"]
    # A copy at another path (a copied venv) answers for its own files.
    copy = tmp_path / "copy"
    shutil.copytree(site, copy, copy_function=shutil.copy2)
    settle()
    copied, _ = query(copy, store)
    assert copied["answers"] == uncached(copy, store)
    assert record_file(store, copy).is_file()


def _record_with_messages(key: str, children: int, texts: int) -> tuple[Any, list[str]]:
    """A trusted record of ``children`` directory entries whose ``messages``
    memo holds ``texts`` header blocks (``pkg0000`` ...), and those texts."""
    record = _record.Record(key)
    record.stamp = (1, 2, 3, 4)
    record.children = tuple(f"pkg{i:04d}-1.0.dist-info" for i in range(children))
    record.trusted = True
    blocks = [f"Metadata-Version: 2.1\nName: pkg{i:04d}\nVersion: 1.{i}\n\n" for i in range(texts)]
    for text in blocks:
        record.memo("messages", text)[text] = (("Name", text[28:35]),)
    return record, blocks


def test_a_large_memo_is_read_one_bucket_at_a_time(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A memo of a directory of many distributions (parsed entry points, parsed
    METADATA headers) is saved in more buckets, each read alone: a query that
    needs one key reads one small part of the file, and a process that adds a
    key saves the buckets it never read as they were."""
    key = str(tmp_path / "site")
    record, texts = _record_with_messages(key, 2000, 1000)
    count, _toc = record.layouts["messages"]
    assert count == _record.memo_buckets(2000) >= 512
    assert _store.save(key, record.payload())

    saved = _store.load(key)
    assert saved is not None
    assert "messages:0" not in saved and "messages:toc" in saved  # one section, not 512
    reads: list[int] = []
    part = _store.Saved.part

    def counted(self: Any, name: str, offset: int, length: int, crc: int) -> bytes:
        reads.append(length)
        return part(self, name, offset, length, crc)

    monkeypatch.setattr(_store.Saved, "part", counted)
    again = _record.Record(key)
    again.restore(saved)
    assert again.memo("messages", texts[7])[texts[7]] == (("Name", "pkg0007"),)
    total = len(saved.get("messages:data") or b"")
    assert len(reads) == 1 and reads[0] * 100 < total, (reads, total)

    late = "Metadata-Version: 2.1\nName: late\nVersion: 9\n\n"
    again.memo("messages", late)[late] = (("Name", "late"),)
    assert _store.save(key, again.payload())
    third = _record.Record(key)
    loaded = _store.load(key)
    assert loaded is not None
    third.restore(loaded)
    for text in (*texts[::97], late):
        assert text in third.memo("messages", text), text


def test_a_loop_over_many_buckets_reads_their_family_once(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop over every distribution (pluggy's, flake8's) asks for many
    buckets of a memo and many ``headers:*`` sections: after a few reads one by
    one, the rest of that family of sections comes from one read of the file,
    and every bucket decodes to what was saved. A file replaced after that read
    is not read again for that family (what was read is a consistent copy of the
    old file); a family not read yet is then refused, as before."""
    key = str(tmp_path / "site")
    record, texts = _record_with_messages(key, 600, 300)
    for i in range(300):
        record.headers[f"pkg{i:04d}-1.0.dist-info"] = ((1, i, 0, 0, 0), {"Version": f"1.{i}"})
    assert _store.save(key, record.payload())

    saved = _store.load(key)
    assert saved is not None
    reads: list[int] = []
    read = _store.Saved._read

    def counted(self: Any, offset: int, length: int) -> bytes:
        reads.append(length)
        return read(self, offset, length)

    monkeypatch.setattr(_store.Saved, "_read", counted)
    again = _record.Record(key)
    again.restore(saved)
    for i, text in enumerate(texts):
        assert again.memo("messages", text)[text] == (("Name", f"pkg{i:04d}"),), i
    memo_reads = len(reads)
    buckets = len(again.memos)
    assert buckets > 100 and 0 < memo_reads <= 8, (buckets, reads)  # not one per bucket
    for i in range(300):
        memo = _record.saved_header(saved, f"pkg{i:04d}-1.0.dist-info")
        assert memo == ((1, i, 0, 0, 0), {"Version": f"1.{i}"}), i
    families = {name for name in saved.names() if name.startswith("headers:")}
    assert len(families) == 64 and len(reads) - memo_reads <= 8, reads

    # The file replaced: the families read whole still answer; a new read refuses.
    record.headers.clear()
    record.memos.clear()
    record.layouts.clear()
    record.memo("parsed:x", "a")["a"] = ()
    assert _store.save(key, record.payload())
    assert again.memo("messages", texts[5])[texts[5]] == (("Name", "pkg0005"),)
    with pytest.raises(OSError):
        saved.get("record")


REPLAYED = f"entry_points(group={GROUP!r}): the answer kept for this sys.path"


def test_answers_outlive_records_saved_again_for_other_questions(
    tmp_path: Path, store: Path
) -> None:
    """A process that asks other questions (every distribution's entry points,
    ``packages_distributions()``) saves the records again with what it learnt;
    that changes no table the answers kept for the ``sys.path`` were made
    from, and they are still replayed. So they are after a process that calls
    ``importlib.invalidate_caches()`` and then asks nothing (it rebuilds
    nothing). A process that rebuilds a stale index replaces the generation
    marker: every kept answer is made again."""
    site = make_site(tmp_path / "site")
    query(site, store)
    _data, proc = query(site, store, debug=True)
    assert REPLAYED in proc.stderr
    start = "from importlib_metadata_cache import _startup; _startup.activate(); import sys\n"
    other = f"sys.path.insert(0, {str(site)!r})\n[d.entry_points for d in md.distributions()]\n"
    proc = run_py(
        ["-c", start + "import importlib.metadata as md\n" + other + "md.packages_distributions()"],
        sub_env(store, debug=True),
        label="OTHER QUESTIONS",
    )
    assert f"saved the record of {key_of(site)!r}" in proc.stderr  # with more in it
    data, proc = query(site, store, debug=True)
    assert REPLAYED in proc.stderr
    assert data["answers"] == uncached(site, store)
    run_py(
        ["-c", start + "import importlib.metadata, importlib; importlib.invalidate_caches()"],
        sub_env(store),
        label="INVALIDATE",
    )
    data, proc = query(site, store, debug=True)
    assert REPLAYED in proc.stderr

    # alpha's entry points replaced: the index that has alpha is stale.
    info = Path(site) / "alpha-1.0.dist-info"
    (info / "entry_points.txt.new").write_text(ep_section("alpha_new = alpha:new"))
    os.replace(info / "entry_points.txt.new", info / "entry_points.txt")
    settle()
    marker = Path(store) / _store.file_name(_store.GENERATION)
    before = marker.stat()
    data, proc = query(site, store, debug=True)
    assert REPLAYED not in proc.stderr
    assert (marker.stat().st_ino, marker.stat().st_mtime_ns) != (before.st_ino, before.st_mtime_ns)
    assert data["answers"] == uncached(site, store)


def test_answers_do_not_outlive_the_generation_marker(tmp_path: Path, store: Path) -> None:
    """The first process writes the generation marker; answers hold only while
    it is the one they were made against: removed (``clear --all``, by hand),
    none holds, and the next process writes a new one ("no marker" is never a
    generation, else answers made before the first one would hold again)."""
    site = make_site(tmp_path / "site")
    query(site, store)
    marker = Path(store) / _store.file_name(_store.GENERATION)
    assert marker.exists()
    _data, proc = query(site, store, debug=True)
    assert REPLAYED in proc.stderr
    marker.unlink()
    data, proc = query(site, store, debug=True)
    assert REPLAYED not in proc.stderr and marker.exists()
    assert data["answers"] == uncached(site, store)
    _data, proc = query(site, store, debug=True)
    assert REPLAYED in proc.stderr


def test_a_group_answer_is_kept_in_one_file_per_sys_path(tmp_path: Path, store: Path) -> None:
    """``entry_points(group=...)`` in a later process is answered from the one
    file a first process saved for its whole ``sys.path`` (after re-stating the
    entries, the watched files and the distributions in the answer); whatever
    changes one of those sends it back to the indexes, whose answer is right."""
    site = make_site(tmp_path / "site")
    other = make_site(tmp_path / "other", sites.dist_info("omega", "1.0"))
    query(site, store)  # builds and saves the records, and the answers made of them
    assert [n for n in os.listdir(store) if n.startswith("answers-")]
    expected = uncached(site, store)
    data, proc = query(site, store, debug=True)
    assert REPLAYED in proc.stderr
    assert data["answers"] == expected
    assert [name for name, _value in expected["entry_points"]] == [
        "alpha_cli",
        "beta_cli",
        "legacy_cli",
    ]

    def check(**kw: Any) -> str:
        data, proc = query(site, store, debug=True, **kw)
        assert data["answers"] == uncached(site, store, **kw)
        # A process that found an index stale keeps no answer (it replaces the
        # generation marker at exit): the next one keeps it.
        query(site, store, **kw)
        again, proc3 = query(site, store, debug=True, **kw)
        assert again["answers"] == data["answers"]
        assert REPLAYED in proc3.stderr  # kept again, and replayed
        return proc.stderr

    # A distribution in the answer replaced (its directory's stamp).
    info = Path(site) / "alpha-1.0.dist-info"
    (info / "entry_points.txt.new").write_text(ep_section("alpha_new = alpha:new"))
    os.replace(info / "entry_points.txt.new", info / "entry_points.txt")
    settle()
    assert REPLAYED not in check()
    # The legacy *.egg-info rewritten in place (a watched file).
    legacy = Path(site) / "legacy-3.0.egg-info" / "entry_points.txt"
    legacy.write_text(ep_section("legacy_cli = legacy:run", "legacy_two = legacy:two"))
    settle()
    assert REPLAYED not in check()
    # One more distribution in the group (the entry's stamp).
    sites.build(site, sites.dist_info("newcomer", "1.0", entry_points=ep_section("n = n:n")))
    settle()
    assert REPLAYED not in check()
    # A distribution shadowing one of a later entry goes away.
    sites.build(other, sites.dist_info("alpha", "9.0", entry_points=ep_section("a9 = a:nine")))
    settle()
    check(paths=[site, other])
    shutil.rmtree(info)
    settle()
    assert REPLAYED not in check(paths=[site, other])
    # Another sys.path, another answer.
    data, proc = query(site, store, debug=True, paths=[other, site])
    assert REPLAYED not in proc.stderr
    assert data["answers"] == uncached(site, store, paths=[other, site])


TWO_GROUPS = textwrap.dedent(
    """
    import json, sys
    from importlib_metadata_cache import _startup
    _startup.activate()
    import importlib.metadata as md
    sys.path.insert(0, sys.argv[1])
    print(json.dumps({g: sorted(ep.name for ep in md.entry_points(group=g)) for g in sys.argv[2:]}))
    """
)


def test_answers_made_from_a_stale_index_are_not_kept(tmp_path: Path, store: Path) -> None:
    """When a query finds an index stale (a distribution in its answer changed)
    and rebuilds it, the answers kept for that ``sys.path`` go too: another
    group's answer, made from the old index, is not replayed by a later process
    (which then reads the rebuilt index, as it would without kept answers)."""
    site = make_site(
        tmp_path / "site",
        {
            **sites.dist_info("xpkg", "1.0", entry_points="[grp.a]\nx_a = x:a\n"),
            **sites.dist_info("ypkg", "1.0", entry_points="[grp.b]\ny_b = y:b\n"),
        },
    )

    def groups(*names: str, cached: bool = True) -> Any:
        env = sub_env(store, cached=cached)
        proc = run_py(["-c", TWO_GROUPS, site, *names], env, label="groups")
        return json.loads(proc.stdout)

    assert groups("grp.a", "grp.b") == {"grp.a": ["x_a"], "grp.b": ["y_b"]}
    info = Path(site) / "xpkg-1.0.dist-info"
    (info / "new.txt").write_text("[grp.a]\nx_a = x:a\n[grp.b]\nx_b = x:b\n")
    os.replace(info / "new.txt", info / "entry_points.txt")  # outside grp.b's answer
    settle()
    assert groups("grp.a") == {"grp.a": ["x_a"]}  # xpkg is in this answer: index rebuilt
    expected = groups("grp.b", cached=False)
    assert expected == {"grp.b": ["x_b", "y_b"]}
    assert groups("grp.b") == expected


def test_a_search_by_name_is_kept_in_one_file_per_sys_path(tmp_path: Path, store: Path) -> None:
    """``version()`` in a later process finds the distribution from the answer
    kept for its whole ``sys.path`` (the entries up to the one it was found in,
    re-stated); an install or uninstall there sends it back to the tables."""
    site = make_site(tmp_path / "site")
    early = make_site(tmp_path / "early", sites.dist_info("unrelated", "1.0"))
    paths = [early, site]
    query(site, store, paths=paths)  # builds and saves the records
    query(site, store, paths=paths)  # loads them: keeps the answers made of them
    data, proc = query(site, store, debug=True, paths=paths)
    assert "from_name('alpha'): the answer kept for this sys.path" in proc.stderr
    assert data["answers"] == uncached(site, store, paths=paths)
    assert data["answers"]["versions"]["alpha"] == "1.0"
    # An alpha in an earlier entry now shadows the one found before.
    sites.build(early, sites.dist_info("alpha", "7.0"))
    settle()
    data, proc = query(site, store, debug=True, paths=paths)
    assert "from_name('alpha'): the answer kept" not in proc.stderr
    assert data["answers"] == uncached(site, store, paths=paths)
    assert data["answers"]["versions"]["alpha"] == "7.0"
    # It goes: the one of the later entry is found again.
    shutil.rmtree(Path(early) / "alpha-7.0.dist-info")
    settle()
    query(site, store, paths=paths)
    query(site, store, paths=paths)
    data, proc = query(site, store, debug=True, paths=paths)
    assert data["answers"] == uncached(site, store, paths=paths)
    assert data["answers"]["versions"]["alpha"] == "1.0"
    assert "from_name('alpha'): the answer kept for this sys.path" in proc.stderr
