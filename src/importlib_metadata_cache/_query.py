"""Fast path for ``entry_points(...)``: answered from per-entry indexes.

The native ``entry_points()`` builds a ``Distribution`` for every installed
distribution (on 3.12+ each costs a walk over the class's MRO), asks each for
its normalised name to drop shadowed ones, parses every ``entry_points.txt``
and only then selects. Here each ``sys.path`` directory gets an *index*, built
once from one scan with the provider's own functions (``Lookup`` order,
``_name_from_stem``, ``Prepared.normalize``, ``EntryPoints._from_text``): the
distributions in native order with their normalised names, and their entry
points as ``(name, value, group)``, also grouped by group. A query then walks
``sys.path`` (live), re-stats each entry, drops shadowed distributions exactly
as ``_unique`` would (first one of a name wins, across entries in order), and
builds fresh ``EntryPoint`` objects, with ``ep.dist`` a fresh distribution, for
the selected ones only; the provider's own ``EntryPoints``/``SelectableGroups``
and ``select()`` finish the job, so types, order and warnings are native.

It serves only the plain case: the provider's own path finder is the one
resolver on ``sys.meta_path`` (the standard library's ``PathFinder``, or the
backport's ``MetadataPathFinder`` for the backport; no third-party finder),
its ``entry_points()`` is one whose body the indexes reproduce
(``_ENTRY_POINTS_BODIES``), and every entry is a directory whose index could be
built and trusted. Anything else (a zip, a distribution whose name needs its
``METADATA``, a file that does not parse, something changed within the settle
window) takes the native path.

The backport 10 puts distributions without metadata last (``_prefer_valid``)
before it drops shadowed names. Its indexes count them: any, and the native
code answers; none, and the order is the plain one as long as none loses its
metadata, which changes its directory's stamp: a distribution in the answer is
re-stated anyway, the first of a name that shadows another is re-stated when
it does (in another entry: at the query; in the same: in the index's watch).

Freshness: an index is tied to its entry's record (its stamp and listing);
``*.egg-info`` distributions, which legacy tools rewrite in place, are re-stated
file by file at every query. A file rewritten in place inside a ``*.dist-info``
(no installer does that) is not seen until the entry changes or
``importlib.invalidate_caches()``; ``read_text`` and the per-distribution
members still see it at once.
"""

from __future__ import annotations

import marshal
import os
import stat as _statmod
import sys
from collections.abc import Iterator
from typing import Any

from . import _log, _record, _store
from ._stamp import Stamp, now, settled, stamp

__all__ = ["entry_points_function"]

MISS = _record.MISS

_POSIX = _record._POSIX


class Index:
    """What ``entry_points()`` needs of one directory entry, for one provider.

    Saved as sections of the entry's record file (``index:<provider>:<part>``),
    each read and decoded only when a query needs it: a query for one group
    reads the index's ``meta`` and that group's part, and a lookup by name one
    bucket of names, whatever the number of distributions (the floor the speed
    budget is measured against).
    """

    __slots__ = ("_parts", "_source", "count", "invalid", "prefix", "stamp", "watch")

    def __init__(self, prefix: str, source: Any) -> None:
        """``source.get(name)`` gives the bytes of a section (a ``Saved`` or a dict)."""
        self.prefix = prefix
        self._source = source
        self._parts: dict[str, Any] = {}
        stamp_, watch, count, invalid = marshal.loads(source.get(prefix + "meta"))
        self.stamp: Stamp = stamp_
        self.watch: tuple[tuple[str, Stamp | None], ...] = watch
        self.count: int = count
        # Distributions without metadata (``_prefer_valid`` puts them last); -1:
        # not counted, the provider does not ask.
        self.invalid: int = invalid

    @staticmethod
    def build(
        prefix: str,
        stamp_: Stamp,
        dists: list[tuple[str, str, bool, tuple[tuple[str, str, str], ...], Stamp]],
        watch: list[tuple[str, Stamp | None]],
        invalid: int = -1,
    ) -> dict[str, bytes]:
        """The sections of an index, from ``(child, normalised name, first of its
        name here?, triples, stamp)`` of each distribution in native order.

        Each reference to a distribution carries the stamp of its directory,
        checked when that distribution is part of an answer (see ``Stale``).
        """
        groups: dict[str, list[tuple[str, str, str, str, Stamp]]] = {}
        firsts: dict[str, tuple[str, Stamp]] = {}
        for child, name, first, eps, dist_stamp in dists:
            if first:
                firsts[name] = (child, dist_stamp)
                for ep_name, value, group in eps:
                    groups.setdefault(group, []).append((child, name, ep_name, value, dist_stamp))
        sections = {
            prefix + "meta": marshal.dumps((stamp_, tuple(watch), len(dists), invalid)),
            prefix + "all": marshal.dumps(tuple(dists)),
            prefix + "names": marshal.dumps(frozenset(firsts)),
        }
        if invalid >= 0:
            sections[prefix + "firsts"] = marshal.dumps(firsts)
        for group, found in groups.items():
            sections[f"{prefix}g:{group}"] = marshal.dumps(tuple(found))
        return sections

    def _part(self, name: str) -> Any:
        try:
            return self._parts[name]
        except KeyError:
            raw = self._source.get(self.prefix + name)
            value = self._parts[name] = None if raw is None else marshal.loads(raw)
            return value

    def group(self, group: str) -> tuple[tuple[str, str, str, str, Stamp], ...]:
        """``(child, normalised name, ep name, value, stamp)`` of ``group``, first dists only."""
        return self._part("g:" + group) or ()

    def all(self) -> tuple[tuple[str, str, bool, tuple[tuple[str, str, str], ...], Stamp], ...]:
        return self._part("all")  # type: ignore[no-any-return]

    def names(self) -> frozenset[str]:
        return self._part("names")  # type: ignore[no-any-return]

    def first(self, name: str) -> tuple[str, Stamp]:
        """``(child, stamp)`` of the first distribution of ``name`` here (counted indexes)."""
        return self._part("firsts")[name]  # type: ignore[no-any-return]

    def fresh(self) -> bool:
        for path, expected in self.watch:
            try:
                current: Stamp | None = stamp(os.stat(path))
            except (FileNotFoundError, NotADirectoryError):
                current = None
            except OSError:
                return False
            if current != expected:
                return False
        return True


