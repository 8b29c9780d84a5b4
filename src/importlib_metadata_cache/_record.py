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
import types
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
        "_texts",
        "children",
        "headers",
        "hits",
        "indexes",
        "layouts",
        "learnt",
        "listings",
        "lookups",
        "memos",
        "misses",
        "orders",
        "path",
        "persisted",
        "saved",
        "stamp",
        "trusted",
    )

    def __init__(self, path: str) -> None:
        self.path = path
        self.stamp: Stamp | None = None
        self.children: tuple[str, ...] | None = None
        self.trusted = False
        # (child, filename) -> (stamp of that file, its text); ``None``: the
        # saved ones, not decoded yet (see ``texts``)
        self._texts: dict[tuple[str, str], tuple[Stamp, str]] | None = {}
        # (provider name, literal root) -> that provider's native Lookup; not persisted
        self.lookups: dict[tuple[str, str], Any] = {}
        # the same key -> the ``_Listing`` that Lookup was built from
        self.listings: dict[tuple[str, str], _Listing] = {}
        # "order:<provider>" -> the children its Lookup yields for every
        # distribution, in order: ``distributions()`` without building a Lookup
        self.orders: dict[str, tuple[str, ...]] = {}
        self.hits = 0
        self.misses = 0
        # "loaded", "saved" or None: what the store did for it in this process
        self.persisted: str | None = None
        # The saved file this record was restored from: its sections not decoded
        # here are read from it when asked for, and written again as they were.
        self.saved: _store.Saved | None = None
        # Index sections built in this process (``_query``), valid for ``stamp``:
        # section prefix -> {section name: bytes}.
        self.indexes: dict[str, dict[str, bytes]] = {}
        # child -> (stamp of its METADATA, {"Name": ..., "Version": ...}): ``_members``
        self.headers: dict[str, tuple[Stamp, dict[str, str]]] = {}
        # "<memo section>:<bucket>" -> that bucket of the memo, e.g. for
        # "parsed:<provider>": {entry_points.txt text: ((name, value, group), ...)}
        self.memos: dict[str, dict[Any, Any]] = {}
        # memo section -> (number of buckets, {bucket: (offset, length, CRC-32) in its data})
        self.layouts: dict[str, tuple[int, dict[int, tuple[int, int, int]]]] = {}
        # "eps:<provider>" -> {child: (stamp of its entry_points.txt, its parse)},
        # the parse of a text kept in ``texts`` with that stamp (``_members``)
        self.learnt: dict[str, dict[str, tuple[Stamp, Any]]] = {}

    def payload(self) -> dict[str, bytes]:
        """What is persisted: ``marshal``-ed sections, decoded only when needed."""
        sections: dict[str, bytes] = {}
        headers = dict(self.headers)
        rebuilt = tuple(self.indexes)
        if self.saved is not None:  # what this process did not decode, as it was
            for name, data in self.saved.items():
                if name.startswith("headers:"):
                    for child, memo in marshal.loads(data).items():
                        headers.setdefault(child, memo)
                elif not (rebuilt and name.startswith(rebuilt)):
                    sections[name] = data
        for index in self.indexes.values():
            sections.update(index)
        for name, order in self.orders.items():
            sections[name] = marshal.dumps(order)
        present = set(self.children or ())
        for name, learnt in self.learnt.items():
            sections[name] = marshal.dumps({c: v for c, v in learnt.items() if c in present})
        if self._texts is not None or "texts" not in sections:
            texts = {k: v for k, v in self.texts.items() if k[1] in PERSISTED_FILES}
            sections["texts"] = marshal.dumps(texts)
        sections["record"] = marshal.dumps((self.stamp, self.children))
        live = {child: memo for child, memo in headers.items() if child in present}
        for number, data in bucketed(live).items():
            sections[f"headers:{number}"] = data
        for section, (count, toc) in self.layouts.items():
            saved_data = sections.get(f"{section}:data")
            parts = {}
            if saved_data is not None:  # the buckets not decoded here, as they were
                for number, (offset, length, _crc) in toc.items():
                    parts[number] = saved_data[offset : offset + length]
            for name, memo in self.memos.items():
                memo_section, _sep, bucket = name.rpartition(":")
                if memo_section == section and memo:
                    parts[int(bucket)] = marshal.dumps(memo)
            sections[f"{section}:toc"], sections[f"{section}:data"] = packed(count, parts)
        return sections

    def restore(self, saved: _store.Saved) -> None:
        raw = saved.get("record")
        if raw is None:
            raise TypeError("no record section")
        found = marshal.loads(raw)
        if not (type(found) is tuple and len(found) == 2):
            raise TypeError("not a record payload")
        stamp_, children = found
        if not (type(stamp_) is tuple and type(children) is tuple):
            raise TypeError("not a record payload")
        self.stamp = stamp_
        self.children = children
        self.trusted = True  # only settled records are saved
        self._texts = None  # decoded when first asked for
        self.saved = saved
        self.persisted = "loaded"

    @property
    def texts(self) -> dict[tuple[str, str], tuple[Stamp, str]]:
        """The texts kept, the saved ones decoded at first use (a query that
        reads no small file, ``distribution(name).metadata``, does not pay for
        those of every distribution); none if they cannot be read."""
        texts = self._texts
        if texts is None:
            found = None
            try:
                if self.saved is not None:
                    found = self.saved.decoded("texts")
            except Exception as exc:  # the saved file changed since it was opened
                if _log.enabled:
                    _log.debug(f"not reading the texts saved for {self.path!r}: {exc!r}")
            texts = self._texts = found if type(found) is dict else {}
        return texts

    @texts.setter
    def texts(self, value: dict[tuple[str, str], tuple[Stamp, str]]) -> None:
        self._texts = value

    def header(self, child: str) -> tuple[Stamp, dict[str, str]] | None:
        """The ``METADATA`` memo of ``child``: kept here, or saved by an earlier process."""
        memo = self.headers.get(child)
        if memo is None and self.saved is not None:
            memo = saved_header(self.saved, child)
        return memo

    def memo(self, section: str, key: str) -> dict[Any, Any]:
        """The bucket of memo ``section`` holding ``key`` (loaded from the saved file).

        A memo is saved as two sections: ``<section>:toc``, its number of
        buckets and where each one is in ``<section>:data`` with its CRC-32; a query reads and
        decodes the one bucket it needs. Raises if the saved file changed since
        it was opened (the caller then has no memo).
        """
        layout = self.layouts.get(section)
        if layout is None:
            layout = self._layout(section)
        count, toc = layout
        number = bucket_of(key, count)
        name = f"{section}:{number}"
        bucket = self.memos.get(name)
        if bucket is None:
            where = toc.get(number)
            if where is not None and self.saved is not None:
                bucket = marshal.loads(self.saved.part(f"{section}:data", *where))
            if type(bucket) is not dict:
                bucket = {}
            self.memos[name] = bucket
        return bucket

    def learnt_of(self, section: str) -> dict[str, tuple[Stamp, Any]]:
        """Table ``section`` of ``learnt``, loaded from the saved file at first use
        (empty if there is none, or it does not decode as one); raises if the
        saved file changed since it was opened."""
        table = self.learnt.get(section)
        if table is None:
            found = None if self.saved is None else self.saved.decoded(section)
            table = self.learnt[section] = found if type(found) is dict else {}
        return table

    def _layout(self, section: str) -> tuple[int, dict[int, tuple[int, int, int]]]:
        layout = None
        if self.saved is not None:
            found = self.saved.decoded(f"{section}:toc")
            if (
                type(found) is tuple
                and len(found) == 2
                and type(found[0]) is int
                and found[0] > 0
                and type(found[1]) is dict
            ):
                layout = found
        if layout is None:
            layout = (memo_buckets(len(self.children or ())), {})
        self.layouts[section] = layout
        return layout


