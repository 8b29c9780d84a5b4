"""pytest plugin: run ``importlib_metadata``'s own upstream suite under our cache.

Loaded with ``-p imc_upstream_plugin`` (its directory on ``PYTHONPATH``) by
``run_backport_suite.py``; it never touches upstream's files. Two modes, from
``IMC_UPSTREAM_MODE``:

``cached`` (default)
    Activates the cache and keeps the *backport* patched: upstream's root
    ``conftest.py`` deletes every module whose name starts with
    ``importlib_metadata`` at configure time (and restores the stdlib finder),
    so the modules the tests use are imported afresh during collection; our
    post-import hook patches them then. Before every test the backport in
    ``sys.modules`` is checked and patched again if it was replaced without the
    hook seeing it (a reload). Hits are counted; the hits served while the
    backport's own ``FastPath.search`` / ``PathDistribution.read_text`` ran are
    counted apart, so that look-ups through the stdlib (pytest's own plugin
    loading, for one) can never be taken as proof. At the end the session
    FAILS if the backport was not patched or was served no hit.

``uncached``
    The baseline (run with ``IMPORTLIB_METADATA_CACHE=0``): checks that the
    cache really is off in this process, and fails the session otherwise.

``IMC_UPSTREAM_REPORT`` names a JSON file the verdict is written to, for the
runner to check independently of pytest's exit code.

Note: upstream's prefix match also catches ``importlib_metadata_cache`` and
its submodules, so after configure our package is imported a second time:
the first copy keeps the stdlib patched (with its own records), the second one
patches the re-imported backport. Hits are therefore summed over every copy of
``_record`` seen, and over every record each copy made (also those since
dropped by ``invalidate_caches()`` or evicted).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from typing import Any

import pytest

MODE = os.environ.get("IMC_UPSTREAM_MODE", "cached")
REPORT = os.environ.get("IMC_UPSTREAM_REPORT")
BACKPORT = "importlib_metadata"
STDLIB = "importlib.metadata"
PKG = "importlib_metadata_cache"

if MODE not in ("cached", "uncached"):
    raise pytest.UsageError(f"IMC_UPSTREAM_MODE must be cached or uncached, not {MODE!r}")

if MODE == "cached":
    # The upstream fixtures write a fresh site dir for every test and query it
    # within milliseconds. Our cache only trusts stamps older than the settle
    # window (2 s by default), so with the default nothing those tests create
    # could ever be served from memory and the run would prove nothing. The
    # kernel here has nanosecond timestamps, so a window of 0 is safe. The
    # runner sets the variable for the whole process tree; this is a fallback
    # for when the plugin is used on its own.
    os.environ.setdefault("IMPORTLIB_METADATA_CACHE_SETTLE_MS", "0")

from importlib_metadata_cache import _startup  # noqa: E402


class _Copy:
    """One imported copy of our ``_patch``/``_record`` pair, and every record it made.

    Records leave ``_record.records`` when ``importlib.invalidate_caches()``
    clears them and when the oldest is evicted (``_record.MAX_RECORDS``); their
    hits still count, so every record ever handed out is kept here.
    """

    def __init__(self, number: int, patch: Any, record: Any) -> None:
        self.number = number
        self.patch = patch
        self.record = record
        self.seen: dict[int, Any] = {id(r): r for r in list(record.records.values())}

    def _all(self) -> list[Any]:
        for r in list(self.record.records.values()):
            self.seen.setdefault(id(r), r)
        return list(self.seen.values())

    def hits(self) -> int:
        return sum(r.hits for r in self._all())

    def misses(self) -> int:
        return sum(r.misses for r in self._all())


class _State:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.events: list[str] = []
        self.copies: dict[int, _Copy] = {}  # id(_record module) -> copy
        # Hits served while the backport's patched layers were running.
        self.backport_search_hits = 0
        self.backport_read_text_hits = 0
        self.backport_search_calls = 0
        self.backport_read_text_calls = 0
        self.modules_seen: dict[int, str] = {}
        self.per_test: dict[str, int] = {}
        # Hits served during a test other than through the backport (the stdlib).
        self.per_test_other: dict[str, int] = {}
        self.tests_run = 0
        self.settle_ns: dict[int, int] = {}


state = _State()


def _describe(module: Any) -> str:
    return f"{getattr(module, '__name__', '?')} from {getattr(module, '__file__', '?')}"


# --------------------------------------------------------------------------
# cached mode


def _current() -> _Copy:
    """The copy of our modules now in ``sys.modules`` (importing it if needed)."""
    record = sys.modules.get(f"{PKG}._record")
    copy = state.copies.get(id(record)) if record is not None else None
    if copy is not None and sys.modules.get(f"{PKG}._patch") is copy.patch:
        return copy
    from importlib_metadata_cache import _patch, _record, _stamp

    copy = state.copies.get(id(_record))
    if copy is None:
        copy = _Copy(len(state.copies) + 1, _patch, _record)
        state.copies[id(_record)] = copy
        if len(state.copies) > 1:
            state.events.append(
                f"{PKG} was imported again (copy #{copy.number}): "
                "upstream's conftest deletes every module named importlib_metadata*"
            )
        # lookup_for() and read_text() look ``_record`` up at call time.
        _record.record_of = _tracking(copy, _record.record_of)
        if os.environ.get("IMPORTLIB_METADATA_CACHE_SETTLE_MS") == "0":
            _stamp.SETTLE_NS = 0  # in case _stamp was imported before it was set
        state.settle_ns[copy.number] = _stamp.SETTLE_NS
    return copy


def _total_hits() -> int:
    _current()
    return sum(copy.hits() for copy in state.copies.values())


def _total_misses() -> int:
    return sum(copy.misses() for copy in state.copies.values())


def _tracking(copy: _Copy, original: Any) -> Any:
    """``_record.record_of`` that remembers every record it hands out."""

    @functools.wraps(original)
    def record_of(key: str) -> Any:
        record = original(key)
        copy.seen.setdefault(id(record), record)
        return record

    return record_of


def _is_ours(func: Any, name: str) -> bool:
    """Whether ``func`` is (or wraps) the replacement built by ``_patch``.

    ``functools.wraps`` gives our replacement the native function's name,
    qualname and module, so it is told apart by where its code was compiled.
    """
    ours = os.path.realpath(_current().patch.__file__)
    seen = 0
    while func is not None and seen < 10:
        code = getattr(func, "__code__", None)
        if code is not None and code.co_name == name and os.path.realpath(code.co_filename) == ours:
            return True
        func = getattr(func, "__wrapped__", None)
        seen += 1
    return False


def _layers_patched(module: Any) -> bool:
    try:
        search = vars(module.FastPath)["search"]
        read_text = vars(module.PathDistribution)["read_text"]
    except (AttributeError, KeyError):
        return False
    return _is_ours(search, "search") and _is_ours(read_text, "read_text")


def _counting(func: Any, kind: str) -> Any:
    """Wrap the backport's patched method: count the hits served inside it."""

    @functools.wraps(func)
    def counted(*args: Any, **kwargs: Any) -> Any:
        before = _total_hits()
        try:
            return func(*args, **kwargs)
        finally:
            served = _total_hits() - before
            if kind == "search":
                state.backport_search_calls += 1
                state.backport_search_hits += served
            else:
                state.backport_read_text_calls += 1
                state.backport_read_text_hits += served

    counted._imc_upstream_counter = True  # type: ignore[attr-defined]
    return counted