def _stamp_or_none(path: str) -> Stamp | None:
    try:
        return stamp(os.stat(path))
    except FileNotFoundError:
        return None


def _build(module: Any, record: Any, lookup: Any, prefix: str) -> dict[str, bytes] | None:
    """Scan the distributions of one entry; ``None`` if it cannot be trusted."""
    if not entry_point_maker(module.EntryPoint)[1]:
        return None  # a program's own EntryPoint: its parses are not the provider's
    observed_at = now()
    name_from_stem = module.PathDistribution._name_from_stem
    normalize = module.Prepared.normalize
    from_text = module.EntryPoints._from_text
    dists: list[tuple[str, str, bool, tuple[tuple[str, str, str], ...], Stamp]] = []
    watch: list[tuple[str, Stamp | None]] = []
    seen: set[str] = set()
    has_metadata = None
    invalid = -1
    if _kinds.get(module.__name__):
        has_metadata = getattr(module, "_safe_has_metadata", None)
        if not callable(has_metadata):
            return None
        invalid = 0
    for path in lookup.search(module.Prepared(None)):
        where = str(path)
        child = os.path.basename(where)
        stem_name = name_from_stem(child)
        name = normalize(stem_name) if stem_name is not None else None
        if not name:
            return None  # the native code would read METADATA for the name
        dist_st = os.stat(where)
        dist_stamp = stamp(dist_st)
        eps_file = os.path.join(where, "entry_points.txt")
        # A legacy *.egg-info *file* has no entry_points.txt beside it.
        eps_stamp = _stamp_or_none(eps_file) if _statmod.S_ISDIR(dist_st.st_mode) else None
        text = None
        if eps_stamp is not None:
            text = _record.read_text(path, "entry_points.txt")
            if text is MISS or text is None:
                return None  # undecodable or unreadable: the native path says how
        if not settled(dist_stamp, observed_at) or (
            eps_stamp is not None and not settled(eps_stamp, observed_at)
        ):
            return None
        # Re-stated at every query: legacy *.egg-info (rewritten in place by
        # setup.py develop), and a *.dist-info that is a symlink (a "current"
        # link re-pointed changes it while the entry's own stamp stays).
        if not child.lower().endswith(".dist-info") or os.path.islink(where):
            watch.append((where, dist_stamp))
            if _statmod.S_ISDIR(dist_st.st_mode):
                watch.append((eps_file, eps_stamp))
        elif os.path.islink(eps_file):
            # A symlink farm (Nix, Spack, stow): the file's target may be
            # replaced while the *.dist-info keeps its stamp.
            watch.append((eps_file, eps_stamp))
        triples = tuple((ep.name, ep.value, ep.group) for ep in from_text(text))
        if has_metadata is not None:
            for meta in ("METADATA", "PKG-INFO"):  # what has_metadata looks at, if symlinks
                meta_file = os.path.join(where, meta)
                if os.path.islink(meta_file):
                    watch.append((meta_file, _stamp_or_none(meta_file)))
            if not has_metadata(module.PathDistribution(path)):
                invalid += 1
            elif name in seen:
                # A second distribution of a name here: the first one's losing
                # its metadata would let this one win, so it is re-stated.
                first = next(d for d in dists if d[1] == name)
                watch.append((os.path.join(os.path.dirname(where), first[0]), first[4]))
        dists.append((child, name, name not in seen, triples, dist_stamp))
        seen.add(name)
    return Index.build(prefix, record.stamp, dists, watch, invalid)


#: (provider name, record key) -> Index
_indexes: dict[tuple[str, str], Index] = {}

#: Every in-memory table keyed like ``_indexes``: dropped when found stale.
CACHES: list[dict[tuple[str, str], Any]] = [_indexes]

#: Indexes found stale (see ``Stale``): rebuilt from the disk, never loaded again.
_distrusted: set[tuple[str, str]] = set()


class Stale(Exception):
    """A distribution in an answer has a directory stamp other than its index's.

    Its files were replaced, added or removed since the index was built (the
    entry's own stamp only changes when distributions come or go). The index
    of ``root`` is dropped and rebuilt, and the query runs again.
    """

    def __init__(self, module: Any, root: str) -> None:
        super().__init__(root)
        self.key = (module.__name__, _record.key_of(root))


def _check(root: str, child: str, expected: Stamp) -> bool:
    try:
        if _POSIX:  # os.path.join, for a child that is a name (from a listing)
            where = root + child if root.endswith("/") else f"{root}/{child}"
        else:
            where = os.path.join(root, child)
        return stamp(os.stat(where)) == expected
    except OSError:
        return False


def clear() -> None:
    _indexes.clear()
    _names.clear()
    _distrusted.clear()
    _empty_dirs.clear()
    _answers.clear()
    _saved_answers.clear()
    _unsaved.clear()
    _dropped.clear()


def _entry(root: object) -> Any:
    """``(record key, stamp)`` of a directory entry the tables can serve; ``None``
    if it does not exist (natively: nothing), ``MISS`` if the native code must
    answer, or the answer of ``_relative`` for a relative entry."""
    if type(root) is not str:
        return MISS
    if not os.path.isabs(root):
        return _relative(root)
    if os.path.basename(root).lower().endswith(".egg"):
        # Spelled so, the native Lookup also reads EGG-INFO; spelled '/x.egg/' it
        # does not. Tables are shared by every spelling of a directory, so an
        # entry spelled as an egg is the native code's.
        return MISS
    try:
        st = os.stat(root)
    except (FileNotFoundError, NotADirectoryError):
        return None  # natively: no listing, no zip, nothing
    if not _statmod.S_ISDIR(st.st_mode):
        return MISS  # a zip, or anything else: the native code
    return _record.key_of(root), stamp(st)


def _kept(
    cache: dict[tuple[str, str], Any], module: Any, key: str, current: Stamp, load: Any
) -> Any:
    """A table of entry ``key`` of stamp ``current``: the one this process keeps
    in ``cache``, or else the one saved in the entry's record (``load(saved)``
    makes it, or ``None`` if there is none), unless this entry's tables were
    found stale here; ``None`` if there is none of that stamp."""
    name = module.__name__
    table = cache.get((name, key))
    if table is not None and table.stamp == current:
        return table
    if (name, key) in _distrusted:
        return None
    table = load(_record.saved_sections(key))
    return table if table is not None and table.stamp == current else None