def saved_header(saved: _store.Saved, child: str) -> tuple[Stamp, dict[str, str]] | None:
    """The ``METADATA`` memo of ``child`` in a saved file, decoding one bucket."""
    bucket = saved.decoded(f"headers:{bucket_of(child)}")
    return None if bucket is None else bucket.get(child)


BUCKETS = 64


def bucket_of(key: str, count: int = BUCKETS) -> int:
    """A stable bucket for ``key`` among ``count`` (``hash()`` differs between processes).

    Keys differ in few characters (``pkg0001``, ``types-...``; header blocks
    whose ``Name`` and ``Version`` lines are near the start), so the bucket
    depends on every character of the first 96 and the last 32, read as one
    number taken modulo a prime (all in C: about a microsecond).
    """
    if len(key) > 128:
        key = f"{key[:96]}{len(key)}{key[-32:]}"
    number = int.from_bytes(key.encode("utf-8", "surrogatepass"), "little")
    return number % 1_000_000_007 % count


def memo_buckets(children: int) -> int:
    """The number of buckets of a memo for a directory of ``children`` entries:
    ``BUCKETS``, doubled until there are about four entries per bucket (a
    distribution is two: its ``*.dist-info`` and its package), so that a query
    decodes about one distribution's memo rather than a sixty-fourth of all."""
    count = BUCKETS
    while count * 4 < children:
        count *= 2
    return count


