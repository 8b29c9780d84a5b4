"""Fast path for ``packages_distributions()``: answered from per-entry tables.

The native function walks every distribution (shadowed ones included), reads
its ``top_level.txt`` or, when that is missing or empty (3.11+), its ``RECORD``
(or ``installed-files.txt``, ``SOURCES.txt``), builds a ``PackagePath`` per
listed file and, on 3.12+, stats every one of them (``Distribution.files``
drops missing files); then it parses the whole ``METADATA`` for the name.
Here each ``sys.path`` directory gets a *table*, built once with the same
calls, that keeps per distribution, in native order: its directory's stamp,
its ``Name``, and its top-level names.

Top-level names inferred from ``RECORD`` go through a ``set`` natively, so the
order of the answer's keys follows this process's string hashing. The table
keeps the names deduplicated in the order the native code inserts them, and a
query builds the ``set`` again, in this process: the same insertions give the
same set, hence the same order. On 3.12+, whether a name is there, and when it
is inserted, depends on which listed files exist (anywhere, ``../../bin``
too): the table keeps, as *witnesses*, every listed file up to the first one
of each name that exists, re-stated at every query unless the entry's or the
distribution's own stamp already covers it. Every metadata file a row was read
from (``METADATA``, ``top_level.txt``, ``RECORD``, ...) is re-stated too, so a
file rewritten in place is seen at once; a directory's row with declared names
depends on nothing else, and its directory is not re-stated.

Served under the conditions of ``entry_points()`` (``_query``): the standard
library's resolver only, every entry a directory whose table could be built
and trusted. A distribution without a ``Name`` (the native code warns), a
``RECORD`` that does not parse, a file that cannot be stated: the native path.
"""

from __future__ import annotations

import marshal
import os
import stat as _statmod
import sys
from typing import Any

from . import _record
from ._query import (
    CACHES,
    Stale,
    _entry,
    _holds_no_metadata,
    _keep,
    _kept,
    _listed,
    _stdlib_resolver_only,
)
from ._stamp import Stamp, now, settled, stamp

__all__ = ["answer", "clear"]

MISS = _record.MISS

#: (provider name, record key) -> Table
_tables: dict[tuple[str, str], Table] = {}
CACHES.append(_tables)

#: At most this many files re-stated per distribution; more: the native path.
MAX_WITNESSES = 64


Row = tuple[
    str,  # child
    Stamp,  # its stamp
    str,  # Name
    bool,  # declared (top_level.txt)?
    tuple[Any, ...],  # top-level names
    tuple[tuple[str, Stamp | None], ...],  # files read, with their stamps
    tuple[tuple[str, bool], ...],  # witnesses: listed files, and whether they exist
]


class Table:
    """``packages_distributions()``'s view of one directory entry."""

    __slots__ = ("rows", "stamp")

    def __init__(self, data: bytes) -> None:
        stamp_, rows = marshal.loads(data)
        self.stamp: Stamp = stamp_  # the entry's: the listing the rows come from
        # Each row re-states its own files at every query (see ``_packages``).
        self.rows: tuple[Row, ...] = rows


def clear() -> None:
    _tables.clear()


def _stamp_or_none(path: str) -> Stamp | None:
    try:
        return stamp(os.stat(path))
    except (FileNotFoundError, NotADirectoryError):
        return None