def _listed(module: Any, root: str, key: str) -> Any:
    """``(lookup, record)`` of entry ``root`` listed now (from its record while
    its stamp holds), or ``None`` if the native code must list it."""
    lookup = _record.lookup_for(root, module.__name__, module.Lookup)
    record = _record.records.get(key)
    return None if lookup is MISS or record is None else (lookup, record)


def _keep(
    cache: dict[tuple[str, str], Any],
    module: Any,
    record: Any,
    prefix: str,
    sections: Any,
    table: Any,
) -> Any:
    """Keep a table just built: in ``cache``, and in the record (saved with it)."""
    cache[(module.__name__, record.path)] = table
    record.indexes[prefix] = sections
    _record.mark_dirty(record)
    return table


def _index(module: Any, root: object) -> Any:
    """The index of ``root``, ``None`` if it holds nothing, or ``MISS``."""
    entry = _entry(root)
    if type(entry) is not tuple:
        return entry
    assert type(root) is str
    key, current = entry
    prefix = f"index:{provider_id(module)}:"

    def load(saved: Any) -> Index | None:
        return Index(prefix, saved) if prefix + "meta" in saved else None

    index = _kept(_indexes, module, key, current, load)
    if index is not None and index.fresh():
        _indexes[(module.__name__, key)] = index
        record = _record.records.get(key)
        if record is not None:
            record.hits += 1  # served without listing or reading anything
        return index
    listed = _listed(module, root, key)
    if listed is None or not listed[1].trusted:
        # Changed a moment ago (a script's directory just written to): served
        # all the same if it holds no metadata at all.
        return None if _holds_no_metadata(root, current) else MISS
    lookup, record = listed
    sections = _build(module, record, lookup, prefix)
    if sections is None:
        return MISS
    return _keep(_indexes, module, record, prefix, sections, Index(prefix, sections))


class Names:
    """Which distribution a search by name yields first in one directory entry.

    That depends on the listing alone (the native ``Lookup`` keys its children
    by their normalised names), so a table is valid while the entry's stamp is:
    ``meta`` holds that stamp, and the names sit in buckets (``first:<n>`` for
    ``*.dist-info``/``*.egg-info`` names, ``eggs:<n>`` for an egg's
    ``EGG-INFO``), of which a lookup reads one.
    """

    __slots__ = ("_buckets", "_source", "prefix", "stamp")

    def __init__(self, prefix: str, source: Any) -> None:
        self.prefix = prefix
        self._source = source
        self._buckets: dict[str, Any] = {}
        self.stamp: Stamp = marshal.loads(source.get(prefix + "meta"))

    @staticmethod
    def build(prefix: str, stamp_: Stamp, lookup: Any) -> dict[str, bytes]:
        sections = {prefix + "meta": marshal.dumps(stamp_)}
        for table, by_name in (("first", lookup.infos), ("eggs", lookup.eggs)):
            firsts = {
                key: os.path.basename(str(paths[0])) for key, paths in by_name.items() if paths
            }
            for number, data in _record.bucketed(firsts).items():
                sections[f"{prefix}{table}:{number}"] = data
        return sections

    def find(self, prepared: Any) -> str | None:
        """The child a native search for ``prepared`` yields first here, if any."""
        for table, key in (("first", prepared.normalized), ("eggs", prepared.legacy_normalized)):
            part = f"{table}:{_record.bucket_of(key)}"
            bucket = self._buckets.get(part)
            if bucket is None:
                raw = self._source.get(self.prefix + part)
                bucket = self._buckets[part] = {} if raw is None else marshal.loads(raw)
            found = bucket.get(key)
            if found is not None:
                return found  # type: ignore[no-any-return]
        return None


#: (provider name, record key) -> Names
_names: dict[tuple[str, str], Names] = {}


def _names_of(module: Any, root: object) -> Any:
    """The ``Names`` of ``root``, ``None`` if it holds nothing, or ``MISS``.

    Built from the listing alone, which a native search by name also makes:
    no distribution's files are read (a cold ``version()`` costs what it costs
    natively)."""
    entry = _entry(root)
    if type(entry) is not tuple:
        return entry
    assert type(root) is str
    key, current = entry
    prefix = f"names:{provider_id(module)}:"

    def load(saved: Any) -> Names | None:
        return Names(prefix, saved) if prefix + "meta" in saved else None

    table = _kept(_names, module, key, current, load)
    if table is not None:
        _names[(module.__name__, key)] = table
        return table
    listed = _listed(module, root, key)
    if listed is None or listed[1].stamp != current:
        return MISS
    lookup, record = listed
    sections = Names.build(prefix, current, lookup)
    table = Names(prefix, sections)
    if not record.trusted:
        return table  # just listed; listed again at the next query
    return _keep(_names, module, record, prefix, sections, table)


#: Stamps of relative entries' directories seen holding no metadata.
_empty_dirs: set[Stamp] = set()


def _relative(root: str) -> Any:
    """``''`` and relative entries: fine while they hold no metadata at all.

    The directory's stamp says which directory it is now (device and inode)
    and whether it changed, whatever the working directory is.
    """
    if os.path.basename(root).lower().endswith(".egg"):
        return MISS
    try:
        current = stamp(os.stat(root or "."))
    except OSError:
        return MISS
    return None if _holds_no_metadata(root or ".", current) else MISS


def _holds_no_metadata(root: str, current: Stamp) -> bool:
    """Whether directory ``root`` (not spelled as an egg), whose stamp is
    ``current``, has no ``*.dist-info``/``*.egg-info`` child: the native
    ``Lookup`` then yields nothing from it. Listed again while it changes."""
    if current in _empty_dirs:
        return True
    observed_at = now()
    try:
        children = os.listdir(root)
    except OSError:
        return False
    for child in children:
        if child.lower().endswith((".dist-info", ".egg-info")):
            return False
    if settled(current, observed_at):
        if len(_empty_dirs) > 256:
            _empty_dirs.clear()
        _empty_dirs.add(current)
    return True