def packed(count: int, parts: dict[int, bytes]) -> tuple[bytes, bytes]:
    """A memo's two sections: ``(count, {bucket: (offset, length, CRC-32)})`` and the parts."""
    toc: dict[int, tuple[int, int, int]] = {}
    offset = 0
    for number, data in parts.items():
        toc[number] = (offset, len(data), _store.crc32(data))
        offset += len(data)
    return marshal.dumps((count, toc)), b"".join(parts.values())


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


#: The saved file of each key read in this process (``None``: none saved).
_saved: dict[str, _store.Saved | None] = {}


def saved_sections(key: str) -> _store.Saved:
    """The sections saved for ``key``, the file opened once per process."""
    try:
        return _saved[key] or _store.NOTHING
    except KeyError:
        if not _generation:  # before any table is loaded or built here
            seen = _store.generation()
            if seen is None and load_saved:  # none yet: the first one
                _store.new_generation()
                seen = _store.generation()
            _generation.append(seen)
        saved = _store.load(key) if load_saved else None
        _saved[key] = saved
        return saved or _store.NOTHING


#: Off after ``importlib.invalidate_caches()``: records are then rebuilt from
#: the disk (and saved again) rather than loaded, which also heals a saved
#: record that a blind spot (an in-place edit inside a ``*.dist-info``) left stale.
load_saved = True

#: The store's generation marker as it was before this process first loaded
#: or built a table (``_store.generation``): what answers kept for a whole
#: ``sys.path`` (``_query``) are made against. Empty until then.
_generation: list[tuple[int, ...] | None] = []

#: Set when this process found saved tables stale (``invalidate_caches()``, a
#: stale index): from then on, ``flush`` replaces the generation marker before
#: and after it saves records (rebuilt ones), so that no answer made before,
#: or made by another process from a record it is replacing, is replayed.
stale_found = False


def generation_seen() -> tuple[int, ...] | None:
    """``_generation``'s value; ``None`` if not taken yet, or after tables were
    found stale here (answers made now would not outlive this process's flush)."""
    if stale_found or not load_saved or not _generation:
        return None
    return _generation[0]


def found_stale(index: bool = False) -> None:
    """Saved tables were found stale (``index``: an index of this process was,
    and the generation goes at once), or are distrusted (``invalidate_caches()``:
    it goes when this process saves a record rebuilt)."""
    global stale_found
    stale_found = True
    if index:
        _store.new_generation()
    flush_at_exit()


def clear(distrust_saved: bool = False) -> None:
    """Drop everything held in memory; ``distrust_saved`` for the rest of the process."""
    global load_saved
    if distrust_saved:
        load_saved = False
        found_stale()
    global metadata_hint
    metadata_hint = None
    records.clear()
    _keys.clear()
    _dirty.clear()
    _saved.clear()
    _generation.clear()
    _makers.clear()


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
        saved = saved_sections(key)
        if "record" in saved:
            try:
                record.restore(saved)
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


#: Run by ``flush`` after the records: other things this process saves
#: (``_query``'s answers). Each one never raises.
savers: list[Any] = []


