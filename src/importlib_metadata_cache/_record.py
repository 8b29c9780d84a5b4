"""What the cache holds for one ``sys.path`` entry, and how it is filled.

A *record* describes one directory on ``sys.path``:

* ``stamp``/``children``: the directory's stamp and its ``os.listdir`` listing,
  in the native (unsorted) order; the listing is trusted only while the stamp
  is unchanged and was settled when it was taken (see ``_stamp``);
* ``texts``: for each distribution in it, the small metadata files that the
  native code reads (``METADATA``, ``PKG-INFO``, ``entry_points.txt``,
  ``top_level.txt``, and a legacy ``*.egg-info`` file itself), each kept with
  the stamp of that very file. A file rewritten in place (``setup.py develop``
  rewrites ``*.egg-info/entry_points.txt``), replaced, removed or re-created
  changes that stamp, so the next read goes to the disk.

Absent files, unreadable files and files that do not decode are never cached:
those answers come from the native code, which raises or returns ``None``
exactly as it would without us.

Records hold plain ``str``/``int``/``tuple`` data only (the native ``Lookup``
objects built from a listing are kept aside, per provider), so a record can be
persisted as it is. Relative entries (``''``, ``'src'``) are never cached:
their meaning changes with the working directory.

Nothing here may raise into a patched method: every failure is a ``MISS`` and
the caller answers with the native code.
"""

from __future__ import annotations

import marshal
import os
import pathlib
import stat as _statmod
from typing import Any

from . import _log, _store
from ._stamp import Stamp, now, settled, stamp

__all__ = ["CACHED_FILES", "MISS", "Record", "clear", "lookup_for", "read_text", "records"]

#: Files whose text is cached; ``''`` is a legacy ``*.egg-info`` *file* itself.
CACHED_FILES = frozenset({"METADATA", "PKG-INFO", "entry_points.txt", "top_level.txt", ""})

#: The one concrete ``pathlib`` class the native code builds for a directory entry.
PATH_TYPE = type(pathlib.Path())

MISS: Any = object()


class Record:
    """The cached data of one directory on ``sys.path``."""

    __slots__ = (
        "children",
        "headers",
        "hits",
        "lookups",
        "memos",
        "misses",
        "path",
        "persisted",
        "sections",
        "stamp",
        "texts",
        "trusted",
    )

    def __init__(self, path: str) -> None:
        self.path = path
        self.stamp: Stamp | None = None
        self.children: tuple[str, ...] | None = None
        self.trusted = False
        # (child, filename) -> (stamp of that file, its text)
        self.texts: dict[tuple[str, str], tuple[Stamp, str]] = {}
        # (provider name, literal root) -> that provider's native Lookup; not persisted
        self.lookups: dict[tuple[str, str], Any] = {}
        self.hits = 0
        self.misses = 0
        # "loaded", "saved" or None: what the store did for it in this process
        self.persisted: str | None = None
        # Other sections of the saved file (the indexes of ``_query``), as bytes,
        # valid for ``stamp``: kept so that saving the record keeps them too.
        self.sections: dict[str, bytes] = {}
        # child -> (stamp of its METADATA, {"Name": ..., "Version": ...}): ``_members``
        self.headers: dict[str, tuple[Stamp, dict[str, str]]] = {}
        # "parsed:<provider>" -> {entry_points.txt text: ((name, value, group), ...)}
        self.memos: dict[str, dict[Any, Any]] = {}

    def payload(self) -> dict[str, bytes]:
        """What is persisted: ``marshal``-ed sections, decoded only when needed."""
        texts = {k: v for k, v in self.texts.items() if k[1] in PERSISTED_FILES}
        payload = {**self.sections, "record": marshal.dumps((self.stamp, self.children, texts))}
        if self.headers:
            payload["headers"] = marshal.dumps(bucketed(self.headers))
        for name, memo in self.memos.items():
            payload[name] = marshal.dumps(memo)
        return payload

    def restore(self, sections: dict[str, bytes]) -> None:
        stamp_, children, texts = marshal.loads(sections["record"])
        if not (type(stamp_) is tuple and type(children) is tuple and type(texts) is dict):
            raise TypeError("not a record payload")
        self.stamp = stamp_
        self.children = children
        self.trusted = True  # only settled records are saved
        self.texts = texts
        self.sections = {}
        for name, raw in sections.items():
            if name == "headers":
                for bucket in marshal.loads(raw).values():
                    self.headers.update(marshal.loads(bucket))
            elif name.startswith("parsed:"):
                self.memos[name] = marshal.loads(raw)
            elif name != "record":
                self.sections[name] = raw
        self.persisted = "loaded"