#: Provider name -> the name its saved tables are filed under.
_provider_ids: dict[str, str] = {}


def provider_id(module: Any) -> str:
    """The name a provider's tables are saved under: its module name, and for
    any other than the standard library's a digest of its file's path, size
    and mtime too (the real backport and setuptools' vendored copy both import
    as ``importlib_metadata``, in different versions, and may share an
    environment; either may be upgraded in place)."""
    name: str = module.__name__
    found = _provider_ids.get(name)
    if found is None:
        if name == "importlib.metadata":
            found = name
        else:
            file = str(getattr(module, "__file__", ""))
            try:  # upgraded in place: other tables
                st = os.stat(file)
                file = f"{file}:{st.st_size}:{st.st_mtime_ns}"
            except (OSError, ValueError):
                pass
            digest = 2166136261  # FNV-1a, stable across processes (``hash()`` is not)
            for char in file:
                digest = ((digest ^ ord(char)) * 16777619) & 0xFFFFFFFF
            found = f"{name}.{digest:08x}"
        _provider_ids[name] = found
    return found


def served(module: Any) -> bool:
    """Whether the indexes answer for ``module``: its own path finder is the one
    ``find_distributions`` resolver (stdlib: ``PathFinder``; backport: its
    ``MetadataPathFinder``, which replaces the former once imported)."""
    if module.__name__ == "importlib.metadata":
        return _stdlib_resolver_only(module)
    try:
        resolvers = list(module.Distribution._discover_resolvers())
        finder = module.MetadataPathFinder
        native = vars(finder)["find_distributions"]
    except Exception:  # an odd sys.meta_path: the native code deals with it
        return False
    if len(resolvers) != 1:
        return False
    resolver = resolvers[0]
    return getattr(resolver, "__self__", None) is finder and getattr(
        resolver, "__func__", None
    ) is getattr(native, "__func__", native)


def _source(module: Any) -> Any:
    """The provider whose finder discovers for ``module``, if the indexes can
    serve it: ``module`` itself, or for the standard library the backport,
    whose finder replaces the standard one once the backport is imported (the
    standard ``entry_points()`` then yields the backport's entry points and
    distributions, and ``from_name`` its distribution); ``None`` otherwise."""
    if served(module):
        return module
    if module.__name__ == "importlib.metadata":
        backport = sys.modules.get("importlib_metadata")
        if backport is not None and backport.__name__ in _kinds and served(backport):
            return backport
    return None


def _stdlib_resolver_only(module: Any) -> bool:
    """Whether the stdlib path finder is the one ``find_distributions`` resolver."""
    if module.__name__ != "importlib.metadata":
        return False
    try:
        path_finder = sys.modules["_frozen_importlib_external"].PathFinder
        expected = getattr(path_finder, "find_distributions", None)
        if expected is None:
            return False
        resolvers = list(module.Distribution._discover_resolvers())
    except Exception:  # an odd sys.meta_path: the native code deals with it
        return False
    return len(resolvers) == 1 and resolvers[0] is expected


def _entries(module: Any, paths: list[str]) -> Iterator[tuple[str, Index] | None]:
    """``(root, index)`` of each entry of ``paths`` holding distributions, lazily,
    in order; ``None`` (and the end) at the first entry the indexes cannot serve."""
    for root in paths:
        index = _index(module, root)
        if index is MISS:
            yield None
            return
        if index is not None and index.count:
            yield root, index


def _select(module: Any, query: tuple[Any, dict[str, Any]]) -> Any:
    """``module.entry_points(**params)`` where ``source``'s finder discovers
    (``module`` itself, or the backport's for the standard library's)."""
    source, params = query
    make, native_making = entry_point_maker(source.EntryPoint)
    if not (native_making and _selection_is_native(module, source)):
        # A program's own ``select``/``matches`` or ``EntryPoint``: the native
        # code runs it over every entry point (the indexes pick a group's by
        # exact name, from the parses of the provider's own).
        return MISS
    group_only = list(params) == ["group"] and type(params["group"]) is str
    group = params.get("group")
    paths = list(sys.path)
    if group_only:
        answer = _answer(module, source, paths, "g:" + str(group))
        if answer is not None and answer.holds(paths):
            if _log.enabled:
                _log.debug(f"entry_points(group={group!r}): the answer kept for this sys.path")
            kept = answer.entry_points(source, paths, str(group))
            return _container(module, kept, params, True)
    dist_class = source.PathDistribution
    path_class = _record.PATH_TYPE
    counted = _kinds.get(module.__name__, False)
    earlier: list[tuple[str, Index]] = []
    eps: list[Any] = []
    # What the answer of a group is made of, to save it (see ``Answer``).
    checks: list[tuple[int, str, Stamp]] = []
    rows: list[tuple[int, str, str, str]] = []
    position = {root: number for number, root in reversed(list(enumerate(paths)))}

    def shadowed(name: str) -> bool:
        for other_root, other in earlier:
            if name in other.names():
                if counted:  # the earlier one still has its metadata (its stamp)?
                    child, expected = other.first(name)
                    if not _check(other_root, child, expected):
                        raise Stale(source, other_root)
                    checks.append((position[other_root], child, expected))
                return True
        return False

    for item in _entries(source, paths):
        if item is None:
            return MISS
        root, index = item
        if counted and index.invalid:
            return MISS  # put last by ``_prefer_valid``: the native order then differs
        dists: dict[str, Any] = {}
        if group_only:
            for child, name, ep_name, value, dist_stamp in index.group(str(group)):
                if earlier and shadowed(name):
                    continue
                dist = dists.get(child)
                if dist is None:
                    if not _check(root, child, dist_stamp):
                        raise Stale(source, root)
                    checks.append((position[root], child, dist_stamp))
                    dist = dists[child] = dist_class(path_class(root, child))
                eps.append(make(ep_name, value, group, dist))
                rows.append((position[root], child, ep_name, value))
        else:
            for child, name, first, triples, dist_stamp in index.all():
                if not first or not triples or (earlier and shadowed(name)):
                    continue
                if not _check(root, child, dist_stamp):
                    raise Stale(source, root)
                dist = dist_class(path_class(root, child))
                eps.extend([make(n, v, g, dist) for n, v, g in triples])
        earlier.append((root, index))
    if group_only:
        _remember(module, source, paths, "g:" + str(group), tuple(checks), tuple(rows))
        return _container(module, eps, params, True)
    # ``entry_points()``: every one matches no parameter (3.10/3.11 answer the
    # ``SelectableGroups`` itself, made by the native code below).
    every = not params and not hasattr(module, "SelectableGroups")
    return _container(module, eps, params, every)