def flush(skip: str | None = None) -> None:
    """Save every changed record (but ``skip``'s, still being filled); where
    tables were found stale here, replace the generation marker before and
    after. Never raises."""
    for saver in savers:
        saver()
    saving = [key for key in list(_dirty) if key != skip]
    if stale_found and saving:
        _store.new_generation()  # what was kept before goes, before the records do
    saved = False
    for key in saving:
        _dirty.discard(key)
        record = records.get(key)
        if record is None or not record.trusted:
            continue
        try:
            payload = record.payload()
        except Exception as exc:  # e.g. the saved file changed under us: next time
            if _log.enabled:
                _log.debug(f"not saving the record of {key!r}: {exc!r}")
            continue
        if _store.save(key, payload):
            record.persisted = "saved"
            saved = True
    if stale_found and saved:
        _store.new_generation()  # and what another process made from the records replaced


def mark_dirty(record: Record) -> None:
    _dirty.add(record.path)
    flush_at_exit()


def flush_at_exit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        _atexit_registered = True
        import atexit

        atexit.register(flush)


class _Listing:
    """Stands in for a native ``FastPath`` while a native ``Lookup`` is built.

    ``joinpath`` returns what the native one does, ``pathlib.Path(root,
    child)``, made the way ``Path.iterdir()`` makes its children (the private
    ``_make_child_relpath`` up to 3.12, ``_from_parsed_string`` on 3.13): with
    its string already known, rather than parsed from its parts when first
    asked for (on 3.13, about 8 us per path, the largest cost of a loop over
    every distribution). On 3.12 the slots ``_make_child_relpath`` sets are
    set directly (``_set_child_maker``). The first child is compared with the
    plain construction; any difference and the plain one is used for the
    whole listing.
    """

    __slots__ = ("_children", "_make", "made", "root")

    def __init__(self, root: str, children: tuple[str, ...]) -> None:
        self.root = root
        self._children = children
        self._make: Any = None
        # id(path) -> the child it was made for, while the Lookup built keeps them
        self.made: dict[int, str] = {}

    def children(self) -> tuple[str, ...]:
        return self._children

    def joinpath(self, child: str) -> pathlib.Path:
        path = self._joinpath(child)
        self.made[id(path)] = child
        return path

    def _joinpath(self, child: str) -> pathlib.Path:
        make: Any = self._make
        if make is None:
            plain = pathlib.Path(self.root, child)
            try:
                make = _child_maker(pathlib.Path(self.root), child)
                made: Any = make(child) if make else None
                same = type(made) is type(plain) and str(made) == str(plain)
                if not same or made.parts != plain.parts or made.name != plain.name:
                    make = False
            except Exception:
                make = False
            self._make = make
            return plain
        if make:
            return make(child)  # type: ignore[no-any-return]
        return pathlib.Path(self.root, child)


#: Absolute entry -> (``_making()`` then, what makes the path of a child of it).
_makers: dict[str, tuple[tuple[Any, ...], Any]] = {}


def child_path(root: str) -> Any:
    """What makes ``pathlib.Path(root, child)`` of a child, with its string
    known, as a listing does (see ``_Listing``): kept per entry while the
    path class's making is what it was (a program patching it makes the maker
    tried again)."""
    making = _making()
    found = _makers.get(root)
    if found is None or found[0] != making:
        if len(_makers) >= MAX_RECORDS:
            _makers.clear()
        found = _makers[root] = (making, _Listing(root, ())._joinpath)
    return found[1]


def _making() -> tuple[Any, ...]:
    """What a path is made with (compared by identity: no method is called)."""
    cls, pure = PATH_TYPE, pathlib.PurePath
    return (
        cls.__new__,
        cls.__init__,
        pure.__new__,
        pure.__init__,
        getattr(cls, "with_segments", None),
        getattr(cls, "_make_child_relpath", None),
        getattr(cls, "_from_parsed_string", None),
    )


def _child_maker(parent: pathlib.Path, probe: str) -> Any:
    """What ``Path.iterdir()`` makes a child of ``parent`` with, or ``False``;
    ``probe``: a child to try it on. ``False`` (the plain ``Path(root,
    child)``, as natively) while the path class's making is not ``pathlib``'s
    own: a program's ``__init__`` (one that validates, or rewrites, each path)
    is then called for every path, with the native arguments."""
    if not _own_making(_making()):
        return False
    make = getattr(parent, "_make_child_relpath", None)
    if make is not None:
        return _set_child_maker(parent, make, probe) or make
    from_parsed = getattr(parent, "_from_parsed_string", None)
    if from_parsed is None or not _POSIX:
        return False
    base = str(parent)
    prefix = base if base.endswith("/") else base + "/"
    return lambda child: from_parsed(prefix + child)