def _exists(path: str) -> bool:
    """``pathlib.Path(path).exists()``, which raises for other errors (so do we)."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        if exc.errno in (40, 9):  # ELOOP, EBADF: pathlib says "does not exist"
            return False
        raise
    return True


def _inference(module: Any) -> Any:
    """How this provider infers one top-level name from a ``PackagePath``, as a
    function returning ``(keep the file?, name)``; ``None``: no inference (3.10)."""
    if not hasattr(module, "_top_level_inferred"):
        return None
    toplevel = getattr(module, "_get_toplevel_name", None)
    if toplevel is not None:  # 3.13+
        return lambda f: (True, toplevel(f))
    if sys.version_info >= (3, 12):
        import inspect

        return lambda f: (True, f.parts[0] if len(f.parts) > 1 else inspect.getmodulename(f))
    # 3.11
    return lambda f: (f.suffix == ".py", f.parts[0] if len(f.parts) > 1 else f.with_suffix("").name)


#: 3.12+ keep only listed files that exist, and drop names with a dot (or None).
_FILTERS = sys.version_info >= (3, 12)


def _importable(names: Any) -> list[Any]:
    """The names the native ``_top_level_inferred`` yields, in its order."""
    if _FILTERS:
        return [n for n in set(names) if n is not None and "." not in n]
    return list(set(names))


def _inferred(module: Any, dist: Any, root: str, where: str) -> Any:
    """``(names, witnesses)`` for ``dist``'s inferred top-level names, or ``None``.

    ``names``: deduplicated in the order the native code inserts them into its
    ``set``. ``witnesses`` (3.12+, where only listed files that exist count):
    ``(path, exists)`` of every listed file up to and including the first one
    of each name that exists, which decide both which names are there and the
    order they are inserted in; unless the file sits directly in the entry or
    in the distribution's directory (whose stamps are checked anyway) and is
    not a symlink (whose target may come and go behind those stamps).
    """
    infer = _inference(module)
    files = dist.files  # natively: raises for a RECORD that does not parse
    native = list(module._top_level_inferred(dist))
    names: dict[Any, None] = {}
    for f in files or ():
        keep, name = infer(f)
        if keep:
            names.setdefault(name, None)
    if _importable(tuple(names)) != native:
        return None  # not the native logic: never guess
    witnesses: list[tuple[str, bool]] = []
    if _FILTERS:
        if getattr(dist, "_read_files_distinfo", None) is None:
            return None
        lines = dist._read_files_distinfo()
        if not lines:
            if dist._read_files_egginfo_installed() is not None:
                # resolve()d through any symlink on the way: the native path.
                return None
            lines = dist._read_files_egginfo_sources()
        import csv

        present: dict[Any, None] = {}
        covered = (os.path.normpath(root), os.path.normpath(where))
        for row in csv.reader(lines or ()):
            f = module.PackagePath(row[0])
            _keep, name = infer(f)
            if name in present:
                continue  # later files of a name already there change nothing
            path = str(dist.locate_file(f))
            exists = _exists(path)
            if exists:
                present[name] = None
            if os.path.dirname(path) not in covered or os.path.islink(path):
                witnesses.append((path, exists))
        if list(present) != list(names):
            return None
        if len(witnesses) > MAX_WITNESSES:
            return None
    return tuple(names), tuple(witnesses)


def _watched(dist: Any, where: str, chain: tuple[str, ...]) -> list[str]:
    """The files of ``chain`` the native code reads, in turn, until one answers."""
    read = []
    for file in chain:
        read.append(os.path.join(where, file))
        if dist.read_text(file):
            break
    return read


def _build(module: Any, record: Any, lookup: Any, root: str) -> bytes | None:
    observed_at = now()
    rows: list[Row] = []
    for path in lookup.search(module.Prepared(None)):
        where = str(path)
        child = os.path.basename(where)
        dist_st = os.stat(where)
        dist_stamp = stamp(dist_st)
        if not settled(dist_stamp, observed_at):
            return None
        dist = module.PathDistribution(path)
        meta = dist.metadata
        if meta is None or "Name" not in meta:
            return None  # the native code warns, or raises
        name = meta["Name"]
        if type(name) is not str:
            return None
        declared = (dist.read_text("top_level.txt") or "").split()
        witnesses: tuple[tuple[str, bool], ...] = ()
        watched: list[str] = []
        if _statmod.S_ISDIR(dist_st.st_mode):
            # Each file read is re-stated: one rewritten in place (legacy tools
            # do it to *.egg-info) changes its own stamp, not its directory's.
            watched += _watched(dist, where, ("METADATA", "PKG-INFO"))
            watched.append(os.path.join(where, "top_level.txt"))
        if declared or _inference(module) is None:
            names: tuple[Any, ...] = tuple(declared)
        else:
            found = _inferred(module, dist, root, where)
            if found is None:
                return None
            names, witnesses = found
            if _statmod.S_ISDIR(dist_st.st_mode):
                chain = ("RECORD", "installed-files.txt", "SOURCES.txt")
                watched += _watched(dist, where, chain)
        files = []
        for file in watched:
            file_stamp = _stamp_or_none(file)
            if file_stamp is not None and not settled(file_stamp, observed_at):
                return None
            files.append((file, file_stamp))
        rows.append((child, dist_stamp, name, bool(declared), names, tuple(files), witnesses))
    return marshal.dumps((record.stamp, tuple(rows)))


def _table(module: Any, root: object) -> Any:
    """The table of ``root``, ``None`` if it holds nothing, or ``MISS``."""
    entry = _entry(root)
    if type(entry) is not tuple:
        return entry
    assert type(root) is str
    key, current = entry
    section = f"packages:{module.__name__}:table"

    def load(saved: Any) -> Table | None:
        data = saved.get(section)
        return None if data is None else Table(data)

    table = _kept(_tables, module, key, current, load)
    if table is not None:
        _tables[(module.__name__, key)] = table
        return table
    listed = _listed(module, root, key)
    if listed is None or not listed[1].trusted:
        return None if _holds_no_metadata(root, current) else MISS
    lookup, record = listed
    data = _build(module, record, lookup, root)
    if data is None:
        return MISS
    return _keep(_tables, module, record, section, {section: data}, Table(data))


def _packages(module: Any, _arg: Any) -> Any:
    found: dict[str, list[str]] = {}
    stat = os.stat
    for root in list(sys.path):
        table = _table(module, root)
        if table is MISS:
            return MISS
        if table is None:
            continue
        base = root if root.endswith(("/", os.sep)) else root + os.sep
        for child, dist_stamp, name, declared, names, files, witnesses in table.rows:
            # Stats inlined: this loop is the whole cost. The distribution's
            # own stamp covers the witnesses in its directory and is a legacy
            # ``*.egg-info`` file's only one; a directory's row with declared
            # names depends on nothing but the files it re-states below (in
            # an entry whose stamp ``_table`` checked).
            if not (declared and files):
                try:
                    st = stat(base + child)
                except OSError:
                    raise Stale(module, root) from None
                if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) != dist_stamp:
                    raise Stale(module, root)
            for path, expected_stamp in files:
                try:
                    st = stat(path)
                except (FileNotFoundError, NotADirectoryError):
                    if expected_stamp is not None:
                        raise Stale(module, root) from None
                    continue
                if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) != (
                    expected_stamp
                ):
                    raise Stale(module, root)
            for path, expected in witnesses:
                if _exists(path) is not expected:
                    raise Stale(module, root)
            for package in names if declared else _importable(names):
                listed = found.get(package)
                if listed is None:
                    found[package] = [name]
                else:
                    listed.append(name)
    return found


def answer(module: Any, native: Any) -> Any:
    """``packages_distributions()`` of ``module``: from the tables when it can."""
    from . import _patch
    from ._query import _serve

    if _patch.enabled and _stdlib_resolver_only(module):
        result = _serve(_packages, module, None)
        if result is not MISS:
            return result
    return native()