def _container(module: Any, eps: list[Any], params: dict[str, Any], every: bool) -> Any:
    """What ``module.entry_points(**params)`` returns for ``eps``; ``every``:
    each of them is known to match ``params`` (all of the one group asked
    for, or no parameter; ``_select`` serves only while the functions
    ``select`` runs are the ones found at patch time): the answer is all of
    ``eps``, in order."""
    if every:
        return module.EntryPoints(eps)
    if hasattr(module, "SelectableGroups"):  # 3.10, 3.11
        return module.SelectableGroups.load(eps).select(**params)
    return module.EntryPoints(eps).select(**params)


def _static(cls: Any, name: str) -> Any:
    for klass in getattr(cls, "__mro__", ()):
        found = vars(klass).get(name)
        if found is not None:
            return found
    return None


def _native_function(found: Any, module_name: str, qualname: str) -> bool:
    """Whether ``found`` (a function, or a classmethod's) is the provider's own:
    defined in its module as ``qualname`` (not a program's replacement,
    whenever it was made)."""
    function = getattr(found, "__func__", found)
    return (
        getattr(function, "__module__", None) == module_name
        and getattr(function, "__qualname__", None) == qualname
        and not hasattr(function, "__wrapped__")  # functools.wraps copies both names
    )


def _selection(module: Any, source: Any) -> tuple[Any, ...]:
    """The functions the native ``select`` of ``module``'s ``entry_points`` runs
    over ``source``'s entry points."""
    own, theirs = _own_selection(module), _own_selection(source)
    return (own[0], own[1], theirs[2], own[3], own[4])


def _own_selection(module: Any) -> tuple[Any, ...]:
    groups = getattr(module, "SelectableGroups", None)
    return (
        module.EntryPoints,
        _static(module.EntryPoints, "select"),
        _static(module.EntryPoint, "matches"),
        None if groups is None else _static(groups, "load"),
        None if groups is None else _static(groups, "select"),
    )


def _native_selection(module: Any) -> tuple[Any, ...] | None:
    """``_own_selection(module)`` if every piece of it is the provider's own."""
    found = _own_selection(module)
    name = module.__name__
    entry_points, select, matches, load, groups_select = found
    native = (
        getattr(entry_points, "__module__", None) == name
        and getattr(entry_points, "__qualname__", None) == "EntryPoints"
        and _native_function(select, name, "EntryPoints.select")
        and _native_function(matches, name, "EntryPoint.matches")
        and (load is None or _native_function(load, name, "SelectableGroups.load"))
        and (
            groups_select is None
            or _native_function(groups_select, name, "SelectableGroups.select")
        )
    )
    return found if native else None


def entry_point_maker(cls: Any) -> tuple[Any, bool]:
    """``(make, native)``: ``make(name, value, group, dist)`` is
    ``cls(name=name, value=value, group=group)._for(dist)``; ``native``: the
    making of ``cls`` is still what it was when its provider was patched, and
    the provider's own (``_construction``), so what the tables hold (parses of
    ``entry_points.txt``, grouped by group) is what it makes. For the bodies
    known here (``__init__`` and ``_for`` set the attributes with
    ``vars(self).update``, in this order), ``make`` skips the two calls: a
    new object, whose attributes are set the same way."""
    state = _construction(cls)
    known = _makers.get(cls)
    if known is None or known[0] != state:
        native = state is not None and _constructions.get(cls.__module__) == state
        known = _makers[cls] = (state, (_plain_entry_point(cls, native), native))
    return known[1]


#: ``EntryPoint`` class -> (its ``_construction``, what ``entry_point_maker`` gives)
_makers: dict[Any, tuple[Any, tuple[Any, bool]]] = {}

#: Provider name -> the ``_construction`` of its ``EntryPoint`` when it was patched.
_constructions: dict[str, tuple[Any, ...] | None] = {}


def _construction(cls: Any) -> tuple[Any, ...] | None:
    """What making a ``cls`` depends on (its metaclass, ``__new__``,
    ``__init__``, ``_for`` and their code), if each is the provider's own
    (defined in its module under its own name); else ``None``."""
    new, init, for_ = _static(cls, "__new__"), _static(cls, "__init__"), _static(cls, "_for")
    name = getattr(cls, "__module__", None)
    if type(cls) is not type or type(name) is not str:
        return None
    if not (
        (new is vars(object)["__new__"] or _named_tuple_new(cls, new, name))
        and (
            init is vars(object)["__init__"] or _native_function(init, name, "EntryPoint.__init__")
        )
        and _native_function(for_, name, "EntryPoint._for")
    ):
        return None
    codes = tuple(getattr(getattr(f, "__func__", f), "__code__", None) for f in (new, init, for_))
    return (type(cls), new, init, for_, *codes)


def _named_tuple_new(cls: Any, new: Any, name: str) -> bool:
    """Whether ``new`` is the ``__new__`` of 3.10's ``EntryPointBase``, the
    named tuple the provider's ``EntryPoint`` derives from."""
    owner = next((k for k in cls.__mro__ if "__new__" in vars(k)), None)
    function = getattr(new, "__func__", None)
    return (
        owner is not None
        and getattr(owner, "__module__", None) == name
        and getattr(owner, "__qualname__", None) == "EntryPointBase"
        and getattr(function, "__qualname__", None) == "EntryPointBase.__new__"
        and getattr(function, "__module__", None) == "namedtuple_EntryPointBase"
    )