def _own_making(making: tuple[Any, ...]) -> bool:
    """Whether each of ``making`` is ``pathlib``'s own (or ``object``'s)."""
    for found in making:
        if found is None or found is object.__new__ or found is object.__init__:
            continue
        module = getattr(found, "__module__", None)
        if not (
            type(found) is types.FunctionType
            and type(module) is str
            and module.partition(".")[0] == "pathlib"
            and not hasattr(found, "__wrapped__")
        ):
            return False
    return True


def _set_child_maker(parent: pathlib.Path, native: Any, probe: str) -> Any:
    """A maker of the very paths 3.12's ``parent._make_child_relpath`` makes,
    without its ``with_segments`` (a ``Path(str)`` parsed for nothing): the
    slots it sets, set directly (about 1 us a path, rather than 2-3). ``None``
    unless, for ``probe``, every slot of what it makes equals the native one's
    (another version's, or a patched, ``pathlib``: the native maker)."""
    try:
        cls = type(parent)
        tail = parent._tail  # type: ignore[attr-defined]
        if cls is not PATH_TYPE or not tail or not _POSIX:
            return None
        prefix = f"{parent}/"
        drive, root = parent.drive, parent.root
        new = object.__new__

        def make(child: str) -> pathlib.Path:
            path: Any = new(cls)
            path._raw_paths = [prefix + child]
            path._str = prefix + child
            path._drv = drive
            path._root = root
            path._tail_cached = [*tail, child]
            return path  # type: ignore[no-any-return]

        state = _slots_of(make(probe))
        if state is None or state != _slots_of(native(probe)):
            return None
        return make
    except Exception:  # not 3.12's pathlib
        return None


def _slots_of(path: Any) -> Any:
    """The type and the value (or absence) of every slot of ``path``; ``None``
    if it has a ``__dict__`` (not a state slots alone describe)."""
    if hasattr(path, "__dict__"):
        return None
    cls = type(path)
    names = _slot_names.get(cls)
    if names is None:
        names = _slot_names[cls] = [n for c in cls.__mro__ for n in vars(c).get("__slots__", ())]
    return (cls, [(n, getattr(path, n, MISS)) for n in names])


#: A path class -> the names of the slots of its instances.
_slot_names: dict[type, list[str]] = {}


def key_of(root: str) -> str:
    """The record key of an absolute entry: its path as ``pathlib`` spells it."""
    key = _keys.get(root)
    if key is None:
        # A canonical spelling is what pathlib would make of it, without a Path.
        key = root if _POSIX and _canonical(root) else str(pathlib.Path(root))
        key = _keys.setdefault(root, key)
    return key


def _canonical(root: str) -> bool:
    """Whether ``str(pathlib.PurePosixPath(root)) == root``: absolute, no empty
    or ``.`` component, no trailing slash (``..`` stays as it is)."""
    return (
        root.startswith("/")
        and len(root) > 1
        and "//" not in root
        and "/./" not in root
        and not root.endswith(("/", "/."))
    )


def lookup_for(root: object, provider: str, lookup_class: Any) -> Any:
    """The provider's native ``Lookup`` for ``root`` from a valid record, or ``MISS``.

    One ``stat`` of the entry per call, as the native ``FastPath.mtime`` does;
    the listing is taken again when the stamp changed or was not settled.
    """
    try:
        record = _listed(root)
        if record is MISS:
            return MISS
        assert type(root) is str
        return _lookup(record, root, provider, lookup_class)
    except Exception as exc:
        if _log.enabled:
            _log.debug(f"listing {root!r} falls back to the native code: {exc!r}")
        return MISS