BUCKETS = 64


def bucket_of(key: str) -> int:
    """A stable bucket for ``key`` (``hash()`` differs between processes).

    Names cluster by prefix (``pkg0001``, ``types-...``, ``sphinxcontrib-...``),
    so the length and two characters from the middle and the end spread them.
    """
    if not key:
        return 0
    return (len(key) * 31 + ord(key[len(key) // 2]) * 7 + ord(key[-1])) % BUCKETS


def bucketed(table: dict[str, Any]) -> dict[int, bytes]:
    """``table`` split in buckets (``bucket_of``), each part marshalled, so that one
    key is found by decoding one small part (flat in the table's size)."""
    buckets: dict[int, dict[str, Any]] = {}
    for key, value in table.items():
        buckets.setdefault(bucket_of(key), {})[key] = value
    return {number: marshal.dumps(bucket) for number, bucket in buckets.items()}


#: Records by directory path, spelled as ``str(pathlib.Path(entry))``.
records: dict[str, Record] = {}

#: Literal ``sys.path`` entries to their record key (``'/a/b/'`` -> ``'/a/b'``).
_keys: dict[str, str] = {}


#: The sections of each saved file read in this process (``{}``: none saved).
_saved: dict[str, dict[str, bytes]] = {}


def saved_sections(key: str) -> dict[str, bytes]:
    """The sections saved for ``key``, read from the store once per process."""
    sections = _saved.get(key)
    if sections is None:
        loaded = _store.load(key) if load_saved else None
        sections = loaded if type(loaded) is dict else {}
        _saved[key] = sections
    return sections


#: Off after ``importlib.invalidate_caches()``: records are then rebuilt from
#: the disk (and saved again) rather than loaded, which also heals a saved
#: record that a blind spot (an in-place edit inside a ``*.dist-info``) left stale.
load_saved = True


def clear(distrust_saved: bool = False) -> None:
    """Drop everything held in memory; ``distrust_saved`` for the rest of the process."""
    global load_saved
    if distrust_saved:
        load_saved = False
    records.clear()
    _keys.clear()
    _dirty.clear()
    _saved.clear()


#: At most this many records are kept in memory; the oldest goes first. Test
#: suites search many short-lived directories; a program's sys.path is short.
MAX_RECORDS = 256


#: Small files worth persisting. METADATA and PKG-INFO are not: their long
#: descriptions would make every record several times larger (1.1 MB for 117
#: distributions measured here) and slower to load than the files it saves.
PERSISTED_FILES = frozenset({"entry_points.txt", "top_level.txt"})


def record_of(key: str) -> Record:
    record = records.get(key)
    if record is None:
        while len(records) >= MAX_RECORDS:
            try:
                del records[next(iter(records))]
            except (KeyError, RuntimeError, StopIteration):  # raced with another thread
                break
        record = Record(key)
        payload = saved_sections(key)
        if "record" in payload:
            try:
                record.restore(payload)
            except Exception as exc:
                record = Record(key)
                if _log.enabled:
                    _log.debug(f"ignoring the saved record of {key!r}: {exc!r}")
        record = records.setdefault(key, record)
    return record


#: Keys of the records that met a file too recently changed to be cached.
unsettled: set[str] = set()

#: Keys of the records changed since they were loaded or saved.
_dirty: set[str] = set()
_atexit_registered = False


def flush(skip: str | None = None) -> None:
    """Save every changed record (but ``skip``'s, still being filled). Never raises."""
    for key in list(_dirty):
        if key == skip:
            continue
        _dirty.discard(key)
        record = records.get(key)
        if record is not None and record.trusted and _store.save(key, record.payload()):
            record.persisted = "saved"


def mark_dirty(record: Record) -> None:
    global _atexit_registered
    _dirty.add(record.path)
    if not _atexit_registered:
        _atexit_registered = True
        import atexit

        atexit.register(flush)


class _Listing:
    """Stands in for a native ``FastPath`` while a native ``Lookup`` is built."""

    __slots__ = ("_children", "root")

    def __init__(self, root: str, children: tuple[str, ...]) -> None:
        self.root = root
        self._children = children

    def children(self) -> tuple[str, ...]:
        return self._children

    def joinpath(self, child: str) -> pathlib.Path:
        return pathlib.Path(self.root, child)


def key_of(root: str) -> str:
    """The record key of an absolute entry: its path as ``pathlib`` spells it."""
    key = _keys.get(root)
    if key is None:
        key = _keys.setdefault(root, str(pathlib.Path(root)))
    return key


def lookup_for(root: object, provider: str, lookup_class: Any) -> Any:
    """The provider's native ``Lookup`` for ``root`` from a valid record, or ``MISS``.

    One ``stat`` of the entry per call, as the native ``FastPath.mtime`` does;
    the listing is taken again when the stamp changed or was not settled.
    """
    if type(root) is not str or not os.path.isabs(root):
        return MISS
    try:
        key = key_of(root)
        st = os.stat(root)
        if not _statmod.S_ISDIR(st.st_mode):
            return MISS  # a zip file or anything else: native code
        current = stamp(st)
        record = record_of(key)
        if _dirty and (len(_dirty) > 1 or key not in _dirty):
            flush(skip=key)  # what the last query filled, saved before this one
        if record.children is None or record.stamp != current or not record.trusted:
            observed_at = now()
            children = tuple(os.listdir(root))
            _relist(record, current, children, settled(current, observed_at))
            if _log.enabled:
                _log.debug(f"listed {root!r}: {len(children)} children")
        else:
            record.hits += 1
        lookup = record.lookups.get((provider, root))
        if lookup is None:
            lookup = lookup_class(_Listing(root, record.children))  # type: ignore[arg-type]
            record.lookups[(provider, root)] = lookup
        return lookup
    except Exception as exc:
        if _log.enabled:
            _log.debug(f"listing {root!r} falls back to the native code: {exc!r}")
        return MISS


def _relist(record: Record, current: Stamp, children: tuple[str, ...], trusted: bool) -> None:
    record.misses += 1
    present = set(children)
    texts = {k: v for k, v in record.texts.items() if k[0] in present}
    # Swap in whole new objects: a reader in another thread sees either state.
    record.lookups = {}
    record.sections = {}
    record.memos = {}
    record.headers = {k: v for k, v in record.headers.items() if k in present}
    record.texts = texts
    record.children = children
    record.stamp = current
    record.trusted = trusted
    if trusted:
        mark_dirty(record)


def read_text(path: object, filename: str) -> Any:
    """The text the native ``read_text`` would return, or ``MISS`` to ask it.

    ``path`` is the distribution's ``_path``. Served from memory when the file's
    stamp is the one recorded with its text; one ``stat`` either way.
    """
    if type(path) is not PATH_TYPE:
        return MISS
    try:
        where = str(path)
        if not os.path.isabs(where):
            return MISS
        file = os.path.join(where, filename) if filename else where
        try:
            st = os.stat(file)
        except (FileNotFoundError, NotADirectoryError):
            return None  # what the native open() meets, and answers with None
        if not _statmod.S_ISREG(st.st_mode):
            return MISS
        current = stamp(st)
        key, child = os.path.split(where)
        record = records.get(key)
        if record is None:
            record = record_of(key)
        texts = record.texts
        cached = texts.get((child, filename))
        if cached is not None and cached[0] == current:
            record.hits += 1
            return cached[1]
        record.misses += 1
        observed_at = now()
        try:
            with open(file, "rb") as handle:
                opened = stamp(os.fstat(handle.fileno()))
                data = handle.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return MISS  # the native read raises its own, identical error
        if "\r" in text:  # universal newlines, as the native text-mode read
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if opened == current and settled(current, observed_at):
            texts[(child, filename)] = (current, text)
            if filename in PERSISTED_FILES:
                mark_dirty(record)
        else:
            unsettled.add(key)
            if _log.enabled:
                _log.debug(f"not caching {file!r}: changed within the settle window")
        return text
    except Exception as exc:
        if _log.enabled:
            _log.debug(f"reading {path!r}/{filename!r} falls back to the native code: {exc!r}")
        return MISS
