"""Applies and undoes the patches on each provider; idempotent.

A *provider* is a module that implements the path-based metadata finder:
``importlib.metadata`` (stdlib) or ``importlib_metadata`` (the backport, also
when setuptools' vendored copy is imported under that name). Only its two
lowest layers are replaced, so that each provider's own code still builds the
order, dedup, types, warnings and errors of every public API:

* ``FastPath.search``: the per-entry listing comes from the record
  (``_record.lookup_for``) instead of a fresh ``os.listdir``;
* ``PathDistribution.read_text``: the small metadata files come from the
  record (``_record.read_text``) instead of being re-read and re-decoded.

This works in either import order: the backport deletes
``PathFinder.find_distributions`` and appends its own finder, but that finder
searches with the backport's ``FastPath`` and builds the backport's
``PathDistribution``, which are patched too. No finder is added, so nothing
is ever reported twice; third-party finders are left alone.

``importlib.invalidate_caches()`` drops the in-memory records on every
supported version: the path finder's ``invalidate_caches`` is wrapped, since on
3.10-3.12.2 it does not reach the metadata finder at all.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from . import _log, _members, _query, _record

__all__ = ["enabled", "patch_provider", "patched", "unpatch_all"]

#: Flipped off by tests and ``verify`` to get the native answers in-process.
enabled = True

#: provider module name -> the module object that was patched
patched: dict[str, Any] = {}

#: (owner, attribute, original descriptor), in the order they were replaced
_undo: list[tuple[Any, str, Any]] = []


def patch_provider(module: Any) -> None:
    """Patch ``module`` (idempotent; a reloaded module is patched again)."""
    name = module.__name__
    fast_path = module.FastPath
    if getattr(vars(fast_path).get("search"), "_imc_wrapped", False):
        return  # already done; importlib.reload() makes new classes, patched anew
    earlier = patched.get(name)
    if earlier is not None and getattr(earlier, "__file__", None) != getattr(
        module, "__file__", None
    ):
        # Another copy under the same name (sys.modules emptied, another path):
        # the tables kept in memory are filed by name, so it is left native.
        if _log.enabled:
            _log.debug(f"not patching {name} from {module.__file__!r}: another copy is patched")
        return
    lookup = module.Lookup
    dist = module.PathDistribution
    finder = module.MetadataPathFinder
    search = vars(fast_path)["search"]
    read_text = vars(dist)["read_text"]
    if not (callable(search) and callable(read_text) and callable(lookup)):
        raise TypeError(f"{name} does not have the expected shape")
    _query.remember_native(module)
    order_section = f"order:{_query.provider_id(module)}"
    _replace(fast_path, "search", _cached_search(name, search, lookup, order_section))
    reader = _cached_read_text(read_text)
    _replace(dist, "read_text", reader)
    base = module.Distribution
    _replace(
        dist, "entry_points", _members.entry_points_property(module, base.entry_points, reader)
    )
    for header in ("name", "version"):
        _replace(
            dist, header, _members.header_property(module, getattr(base, header), header.title())
        )
    real_email = vars(module).get("email")
    if real_email is not None and hasattr(real_email, "message_from_string"):
        _replace(module, "email", _members.MemoisedEmail(real_email, module))
    deprecated_non_abstract = getattr(module, "DeprecatedNonAbstract", None)
    if deprecated_non_abstract is not None and deprecated_non_abstract in dist.__mro__:
        _replace(dist, "__new__", _members.fast_new(module))
    kind = _query.entry_points_kind(module.entry_points)
    if kind is not None:
        _replace(
            module, "entry_points", _query.entry_points_function(module, module.entry_points, kind)
        )
    if name == "importlib.metadata":
        _replace(
            module,
            "packages_distributions",
            _packages_function(module, module.packages_distributions),
        )
    native_from_name = vars(base).get("from_name")
    if isinstance(native_from_name, classmethod):
        if not hasattr(base, "_prefer_valid"):
            _replace(base, "from_name", _query.from_name_method(module, native_from_name))
        elif name != "importlib.metadata":
            # The backport (9+) prefers a distribution with metadata over the
            # first one found by name; ``validity`` says how it tells them.
            # (CPython 3.15's own, untested here, is left native.)
            valid = _query.validity(module)
            if valid is not None:
                _replace(
                    base, "from_name", _query.from_name_method(module, native_from_name, valid)
                )
    _wrap_invalidate(finder)
    _wrap_invalidate(_path_finder())
    patched[name] = module
    if _log.enabled:
        _log.debug(f"patched {name} ({getattr(module, '__file__', '?')})")


def _packages_function(module: Any, native: Any) -> Any:
    """``packages_distributions``, whose fast path is imported at its first call."""

    @functools.wraps(native)
    def packages_distributions() -> Any:
        from . import _packages

        return _packages.answer(module, native)

    packages_distributions._imc_wrapped = True  # type: ignore[attr-defined]
    return packages_distributions


def unpatch_all() -> None:
    """Restore every patched attribute and drop the records."""
    while _undo:
        owner, attr, original = _undo.pop()
        if original is _INHERITED:
            delattr(owner, attr)
        else:
            setattr(owner, attr, original)
    patched.clear()
    clear_memory()


def clear_memory(distrust_saved: bool = False) -> None:
    """Drop every in-memory layer (records, memos, indexes).

    ``distrust_saved`` (``importlib.invalidate_caches()``): also rebuild records
    from the disk instead of loading saved ones, for the rest of the process.
    """
    _record.clear(distrust_saved)
    _members.clear()
    _query.clear()
    packages = sys.modules.get(f"{__package__}._packages")
    if packages is not None:
        packages.clear()


def _replace(owner: Any, attr: str, new: Any) -> None:
    """Set ``owner.attr``; undone by deleting it if it was only inherited."""
    _undo.append((owner, attr, vars(owner).get(attr, _INHERITED)))
    setattr(owner, attr, new)


_INHERITED = object()


def _path_finder() -> Any:
    return sys.modules["_frozen_importlib_external"].PathFinder


def _wrap_invalidate(owner: Any) -> None:
    """Make ``owner.invalidate_caches`` drop our records too, keeping its kind.

    On 3.10 the stdlib metadata finder's method is a plain function (calling it
    on the class raises ``TypeError``); it stays one, so that error stays too.
    """
    original = vars(owner).get("invalidate_caches")
    if original is None or getattr(original, "_imc_wrapped", False):
        return
    func = getattr(original, "__func__", original)
    if getattr(func, "_imc_wrapped", False):
        return

    @functools.wraps(func)
    def invalidate_caches(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        finally:
            clear_memory(distrust_saved=True)

    invalidate_caches._imc_wrapped = True  # type: ignore[attr-defined]
    if isinstance(original, classmethod):
        new: Any = classmethod(invalidate_caches)
    elif isinstance(original, staticmethod):
        new = staticmethod(invalidate_caches)
    else:
        new = invalidate_caches
    _replace(owner, "invalidate_caches", new)


def _cached_search(provider: str, native: Any, lookup_class: Any, order_section: str) -> Any:
    lookup_for = _record.lookup_for
    every_path = _record.every_path
    miss = _record.MISS

    @functools.wraps(native)
    def search(self: Any, prepared: Any) -> Any:
        if enabled:
            if not prepared:  # every distribution: ``distributions()``
                paths = every_path(self.root, provider, order_section, lookup_class, prepared)
                if paths is not miss:
                    return paths
            lookup = lookup_for(self.root, provider, lookup_class)
            if lookup is not miss:
                return lookup.search(prepared)
        return native(self, prepared)

    search._imc_wrapped = True  # type: ignore[attr-defined]
    return search


def _cached_read_text(native: Any) -> Any:
    read_cached = _record.read_text
    cached_files = _record.CACHED_FILES
    miss = _record.MISS

    @functools.wraps(native)
    def read_text(self: Any, filename: Any) -> Any:
        if enabled and type(filename) is str and filename in cached_files:
            text = read_cached(vars(self).get("_path"), filename)
            if text is not miss:
                return text
        return native(self, filename)

    read_text._imc_wrapped = True  # type: ignore[attr-defined]
    return read_text