def every_path(
    root: object, provider: str, order_section: str, lookup_class: Any, prepared: Any
) -> Any:
    """What the provider's ``Lookup(root).search(prepared)`` yields for a
    ``prepared`` that asks for every distribution (``distributions()``), or
    ``MISS``: the paths of the children in the order that Lookup yields them,
    found once with it and kept (and saved) in the record under
    ``order_section``, valid while its listing is. A later process lists the
    distributions of a settled directory without building a ``Lookup``
    (which normalises every child's name)."""
    try:
        if type(root) is not str or os.path.basename(root).lower().endswith(".egg"):
            return MISS  # spelled as an egg, the Lookup also reads EGG-INFO
        record = _listed(root)
        if record is MISS:
            return MISS
        order = record.orders.get(order_section)
        if order is None and record.trusted and record.saved is not None:
            found = record.saved.decoded(order_section)
            if type(found) is tuple and all(type(child) is str for child in found):
                order = record.orders[order_section] = found
        if order is None:
            lookup = _lookup(record, root, provider, lookup_class)
            made = record.listings[(provider, root)].made
            order = tuple(made[id(path)] for path in lookup.search(prepared))
            if record.trusted:
                record.orders[order_section] = order
                mark_dirty(record)
        return map(child_path(root), order)
    except Exception as exc:
        if _log.enabled:
            _log.debug(f"listing {root!r} falls back to the native code: {exc!r}")
        return MISS


def _listed(root: object) -> Any:
    """The record of ``root``, listed now (from the record while its stamp
    holds), or ``MISS`` (not an absolute directory entry)."""
    if type(root) is not str or not os.path.isabs(root):
        return MISS
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
    return record


def _lookup(record: Record, root: str, provider: str, lookup_class: Any) -> Any:
    lookup = record.lookups.get((provider, root))
    if lookup is None:
        listing = _Listing(root, record.children or ())
        lookup = lookup_class(listing)
        record.lookups[(provider, root)] = lookup
        record.listings[(provider, root)] = listing
    return lookup


def _relist(record: Record, current: Stamp, children: tuple[str, ...], trusted: bool) -> None:
    record.misses += 1
    present = set(children)
    texts = {k: v for k, v in record.texts.items() if k[0] in present}
    # Swap in whole new objects: a reader in another thread sees either state.
    headers = dict(record.headers)
    if record.saved is not None:  # the memos saved before, kept while their files are
        try:
            for name, data in record.saved.items():
                if name.startswith("headers:"):
                    for child, memo in marshal.loads(data).items():
                        headers.setdefault(child, memo)
        except Exception:  # they are only memos
            pass
    record.lookups = {}
    record.listings = {}
    record.orders = {}
    record.indexes = {}
    record.memos = {}
    record.layouts = {}
    # Kept with the stamp of each file: valid whatever the listing is.
    record.learnt = {
        name: {c: v for c, v in learnt.items() if c in present}
        for name, learnt in record.learnt.items()
    }
    record.saved = None
    record.headers = {k: v for k, v in headers.items() if k in present}
    record.texts = texts
    record.children = children
    record.stamp = current
    record.trusted = trusted
    if trusted:
        mark_dirty(record)


_POSIX = os.sep == "/" and os.altsep is None

#: The files a ``metadata`` property reads before it parses one.
METADATA_FILES = frozenset({"METADATA", "PKG-INFO", ""})

#: The record of the last metadata file read: where ``_members.MemoisedEmail``
#: looks for a parse saved by an earlier process (only a hint: a saved parse is
#: used only for the very same header text).
metadata_hint: Record | None = None


def read_text(path: object, filename: str) -> Any:
    """The text the native ``read_text`` would return, or ``MISS`` to ask it.

    ``path`` is the distribution's ``_path``. Served from memory when the file's
    stamp is the one recorded with its text; one ``stat`` either way.
    """
    if type(path) is not PATH_TYPE:
        return MISS
    try:
        where = str(path)
        if _POSIX:  # os.path.isabs/join/split, without their generality
            if not where.startswith("/") or where == "/":
                return MISS
            file = f"{where}/{filename}" if filename else where
            key, _sep, child = where.rpartition("/")
            key = key or "/"
        else:
            if not os.path.isabs(where):
                return MISS
            file = os.path.join(where, filename) if filename else where
            key, child = os.path.split(where)
        try:
            st = os.stat(file)
        except (FileNotFoundError, NotADirectoryError):
            return None  # what the native open() meets, and answers with None
        if not _statmod.S_ISREG(st.st_mode):
            return MISS
        current = stamp(st)
        record = records.get(key)
        if record is None:
            record = record_of(key)
        if filename in METADATA_FILES:
            global metadata_hint
            metadata_hint = record
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
