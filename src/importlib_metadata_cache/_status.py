"""What ``status`` reports: is the cache active here, and what it holds."""

from __future__ import annotations

import os
import sys
from typing import Any

from . import __version__, _startup

__all__ = ["status"]


def _startup_files() -> list[str]:
    """The ``.pth``/``.start`` files of ours that ``site`` would process."""
    import site

    dirs: list[str] = []
    try:
        dirs.extend(site.getsitepackages())
    except Exception:
        pass
    try:
        if site.ENABLE_USER_SITE:
            dirs.append(site.getusersitepackages())
    except Exception:
        pass
    found = []
    for d in dict.fromkeys(dirs):
        for name in ("importlib_metadata_cache.pth", "importlib_metadata_cache.start"):
            path = os.path.join(d, name)
            if os.path.exists(path):
                found.append(path)
    return found


def _why_inactive() -> str:
    if sys.flags.no_site:
        return "python -S: the site module did not run, so no .pth file was processed"
    return _startup.reason()


def _entry(entry: Any) -> dict[str, Any]:
    from . import _record

    info: dict[str, Any] = {"entry": entry if isinstance(entry, str) else repr(entry)}
    if not isinstance(entry, str) or not os.path.isabs(entry):
        info["kind"] = "relative (never cached: it depends on the working directory)"
        return info
    try:
        st = os.stat(entry)
    except OSError as exc:
        info["kind"] = f"missing ({exc.strerror})"
        return info
    import stat as _statmod

    if not _statmod.S_ISDIR(st.st_mode):
        info["kind"] = "file (zip or other; served by the native code)"
        return info
    info["kind"] = "directory"
    key = _record.key_of(entry)
    info["persisted"] = _persisted(key)
    record = _record.records.get(key)
    if record is None or record.children is None:
        info["record"] = None
        return info
    dists = [c for c in record.children if c.lower().endswith((".dist-info", ".egg-info"))]
    current = _stamp_of(entry)
    if current != record.stamp:
        state = "stale: the directory changed since it was listed"
    elif not record.trusted:
        state = "unsettled: changed within the settle window, listed again at each query"
    else:
        state = "fresh"
    info["record"] = {
        "state": state,
        "fresh": state == "fresh",
        "source": record.persisted or "built in this process",
        "children": len(record.children),
        "distributions": len(dists),
        "cached_files": len(record.texts),
        "hits": record.hits,
        "misses": record.misses,
    }
    return info


def _persisted(key: str) -> dict[str, Any] | None:
    """The saved record file of ``key`` in the user store or the site set."""
    import time

    from . import _store

    name = _store.file_name(key)
    for where, root in (("user", _store.cache_dir()), ("site", _store.site_dir())):
        if root is None:
            continue
        try:
            st = os.stat(os.path.join(root, name))
        except OSError:
            continue
        return {
            "store": where,
            "file": os.path.join(root, name),
            "size": st.st_size,
            "age_s": round(time.time() - st.st_mtime, 1),
        }
    return None


def _stamp_of(path: str) -> Any:
    from . import _stamp

    try:
        return _stamp.stamp(os.stat(path))
    except OSError:
        return None


def status(query: bool = True) -> dict[str, Any]:
    """A JSON-able report on this interpreter. ``query`` warms the cache first."""
    active = _startup.is_active()
    report: dict[str, Any] = {
        "version": __version__,
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "active": active,
        "reason": "activated" if active else _why_inactive(),
        "startup_files": _startup_files(),
        "providers": {},
    }
    if query and active:
        import importlib.metadata

        try:
            importlib.metadata.entry_points()
        except Exception as exc:  # a broken environment is worth reporting, not dying on
            report["query_error"] = repr(exc)
    from . import _patch

    report["providers"] = {
        name: getattr(module, "__file__", None) for name, module in _patch.patched.items()
    }
    from . import _store

    report["cache_dir"] = _store.cache_dir()
    report["site_dir"] = _store.site_dir()
    report["entries"] = [_entry(e) for e in sys.path]
    return report