def _install_counters(module: Any) -> None:
    for owner, attr, kind in (
        (module.FastPath, "search", "search"),
        (module.PathDistribution, "read_text", "read_text"),
    ):
        current = vars(owner)[attr]
        if not getattr(current, "_imc_upstream_counter", False):
            setattr(owner, attr, _counting(current, kind))


def _patched_by_any_copy(name: str, module: Any) -> bool:
    return any(copy.patch.patched.get(name) is module for copy in state.copies.values())


def ensure_patched(where: str) -> None:
    """Make sure the backport in ``sys.modules`` carries our patch (and counters)."""
    copy = _current()
    module = sys.modules.get(BACKPORT)
    if module is None:
        return
    state.modules_seen.setdefault(id(module), _describe(module))
    if not _layers_patched(module):
        state.events.append(f"re-patched {_describe(module)} at {where}")
        try:
            copy.patch.patch_provider(module)
        except Exception as exc:
            state.problems.append(f"could not patch {_describe(module)} at {where}: {exc!r}")
            return
    if not _layers_patched(module):
        state.problems.append(f"{_describe(module)} is not patched at {where}")
        return
    _install_counters(module)


def _setup_cached() -> None:
    _startup.activate()
    if not _startup.is_active():
        state.problems.append(f"the cache is not active: {_startup.reason()}")
        return
    copy = _current()
    stdlib = sys.modules.get(STDLIB)
    if stdlib is not None:
        copy.patch.patch_provider(stdlib)
    ensure_patched("plugin import")


