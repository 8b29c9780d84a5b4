"""Shared fixtures: the providers under test, and the differential oracle.

The suite runs inside a tox venv where the built wheel is installed, so the
``.pth`` file is live: with ``IMPORTLIB_METADATA_CACHE`` unset the cache is
active in this very process. ``IMC_TEST_BACKPORT`` (``before``/``after``) makes
the backport be imported before activation (here, at conftest import, which
pytest does after the ``.pth`` ran... so "before" re-activates below) or
after it.

In-process tests patch the providers explicitly, so they exercise the cache
even in the ``-off`` tox env; subprocess tests set the off switch themselves.
"""

from __future__ import annotations

import importlib
import os
import site as _site
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from importlib_metadata_cache import _patch, _record, _snapshot, _stamp, _startup, _store

#: Short settle window for the tests (the default is 2 s); see ``_stamp``.
SETTLE_MS = 50
os.environ["IMPORTLIB_METADATA_CACHE_SETTLE_MS"] = str(SETTLE_MS)
_stamp.SETTLE_NS = SETTLE_MS * 1_000_000

#: Persisted records go to a private directory of this test session, never to
#: the user's cache; tox sets it too (pytest's own start-up queries come first).
if not os.environ.get("IMPORTLIB_METADATA_CACHE_DIR"):
    import tempfile

    os.environ["IMPORTLIB_METADATA_CACHE_DIR"] = tempfile.mkdtemp(prefix="imc-test-cache-")
_store._resolved.clear()

BACKPORT = os.environ.get("IMC_TEST_BACKPORT", "")

if BACKPORT == "before":
    # Make the backport's import precede activation in this process.
    _startup.deactivate()
    importlib.import_module("importlib_metadata")
    _startup.activate()

import importlib.metadata as stdlib_metadata  # noqa: E402

if BACKPORT == "after":
    importlib.import_module("importlib_metadata")

#: The end-to-end suite (real programs from PyPI in real venvs, minutes long)
#: runs only in its own tox envs (``IMC_E2E=1``) or when named on the command line.
E2E_DIR = Path(__file__).resolve().parent / "e2e"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path != E2E_DIR or os.environ.get("IMC_E2E") == "1":
        return None
    named = (Path(arg.split("::")[0]).resolve() for arg in config.args)
    if any(path == E2E_DIR or E2E_DIR in path.parents for path in named):
        return None
    return True


def providers() -> list[Any]:
    """The provider modules a caller of this process can use."""
    found = [stdlib_metadata]
    if "importlib_metadata" in sys.modules:
        found.append(sys.modules["importlib_metadata"])
    return found


def ensure_patched() -> None:
    for module in providers():
        _patch.patch_provider(module)


ensure_patched()


def native_fresh(module: Any) -> None:
    """Forget the native listing caches, so the uncached answer is the disk's."""
    for provider in providers():
        provider.FastPath.__new__.cache_clear()
    del module


#: The interpreter's own site dirs (pytest, hypothesis, ...): left out of the
#: per-test snapshots, which then cover the test's layout alone and stay fast.
#: ``verify`` and the integration tests compare whole real environments.
SITE_DIRS = frozenset([*_site.getsitepackages(), _site.getusersitepackages()])


def uncached(ask: Callable[[], Any]) -> Any:
    """``ask()`` with the cache switched off in this process (the native answer)."""
    _patch.enabled = False
    try:
        return ask()
    finally:
        _patch.enabled = True


def differences(module: Any) -> list[str]:
    """Snapshot ``module`` with the cache on (twice) and off; return differences."""
    ensure_patched()
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if p not in SITE_DIRS]
    try:
        on_cold = _snapshot.snapshot(module)
        on_warm = _snapshot.snapshot(module)

        def fresh_snapshot() -> Any:
            native_fresh(module)
            return _snapshot.snapshot(module)

        off = uncached(fresh_snapshot)
    finally:
        sys.path[:] = saved
    return [f"cold: {d}" for d in _snapshot.diff(off, on_cold)] + [
        f"warm: {d}" for d in _snapshot.diff(off, on_warm)
    ]


@pytest.fixture(params=[m.__name__ for m in providers()])
def provider(request: pytest.FixtureRequest) -> Any:
    """Each provider importable in this process."""
    return sys.modules[request.param]


@pytest.fixture
def differential() -> Callable[[Any], None]:
    """Assert that ``module``'s answers are the same with the cache off and on."""

    def check(module: Any) -> None:
        problems = differences(module)
        assert not problems, "\n".join(problems[:50])

    return check


@pytest.fixture
def syspath(tmp_path: Any) -> Iterator[list[str]]:
    """A controllable ``sys.path`` prefix; restored afterwards."""
    saved = list(sys.path)
    _record.clear()
    try:
        yield sys.path
    finally:
        sys.path[:] = saved
        _record.clear()


#: Seconds a test waits for what it just wrote to settle (longer than ``SETTLE_MS``).
SETTLE = 0.06


def settle() -> None:
    time.sleep(SETTLE)


@pytest.fixture
def site(tmp_path: Path, syspath: list[str]) -> Path:
    """A fresh site directory, first on ``sys.path``."""
    root = tmp_path / "site"
    root.mkdir()
    syspath.insert(0, str(root))
    return root


def indexes_serve(module: Any) -> str | None:
    """The provider whose indexes answer ``entry_points()`` and ``from_name()``
    of ``module`` in this process (its own, or the backport's for the standard
    library once the backport's finder replaced the standard one), if any."""
    from importlib_metadata_cache import _query

    source = _query._source(module) if module.__name__ in _query._kinds else None
    return None if source is None else str(source.__name__)


def tables_serve(module: Any) -> bool:
    """Whether the fast paths (indexes and tables) serve ``module`` in this
    process: the standard library's, when its path finder is the one resolver
    (not with the backport imported, whose finder replaces it)."""
    from importlib_metadata_cache import _query

    return module.__name__ == "importlib.metadata" and _query._stdlib_resolver_only(module)