def _plain_entry_point(cls: Any, native_making: bool) -> Any:
    def native(name: str, value: str, group: str, dist: Any) -> Any:
        return cls(name=name, value=value, group=group)._for(dist)

    new = object.__new__

    def made(name: str, value: str, group: str, dist: Any) -> Any:
        entry_point = new(cls)
        vars(entry_point).update(name=name, value=value, group=group)
        vars(entry_point).update(dist=dist)
        return entry_point

    if not native_making:
        return native
    try:
        init, for_ = vars(cls)["__init__"], _static(cls, "_for")
        init_code, for_code = init.__code__, for_.__code__
        plain = (
            _static(cls, "__new__") is vars(object)["__new__"]
            and init_code.co_names == for_code.co_names == ("vars", "update")
            and init_code.co_varnames[:4] == ("self", "name", "value", "group")
            and init_code.co_argcount == 4
            and ("name", "value", "group") in init_code.co_consts
            and for_code.co_varnames[:2] == ("self", "dist")
            and for_code.co_argcount == 2
            and ("dist",) in for_code.co_consts
            and init.__defaults__ is None
            and not (init_code.co_kwonlyargcount or for_code.co_kwonlyargcount)
        )
        if plain:  # and the very same object and attributes, tried once
            dist = object()
            mine, theirs = made("n", "v", "g", dist), native("n", "v", "g", dist)
            plain = type(mine) is type(theirs) and list(vars(mine).items()) == list(
                vars(theirs).items()
            )
    except Exception:  # anything else: the native calls
        plain = False
    return made if plain else native


def remember_native(module: Any) -> None:
    """What ``entry_points()`` selects with and how entry points are made, as
    the provider has them when it is patched (right after its import): the
    tables are used only while they are still those, and its own."""
    _selections[module.__name__] = _native_selection(module)
    _constructions[module.__name__] = _construction(module.EntryPoint)


#: Provider name -> ``_own_selection`` as found when it was patched (``None``:
#: not the provider's own then: never served).
_selections: dict[str, tuple[Any, ...] | None] = {}


def _selection_is_native(module: Any, source: Any) -> bool:
    """Whether the functions ``module.entry_points`` would select ``source``'s
    entry points with are those each provider had when it was patched (its
    own): the indexes pick a group's entry points by its exact name."""
    own, theirs = _selections.get(module.__name__), _selections.get(source.__name__)
    if own is None or theirs is None:
        return False
    return _selection(module, source) == (own[0], own[1], theirs[2], own[3], own[4])


class Answer:
    """An answer of the indexes over one whole ``sys.path``: of
    ``entry_points(group=...)`` (section ``g:<group>``), or of a search by name
    (``n:<name>``).

    What it was made of: the state of every entry (its stamp and its table's
    watch list; missing; or a relative entry's directory seen holding no
    metadata), the stamp of every distribution directory checked (for entry
    points: those in the answer, and with a provider that puts distributions
    without metadata last, those that shadow another), the store's generation
    marker (``_record.generation_seen``), and the rows of the answer
    (``(entry number, child, name, value)`` of each entry point, or ``(entry
    number, child)`` of the distribution found). It is replayed only after the
    very same checks pass: then the tables would give the same rows.
    A later process reads it from one small file (keyed by the whole
    ``sys.path``) instead of one record per entry.
    """

    __slots__ = ("checks", "extra", "generation", "rows", "states")

    def __init__(
        self, states: Any, checks: Any, rows: Any, extra: Any = None, generation: Any = None
    ) -> None:
        self.states: tuple[Any, ...] = states
        self.checks: tuple[tuple[int, str, Stamp], ...] = checks
        self.rows: tuple[tuple[Any, ...], ...] = rows
        # For a name: the header memo (``_members``) of the distribution found,
        # valid while its METADATA has that stamp (checked at each access).
        self.extra: Any = extra
        # The store's generation marker (``_store.generation``) before the
        # tables it was made from were loaded or built: a process that found
        # saved tables stale since then replaced it, and the answer goes.
        self.generation: Any = generation

    def holds(self, paths: list[str]) -> bool:
        """Whether every check passes now (``False`` for anything unexpected)."""
        try:
            return self._holds(paths)
        except Exception:  # not an answer of this shape: made again
            return False

    def _holds(self, paths: list[str]) -> bool:
        if len(self.states) > len(paths) or self.generation is None or _record.stale_found:
            return False  # (tables found stale here: until this process ends)
        try:
            if _store.generation() != self.generation:
                return False
            # The states of the entries the answer depends on: all of them, or
            # for a search by name those up to the one it was found in.
            for root, state in zip(paths[: len(self.states)], self.states, strict=True):
                if state is None:  # missing when the answer was made
                    try:
                        os.stat(root)
                    except (FileNotFoundError, NotADirectoryError):
                        continue
                    return False
                kind, expected, watch = state
                if stamp(os.stat(root or ".")) != expected:
                    return False
                if kind == "dir":
                    for path, watched in watch:
                        try:
                            current: Stamp | None = stamp(os.stat(path))
                        except (FileNotFoundError, NotADirectoryError):
                            current = None
                        if current != watched:
                            return False
                elif expected not in _empty_dirs:
                    _empty_dirs.add(expected)  # the same directory as then: no metadata
            for number, child, expected in self.checks:
                if not _check(paths[number], child, expected):
                    return False
        except OSError:
            return False
        return True

    def entry_points(self, source: Any, paths: list[str], group: str) -> list[Any]:
        """Fresh entry points of a group's rows, as ``_select`` makes them."""
        make = entry_point_maker(source.EntryPoint)[0]
        dist_class = source.PathDistribution
        path_class = _record.PATH_TYPE
        dists: dict[tuple[int, str], Any] = {}
        eps = []
        for number, child, name, value in self.rows:
            dist = dists.get((number, child))
            if dist is None:
                dist = dists[(number, child)] = dist_class(path_class(paths[number], child))
            eps.append(make(name, value, group, dist))
        return eps


AnswersKey = tuple[str, str, str, tuple[str, ...]]

#: (provider, source provider, working directory, sys.path) -> {group: Answer}
_answers: dict[AnswersKey, dict[str, Answer]] = {}

#: The saved answers of each key read in this process.
_saved_answers: dict[str, Any] = {}

#: Keys of the answers learnt in this process, to save.
_unsaved: set[AnswersKey] = set()

#: Keys whose saved answers are not to be kept: an index they may have been
#: made from was found stale (``Stale``), as ``invalidate_caches()`` does for all.
_dropped: set[AnswersKey] = set()


