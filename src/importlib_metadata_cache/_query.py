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

It serves only the plain case: the standard library's path finder is the one
resolver on ``sys.meta_path`` (no backport finder, no third-party finder), and
every entry is a directory whose index could be built and trusted. Anything
else (a zip, a distribution whose name needs its ``METADATA``, a file that does
not parse, something changed within the settle window) takes the native path.

Freshness: an index is tied to its entry's record (its stamp and listing);
``*.egg-info`` distributions, which legacy tools rewrite in place, are re-stated
file by file at every query. A file rewritten in place inside a ``*.dist-info``
(no installer does that) is not seen until the entry changes or
``importlib.invalidate_caches()``; ``read_text`` and the per-distribution
members still see it at once.
"""

from __future__ import annotations

import os
import stat as _statmod
import sys
from typing import Any

from . import _log, _record
from ._stamp import Stamp, now, settled, stamp

__all__ = ["entry_points_function"]

MISS = _record.MISS


class Index:
    """What ``entry_points()`` needs of one directory entry, for one provider."""

    __slots__ = ("all", "groups", "names", "paths", "stamp", "watch")

    def __init__(
        self,
        stamp_: Stamp,
        paths: tuple[Any, ...],
        all_: tuple[tuple[str, bool, tuple[tuple[str, str, str], ...]], ...],
        watch: tuple[tuple[str, Stamp | None], ...],
    ) -> None:
        self.stamp = stamp_
        self.paths = paths  # the native Lookup's Path objects, in order
        self.all = all_  # per distribution: (normalised name, first here?, triples)
        self.watch = watch  # files of legacy egg-info dists, re-stated each query
        self.names = frozenset(name for name, _first, _eps in all_)
        groups: dict[str, list[tuple[int, str, str]]] = {}
        for ordinal, (_name, first, eps) in enumerate(all_):
            if first:
                for ep_name, value, group in eps:
                    groups.setdefault(group, []).append((ordinal, ep_name, value))
        self.groups = {g: tuple(v) for g, v in groups.items()}

    def fresh(self) -> bool:
        for path, expected in self.watch:
            try:
                current: Stamp | None = stamp(os.stat(path))
            except FileNotFoundError:
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


def _build(module: Any, record: Any, lookup: Any) -> Index | None:
    """Scan the distributions of one entry; ``None`` if it cannot be trusted."""
    observed_at = now()
    paths = tuple(lookup.search(module.Prepared(None)))
    name_from_stem = module.PathDistribution._name_from_stem
    normalize = module.Prepared.normalize
    from_text = module.EntryPoints._from_text
    all_: list[tuple[str, bool, tuple[tuple[str, str, str], ...]]] = []
    watch: list[tuple[str, Stamp | None]] = []
    seen: set[str] = set()
    for path in paths:
        where = str(path)
        base = os.path.basename(where)
        stem_name = name_from_stem(base)
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
        if not base.lower().endswith(".dist-info"):
            watch.append((where, dist_stamp))
            watch.append((eps_file, eps_stamp))
        triples = tuple((ep.name, ep.value, ep.group) for ep in from_text(text))
        all_.append((name, name not in seen, triples))
        seen.add(name)
    return Index(record.stamp, paths, tuple(all_), tuple(watch))


#: (provider name, record key) -> Index
_indexes: dict[tuple[str, str], Index] = {}


def clear() -> None:
    _indexes.clear()


def _index(module: Any, root: object) -> Any:
    """The index of ``root``, ``None`` if it holds nothing, or ``MISS``."""
    if type(root) is not str:
        return MISS
    if not os.path.isabs(root):
        return _relative(module, root)
    name = module.__name__
    lookup = _record.lookup_for(root, name, module.Lookup)
    if lookup is MISS:
        try:
            os.stat(root)
        except (FileNotFoundError, NotADirectoryError):
            return None  # natively: no listing, no zip, nothing
        return MISS
    key = _record.key_of(root)
    record = _record.records.get(key)
    if record is None or not record.trusted:
        return MISS
    index = _indexes.get((name, key))
    if index is not None and index.stamp == record.stamp and index.fresh():
        return index
    index = _build(module, record, lookup)
    if index is None:
        return MISS
    _indexes[(name, key)] = index
    return index


def _relative(module: Any, root: str) -> Any:
    """``''`` and relative entries: fine while they hold no metadata at all."""
    try:
        children = os.listdir(root or ".")
    except OSError:
        return MISS
    for child in children:
        if child.lower().endswith((".dist-info", ".egg-info")):
            return MISS
    if os.path.basename(root).lower().endswith(".egg"):
        return MISS
    return None


def _stdlib_resolver_only(module: Any) -> bool:
    """Whether the stdlib path finder is the one ``find_distributions`` resolver."""
    if module.__name__ != "importlib.metadata":
        return False
    path_finder = sys.modules["_frozen_importlib_external"].PathFinder
    expected = getattr(path_finder, "find_distributions", None)
    if expected is None:
        return False
    resolvers = list(module.Distribution._discover_resolvers())
    return len(resolvers) == 1 and resolvers[0] is expected


def _select(module: Any, params: dict[str, Any]) -> Any:
    group_only = list(params) == ["group"] and type(params["group"]) is str
    group = params.get("group")
    entry_point = module.EntryPoint
    dist_class = module.PathDistribution
    seen: list[frozenset[str]] = []
    eps: list[Any] = []
    for root in list(sys.path):
        index = _index(module, root)
        if index is MISS:
            return MISS
        if index is None:
            continue
        dists: dict[int, Any] = {}
        if group_only:
            for ordinal, ep_name, value in index.groups.get(group, ()):
                name = index.all[ordinal][0]
                if any(name in names for names in seen):
                    continue
                dist = dists.get(ordinal)
                if dist is None:
                    dist = dists[ordinal] = dist_class(index.paths[ordinal])
                eps.append(entry_point(name=ep_name, value=value, group=group)._for(dist))
        else:
            for ordinal, (name, first, triples) in enumerate(index.all):
                if not first or not triples or any(name in names for names in seen):
                    continue
                dist = dist_class(index.paths[ordinal])
                eps.extend(entry_point(name=n, value=v, group=g)._for(dist) for n, v, g in triples)
        if index.names:
            seen.append(index.names)
    if hasattr(module, "SelectableGroups"):  # 3.10, 3.11
        return module.SelectableGroups.load(eps).select(**params)
    return module.EntryPoints(eps).select(**params)


def entry_points_function(module: Any, native: Any) -> Any:
    """``module.entry_points`` answering from the indexes when it can."""
    import functools

    @functools.wraps(native)
    def entry_points(**params: Any) -> Any:
        from . import _patch

        if _patch.enabled and _stdlib_resolver_only(module):
            try:
                result = _select(module, params)
            except Exception as exc:
                if _log.enabled:
                    _log.debug(f"entry_points() falls back to the native code: {exc!r}")
                result = MISS
            if result is not MISS:
                return result
        return native(**params)

    entry_points._imc_wrapped = True  # type: ignore[attr-defined]
    return entry_points