# --------------------------------------------------------------------------
# uncached mode


def _check_uncached(where: str) -> None:
    if _startup.is_active():
        state.problems.append(f"the cache is active in the baseline run ({where})")
    _patch = sys.modules.get(f"{PKG}._patch")
    if _patch is not None and _patch.patched:
        state.problems.append(
            f"providers are patched in the baseline run ({where}): {sorted(_patch.patched)}"
        )


if MODE == "cached":
    _setup_cached()
    #: False when the off switch won: then nothing is patched, and the run fails.
    ACTIVE = _startup.is_active()
else:
    ACTIVE = False
    _check_uncached("plugin import")


# --------------------------------------------------------------------------
# hooks


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # Upstream's conftest has just dropped importlib_metadata* from sys.modules.
    if ACTIVE:
        ensure_patched("configure")


def pytest_collection_finish(session: pytest.Session) -> None:
    if MODE != "cached":
        _check_uncached("collection")
        return
    if not ACTIVE:
        return
    ensure_patched("collection finish")
    # The module objects the collected test modules hold must be patched too.
    seen: set[int] = set()
    for item in session.items:
        module = getattr(item, "module", None)
        if module is None or id(module) in seen:
            continue
        seen.add(id(module))
        for value in list(vars(module).values()):
            if getattr(value, "__name__", None) == BACKPORT and hasattr(value, "FastPath"):
                state.modules_seen.setdefault(id(value), _describe(value))
                if not _layers_patched(value):
                    state.problems.append(f"{module.__name__} uses an unpatched {_describe(value)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Any:
    if not ACTIVE:
        yield
        return
    ensure_patched(item.nodeid)
    before = state.backport_search_hits + state.backport_read_text_hits
    total_before = _total_hits()
    yield
    state.tests_run += 1
    backport = state.backport_search_hits + state.backport_read_text_hits - before
    state.per_test[item.nodeid] = backport
    other = _total_hits() - total_before - backport
    if other:
        state.per_test_other[item.nodeid] = other


def _verdict() -> dict[str, Any]:
    # First: on 3.10 the stdlib's look-up also walks the backport's finder.
    version = _dist_version(BACKPORT)
    if MODE == "cached" and not ACTIVE:
        result: dict[str, Any] = {"mode": MODE, "backport_version": version}
    elif MODE == "cached":
        ensure_patched("session finish")
        module = sys.modules.get(BACKPORT)
        if module is None:
            state.problems.append("the tests never imported importlib_metadata")
        elif not _patched_by_any_copy(BACKPORT, module) or not _layers_patched(module):
            state.problems.append("importlib_metadata in sys.modules is not the patched one")
        backport_hits = state.backport_search_hits + state.backport_read_text_hits
        if backport_hits == 0:
            state.problems.append("the cache served no hit to the backport: it was not exercised")
        total = _total_hits()
        if total == 0:
            state.problems.append("the cache served no hit at all")
        copies = [
            {
                "copy": copy.number,
                "patched": {k: _describe(v) for k, v in copy.patch.patched.items()},
                "in_sys_modules": sys.modules.get(f"{PKG}._record") is copy.record,
                "hits": copy.hits(),
                "misses": copy.misses(),
                "settle_ns": state.settle_ns.get(copy.number),
            }
            for copy in state.copies.values()
        ]
        result = {
            "mode": MODE,
            "copies": copies,
            "backport_modules_seen": sorted(state.modules_seen.values()),
            "backport_version": version,
            "events": state.events,
            "total_hits": total,
            "total_misses": _total_misses(),
            "backport_hits": backport_hits,
            "backport_search_hits": state.backport_search_hits,
            "backport_read_text_hits": state.backport_read_text_hits,
            "backport_search_calls": state.backport_search_calls,
            "backport_read_text_calls": state.backport_read_text_calls,
            "other_hits": total - backport_hits,
            "tests_run": state.tests_run,
            "tests_with_backport_hits": sum(1 for v in state.per_test.values() if v),
            "per_test_backport_hits": state.per_test,
            "tests_with_other_hits": len(state.per_test_other),
            "other_hits_in_tests": sum(state.per_test_other.values()),
            "per_test_other_hits": state.per_test_other,
        }
    else:
        _check_uncached("session finish")
        result = {"mode": MODE, "backport_version": version}
    result["problems"] = state.problems
    result["ok"] = not state.problems
    return result


def _dist_version(name: str) -> str | None:
    try:
        import importlib.metadata as md

        return md.version(name)
    except Exception:
        return None


_result: dict[str, Any] = {}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _result.update(_verdict())
    if REPORT:
        with open(REPORT, "w", encoding="utf-8") as handle:
            json.dump(_result, handle, indent=1, sort_keys=True)
    if not _result["ok"] and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    tr = terminalreporter
    tr.section(f"importlib-metadata-cache ({MODE})")
    if MODE == "cached":
        r = _result
        tr.write_line(f"backport modules seen: {r.get('backport_modules_seen')}")
        for copy in r.get("copies", []):
            tr.write_line(
                f"copy #{copy['copy']} of {PKG} (in sys.modules at the end: "
                f"{copy['in_sys_modules']}, settle window {copy['settle_ns']} ns): "
                f"patched {sorted(copy['patched'])}, {copy['hits']} hits, "
                f"{copy['misses']} misses"
            )
        for event in r.get("events", []):
            tr.write_line(f"event: {event}")
        tr.write_line(
            f"cache hits: {r.get('total_hits')} in all (misses {r.get('total_misses')}); "
            f"served to the backport: {r.get('backport_hits')} "
            f"(listings {r.get('backport_search_hits')} in "
            f"{r.get('backport_search_calls')} FastPath.search calls, "
            f"texts {r.get('backport_read_text_hits')} in "
            f"{r.get('backport_read_text_calls')} PathDistribution.read_text calls); "
            f"other (stdlib) hits: {r.get('other_hits')}"
        )
        tr.write_line(
            f"tests with at least one backport hit: "
            f"{r.get('tests_with_backport_hits')} of {r.get('tests_run')}; "
            f"with other (stdlib) hits: {r.get('tests_with_other_hits')} "
            f"({r.get('other_hits_in_tests')} hits)"
        )
    for problem in _result.get("problems", []):
        tr.write_line(f"CACHE CHECK FAILED: {problem}", red=True, bold=True)
    if _result.get("ok"):
        tr.write_line(f"cache check passed ({MODE})", green=True)