def _forget_saved_answers(module: Any, source: Any) -> None:
    key = _answers_key(module, source, list(sys.path))
    if key is not None:
        _dropped.add(key)
        _unsaved.add(key)
        _record.flush_at_exit()


def _answers_key(module: Any, source: Any, paths: list[str]) -> AnswersKey | None:
    """The key of the answers for ``paths``; the working directory is part of
    it when a relative entry is (``''``: a script's or ``-c``'s directory)."""
    cwd = ""
    for root in paths:
        if type(root) is not str:
            return None
        if not cwd and not root.startswith("/") and not os.path.isabs(root):
            try:
                cwd = os.getcwd()
            except OSError:
                return None
    return provider_id(module), provider_id(source), cwd, tuple(paths)


def _store_key(key: AnswersKey, kind: str) -> str:
    """The store key of the answers of ``kind`` (``g``: groups, ``n``: names):
    two files, so that a group's answer is read without the names'."""
    return f"{_store.DIGESTED}{kind}:{key[0]}:{key[1]}:{key[2]}:" + "\0".join(key[3])


#: At most this many names' answers are kept per ``sys.path``.
MAX_NAMES = 256


def _answer(module: Any, source: Any, paths: list[str], section: str) -> Answer | None:
    """The answer kept (in memory or saved) as ``section`` for this ``sys.path``."""
    key = _answers_key(module, source, paths)
    if key is None:
        return None
    answers = _answers.get(key)
    found = None if answers is None else answers.get(section)
    if found is None and _record.load_saved:
        name = _store_key(key, section[0])
        saved = _saved_answers.get(name)
        if saved is None:
            saved = _saved_answers[name] = _store.load(name) or _store.NOTHING
        try:
            raw = saved.decoded(section)
            if raw is not None:
                found = Answer(*raw)
                _answers.setdefault(key, {})[section] = found
        except Exception:  # replaced since it was opened, or not an answer: none
            found = None
    return found


def _remember(
    module: Any,
    source: Any,
    paths: list[str],
    section: str,
    checks: Any,
    rows: Any,
    upto: int | None = None,
) -> None:
    """Keep the answer just made as ``section`` (and save it at exit), if every
    entry can be replayed: the tables it came from are this process's (entry
    points: ``_indexes``; names: ``_names``) and still of the entry's stamp."""
    tables: Any = _indexes if section.startswith("g:") else _names
    generation = _record.generation_seen()
    if generation is None:
        return  # no store, or tables found stale here: nothing outlives this process
    states: list[Any] = []
    for root in paths[:upto]:
        if type(root) is not str:
            return
        if not os.path.isabs(root):
            try:
                current = stamp(os.stat(root or "."))
            except OSError:
                return
            if current not in _empty_dirs:
                return
            states.append(("relative", current, ()))
            continue
        try:
            st = os.stat(root)
        except (FileNotFoundError, NotADirectoryError):
            states.append(None)
            continue
        key = _record.key_of(root)
        table = tables.get((source.__name__, key))
        if table is None or table.stamp != stamp(st) or not _statmod.S_ISDIR(st.st_mode):
            return  # changed since, or not a table this process holds: not kept
        states.append(("dir", table.stamp, getattr(table, "watch", ())))
    answers_key = _answers_key(module, source, paths)
    if answers_key is None:
        return
    if len(_answers) > 64:
        _answers.clear()
    answers = _answers.setdefault(answers_key, {})
    if section.startswith("n:") and len(answers) >= MAX_NAMES and section not in answers:
        return
    answers[section] = Answer(tuple(states), checks, rows, None, generation)
    _unsaved.add(answers_key)
    _record.flush_at_exit()


def _save_answers() -> None:
    """Save the answers learnt in this process, with those saved before. Never raises."""
    while _unsaved:
        try:
            key = _unsaved.pop()
            answers = _answers.get(key, {})
            for kind in ("g", "n"):
                name = _store_key(key, kind)
                mine = {k: v for k, v in answers.items() if k[0] == kind}
                keep = _record.load_saved and key not in _dropped
                if not mine and keep:
                    continue  # nothing new, nothing to drop
                sections: dict[str, bytes] = {}
                saved = _store.load(name) if keep else None
                if saved is not None:
                    sections.update(saved.items())
                for section, answer in mine.items():
                    extra = _header_memo(key, answer) if kind == "n" else None
                    saved_as = (answer.states, answer.checks, answer.rows, extra, answer.generation)
                    sections[section] = marshal.dumps(saved_as)
                if saved is not None and len(sections) > MAX_NAMES + 64:
                    sections = {k: sections[k] for k in list(sections)[-MAX_NAMES:]}
                _store.save(name, sections)
        except Exception as exc:
            if _log.enabled:
                _log.debug(f"not saving answers: {exc!r}")


_record.savers.append(_save_answers)


def _header_memo(key: AnswersKey, answer: Answer) -> Any:
    """The ``Name``/``Version`` memo this process has of the distribution found."""
    from . import _members

    number, child = answer.rows[0]
    return _members._headers.get(str(_record.PATH_TYPE(key[3][number], child)))


def _find(module: Any, query: tuple[Any, str]) -> Any:
    """The distribution ``Distribution.from_name(name)`` returns, ``None`` or
    ``MISS``; ``source`` is the provider whose finder discovers."""
    source, name = query
    paths = list(sys.path)
    section = "n:" + name
    answer = _answer(module, source, paths, section)
    if answer is not None and answer.rows and answer.holds(paths):
        number, child = answer.rows[0]
        if _log.enabled:
            _log.debug(f"from_name({name!r}): the answer kept for this sys.path")
        path = _record.PATH_TYPE(paths[number], child)
        memo = answer.extra
        if type(memo) is tuple and len(memo) == 2 and type(memo[1]) is dict:
            from . import _members

            _members._headers.setdefault(str(path), memo)  # checked by stamp at each use
        return source.PathDistribution(path)
    prepared = source.Prepared(name)
    for number, root in enumerate(paths):
        table = _names_of(source, root)
        if table is MISS:
            return MISS
        if table is not None:
            child = table.find(prepared)
            if child is not None:
                _remember(module, source, paths, section, (), ((number, child),), number + 1)
                return source.PathDistribution(_record.PATH_TYPE(root, child))
    return None  # not found: the native code raises, with its own context


