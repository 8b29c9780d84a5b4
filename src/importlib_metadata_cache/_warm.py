"""``warm`` and ``clear``: build or drop persisted records on purpose.

``warm`` is for image builds and CI: it scans entries now, waits out the settle
window if something was installed a moment ago (a record of a directory changed
in the last 2 s would not be trusted), and saves the records, to the user's
store or, with ``site=True``, to the environment's read-only set that every user
of a shared venv or image can load.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from . import _query, _record, _stamp, _store

__all__ = ["clear", "warm"]

#: The files a warm scan reads for each distribution.
_FILES = ("METADATA", "PKG-INFO", "entry_points.txt", "top_level.txt")


def _scan(provider: Any, entry: str) -> _record.Record | None:
    key = _record.key_of(entry)
    _record.records.pop(key, None)
    _record.unsettled.discard(key)
    for dist in provider.distributions(path=[entry]):
        for name in _FILES:
            try:
                dist.read_text(name)
            except Exception:  # a broken file is the native code's to report
                pass
    record = _record.records.get(key)
    if record is None or record.children is None:
        return None
    if not record.trusted or key in _record.unsettled:
        return None
    return record


def warm(entries: list[str] | None = None, site: bool = False) -> list[tuple[str, str]]:
    """Save a record for each entry (default: ``sys.path``); ``(entry, outcome)``."""
    import importlib.metadata as provider

    from . import _patch

    _patch.patch_provider(provider)
    _record.load_saved = False  # scan the disk, whatever was saved before
    wanted = entries if entries else [e for e in sys.path if isinstance(e, str)]
    results = []
    for entry in wanted:
        if not os.path.isabs(entry):
            results.append((entry, "skipped: relative entries are never cached"))
            continue
        if not os.path.isdir(entry):
            results.append((entry, "skipped: not a directory"))
            continue
        record = _scan(provider, entry)
        if record is None:
            # Something changed within the settle window: wait it out, once.
            time.sleep(_stamp.SETTLE_NS / 1e9 + 0.05)
            record = _scan(provider, entry)
        if record is None:
            results.append((entry, "not saved: it keeps changing"))
            continue
        # The entry-point index too, so that a process loading this record
        # answers entry_points(...) without building (and saving) it again.
        if _query.served(provider):
            _query._index(provider, entry)
        saved = _store.save(record.path, record.payload(), site=site)
        where = _store.site_dir() if site else _store.cache_dir()
        results.append((entry, f"saved to {where}" if saved else "not saved: store unusable"))
    return results


def clear(all_records: bool = False, site: bool = False) -> tuple[str | None, int]:
    """Delete this environment's records (or every record); ``(where, count)``."""
    root = _store.site_dir() if site else _store.cache_dir()
    if root is None:
        return None, 0
    names = []
    mine = {
        _store.file_name(_record.key_of(e))
        for e in sys.path
        if isinstance(e, str) and os.path.isabs(e)
    }
    for name, _key, _size, _mtime in _store.entries(root):
        # Answers kept per sys.path are made from the records: they go too
        # (cheap to make again; their file names do not say which sys.path).
        if all_records or name in mine or name.startswith("answers-"):
            names.append(name)
    if all_records:
        try:
            names += [n for n in os.listdir(root) if n.startswith(".") and n.endswith(".tmp")]
        except OSError:
            pass
    return root, _store.remove(root, names)
