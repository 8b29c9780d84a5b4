"""Activation: the off switch, idempotence, the post-import hook, never raising."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from typing import Any

import pytest

from importlib_metadata_cache import _env, _patch, _startup


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        # On unless a test says otherwise: these tests check the activation
        # itself, also in the tox env that runs the suite with the cache off.
        env={**os.environ, "IMPORTLIB_METADATA_CACHE": "1", **env},
        check=False,
    )
    print(proc.stdout)
    print(proc.stderr, file=sys.stderr)
    return proc


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, True),
        ("1", True),
        ("yes", True),
        ("", True),
        ("0", False),
        ("false", False),
        ("OFF", False),
        (" No ", False),
    ],
)
def test_off_switch_values(value: str | None, expected: bool) -> None:
    """The off switch accepts 0/false/off/no in any case; anything else is on."""
    environ = {} if value is None else {"IMPORTLIB_METADATA_CACHE": value}
    assert _env.enabled(environ) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2000", 2_000_000_000),
        ("0", 0),
        ("x", 2_000_000_000),
        ("nan", 2_000_000_000),
        ("-5", 2_000_000_000),
    ],
)
def test_settle_window_parsing(value: str, expected: int) -> None:
    """A bad settle window falls back to the default."""
    assert _env.settle_ns({"IMPORTLIB_METADATA_CACHE_SETTLE_MS": value}) == expected


def test_activate_is_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Activating twice installs one hook."""
    monkeypatch.delenv("IMPORTLIB_METADATA_CACHE", raising=False)
    _startup.activate()
    _startup.activate()
    hooks = [f for f in sys.meta_path if type(f).__name__ == "_PostImportFinder"]
    assert len(hooks) == 1
    assert _startup.is_active()


def test_activate_honours_the_off_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the off switch set, activate() does nothing and says why."""
    was_active = _startup.is_active()
    _startup.deactivate()
    try:
        monkeypatch.setenv("IMPORTLIB_METADATA_CACHE", "off")
        _startup.activate()
        assert not _startup.is_active()
        assert "IMPORTLIB_METADATA_CACHE" in _startup.reason()
    finally:
        monkeypatch.delenv("IMPORTLIB_METADATA_CACHE")
        if was_active:
            _startup.activate()
        import conftest

        conftest.ensure_patched()


def test_activate_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """An internal failure at activation is reported, not raised."""
    was_active = _startup.is_active()
    _startup.deactivate()
    try:
        monkeypatch.delenv("IMPORTLIB_METADATA_CACHE", raising=False)
        monkeypatch.setattr(sys, "meta_path", ())  # insert() fails
        _startup.activate()
        assert not _startup.is_active()
        assert "activation failed" in _startup.reason()
    finally:
        monkeypatch.undo()
        if was_active:
            _startup.activate()
        import conftest

        conftest.ensure_patched()


def test_patching_an_unexpected_module_is_silent() -> None:
    """A provider without the expected shape is left alone, without an error."""
    fake = types.ModuleType("importlib_metadata")
    _startup._patch_provider(fake)
    assert _patch.patched.get("importlib_metadata") is not fake


def test_deactivate_restores_the_native_methods() -> None:
    """deactivate() puts back every original attribute."""
    import importlib.metadata as md

    import conftest

    patched_search = vars(md.FastPath)["search"]
    _startup.deactivate()
    try:
        assert hasattr(patched_search, "__wrapped__")
        assert vars(md.FastPath)["search"] is patched_search.__wrapped__
        assert not hasattr(vars(md.PathDistribution)["read_text"], "__wrapped__")
    finally:
        _startup.activate()
        conftest.ensure_patched()


def test_hook_patches_on_import_and_hides_itself() -> None:
    """A provider imported after activation is patched; its loader is the native one."""
    code = """if True:
        import json, sys
        from importlib_metadata_cache import _startup, _patch
        _startup.activate()
        import importlib.metadata as m
        print(json.dumps({
            "patched": sorted(_patch.patched),
            "loader": type(m.__loader__).__name__,
            "spec_loader": type(m.__spec__.loader).__name__,
            "search": hasattr(m.FastPath.search, "__wrapped__"),
        }))
    """
    proc = run(code)
    assert proc.returncode == 0
    out = json.loads(proc.stdout)
    assert "importlib.metadata" in out["patched"]
    assert out["loader"] == out["spec_loader"] == "SourceFileLoader"
    assert out["search"] is True


def test_hook_leaves_other_imports_alone() -> None:
    """The hook finds nothing for other modules."""
    hooks = [f for f in sys.meta_path if type(f).__name__ == "_PostImportFinder"]
    for hook in hooks:
        assert hook.find_spec("json") is None
        assert hook.find_spec("importlib.metadata_other") is None


def test_debug_trace(tmp_path: Any) -> None:
    """IMPORTLIB_METADATA_CACHE_DEBUG=1 prints decisions on stderr."""
    code = """if True:
        from importlib_metadata_cache import _startup
        _startup.activate()
        import importlib.metadata as m
        m.version("pytest")
    """
    proc = run(code, IMPORTLIB_METADATA_CACHE_DEBUG="1")
    assert proc.returncode == 0
    assert "importlib-metadata-cache: patched importlib.metadata" in proc.stderr
    assert (
        "importlib-metadata-cache: listed" in proc.stderr
        or "importlib-metadata-cache: loaded the record" in proc.stderr
    )


def test_reload_is_patched_again() -> None:
    """``importlib.reload`` of a provider builds new classes; they are patched too."""
    code = """if True:
        import importlib, json
        from importlib_metadata_cache import _startup
        _startup.activate()
        import importlib.metadata as m
        first = m.FastPath
        importlib.reload(m)
        print(json.dumps([m.FastPath is not first, hasattr(m.FastPath.search, "__wrapped__"),
                          hasattr(m.PathDistribution.read_text, "__wrapped__"),
                          len(list(m.distributions())) > 0]))
    """
    proc = run(code)
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == [True, True, True, True]


def test_survives_a_purge_of_sys_modules() -> None:
    """After a test suite deletes ``importlib_metadata*`` from sys.modules, the
    next import of this package is the live one, not an empty copy."""
    code = """if True:
        import json, sys
        from importlib_metadata_cache import _startup, _record
        _startup.activate()
        import importlib.metadata as m
        m.version("pytest")
        for name in [n for n in sys.modules if n.startswith("importlib_metadata")]:
            del sys.modules[name]
        import importlib_metadata_cache
        from importlib_metadata_cache import _startup as again, _record as record_again
        print(json.dumps([again is _startup, record_again is _record, again.is_active()]))
    """
    proc = run(code)
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == [True, True, True]