def _serve(query: Any, module: Any, arg: Any) -> Any:
    """``query(module, arg)``, once more after rebuilding a stale index; ``MISS``
    (the caller answers natively) if it cannot, whatever went wrong."""
    try:
        try:
            return query(module, arg)
        except Stale as stale:
            for cache in CACHES:
                cache.pop(stale.key, None)
            _distrusted.add(stale.key)
            _answers.clear()
            _record.found_stale(index=True)  # every answer kept, here or saved, goes
            if query is _select:  # the answers saved for this sys.path go too
                _forget_saved_answers(module, arg[0])
            if _log.enabled:
                _log.debug(f"the index of {stale.key[1]!r} is stale: rebuilding it")
        return query(module, arg)
    except Exception as exc:  # Stale again included
        if _log.enabled:
            _log.debug(f"{query.__name__}({arg!r}) falls back to the native code: {exc!r}")
        return MISS


def validity(module: Any) -> Any:
    """What a provider's ``Distribution._prefer_valid`` asks of a distribution
    (has it metadata?), as a function; ``None`` for a body not known here.

    Told by the names its code uses: the backport 10 calls
    ``_safe_has_metadata(dist)`` (a ``stat``); 9.x asks for ``dist.metadata``
    and counts only ``MetadataNotFound`` against it (any other error is raised),
    which its ``metadata`` raises when no metadata text is found, before it
    parses one (with the ``email`` parser, which registers defects rather than
    raising): so the texts are read, as natively, and not parsed.
    """
    try:
        names = module.Distribution._prefer_valid.__code__.co_names
    except AttributeError:
        return None
    if names == ("bucket", "_safe_has_metadata", "itertools", "chain"):
        return lambda dist: module._safe_has_metadata(dist)
    known = ("ExceptionTrap", "MetadataNotFound", "passes", "operator", "attrgetter", "bucket")
    not_found: Any = getattr(module, "MetadataNotFound", None)
    if (
        names == (*known, "itertools", "chain")
        and isinstance(not_found, type)
        and issubclass(not_found, Exception)
    ):

        def has_metadata(dist: Any) -> bool:
            try:
                dist.metadata  # noqa: B018 (read for what it raises)
            except not_found:
                return False
            return True

        reads = ("read_text", "_assemble_message", "_ensure_metadata_present")
        try:
            plain = (
                module.Distribution.metadata.fget.__code__.co_names == reads
                and module.Distribution._ensure_metadata_present.__code__.co_names
                == ("MetadataNotFound",)
            )
        except AttributeError:
            plain = False
        if not plain:
            return has_metadata

        def has_metadata_text(dist: Any) -> bool:
            text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or dist.read_text("")
            return text is not None

        return has_metadata_text
    return None


def from_name_method(module: Any, native: Any, valid: Any = None) -> Any:
    """``Distribution.from_name`` finding the distribution through the indexes.

    ``valid``: if the provider's ``from_name`` prefers a distribution with
    metadata (``_prefer_valid``, which keeps their order), what tells one
    (``validity``): the first one found is then the answer only if it has
    metadata; otherwise, or if that raises, the native code answers.
    """
    import functools

    from . import _patch  # imported by now: it is what calls this

    native_func = native.__func__

    @functools.wraps(native_func)
    def from_name(cls: Any, name: str) -> Any:

        # A subclass may discover its own way (its own discover/_discover_resolvers).
        plain = cls is module.Distribution or cls is module.PathDistribution
        source = (
            _source(module) if plain and _patch.enabled and type(name) is str and name else None
        )
        if source is not None:
            dist = _serve(_find, module, (source, name))
            if dist is not MISS and dist is not None:
                if valid is None:
                    return dist
                try:
                    if valid(dist) is True:
                        return dist
                except Exception:  # the native code raises it, or answers otherwise
                    pass
        return native_func(cls, name)

    from_name._imc_wrapped = True  # type: ignore[attr-defined]
    return classmethod(from_name)


#: ``entry_points()`` bodies the indexes reproduce, told apart by the names
#: their code uses, and whether each puts distributions without metadata last:
#: ``_unique(distributions())`` (3.10 inlines ``_unique``; 3.10/3.11 return
#: ``SelectableGroups``) and the backport 10's
#: ``_unique(Distribution._prefer_valid(distributions()))``. Any other body
#: (another version of either provider) is left native.
_ENTRY_POINTS_BODIES = {
    (
        "operator", "attrgetter", "functools", "partial", "unique_everseen", "itertools",
        "chain", "from_iterable", "distributions", "SelectableGroups", "load", "select",
    ): False,
    (
        "itertools", "chain", "from_iterable", "_unique", "distributions",
        "SelectableGroups", "load", "select",
    ): False,
    (
        "itertools", "chain", "from_iterable", "_unique", "distributions", "EntryPoints",
        "select",
    ): False,
    (
        "itertools", "chain", "from_iterable", "_unique", "Distribution", "_prefer_valid",
        "distributions", "EntryPoints", "select",
    ): True,
}  # fmt: skip

#: Provider name -> whether its ``entry_points()`` puts distributions without metadata last.
_kinds: dict[str, bool] = {}


def entry_points_kind(native: Any) -> bool | None:
    """Whether ``native`` (a provider's ``entry_points``) prefers distributions
    with metadata; ``None`` if it is no body the indexes reproduce."""
    try:
        code = native.__code__
        nested = [const.co_names for const in code.co_consts if hasattr(const, "co_names")]
    except AttributeError:
        return None
    if nested != [("entry_points",)]:
        return None
    return _ENTRY_POINTS_BODIES.get(code.co_names)


def entry_points_function(module: Any, native: Any, prefers_valid: bool) -> Any:
    """``module.entry_points`` answering from the indexes when it can."""
    import functools

    from . import _patch  # imported by now: it is what calls this

    _kinds[module.__name__] = prefers_valid

    @functools.wraps(native)
    def entry_points(**params: Any) -> Any:

        source = _source(module) if _patch.enabled else None
        if source is not None:
            result = _serve(_select, module, (source, params))
            if result is not MISS:
                return result
        return native(**params)

    entry_points._imc_wrapped = True  # type: ignore[attr-defined]
    return entry_points
