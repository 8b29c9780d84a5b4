"""Activation: the only code that runs at interpreter start.

``activate()`` is called by ``importlib_metadata_cache.pth`` (and, on Python
3.15+, by ``importlib_metadata_cache.start``, PEP 829). It must stay cheap and
safe in every process of the environment:

* it imports ``os`` and ``sys`` (already loaded by ``site``) and nothing else:
  nothing of ``importlib.metadata``, ``threading``, ``json`` ...;
* it is idempotent (a site directory can be on ``sys.path`` twice, and both
  the ``.pth`` and the ``.start`` file may run);
* it never raises.

It installs a tiny post-import hook on ``sys.meta_path``: when
``importlib.metadata`` or the ``importlib_metadata`` backport is imported, the
provider is patched right after its module body ran (at once if it is already
imported). Everything heavier lives in ``_patch`` and is imported only then.
"""

import os
import sys

# No ``from __future__ import annotations`` and no ``typing`` at runtime: both
# would be imported at every interpreter start. Annotations are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["activate", "deactivate", "is_active", "reason"]

#: Values of ``IMPORTLIB_METADATA_CACHE`` that turn the cache off (any case).
OFF = ("0", "false", "off", "no")


def enabled(environ: "Mapping[str, str]" = os.environ) -> bool:
    """Whether the off switch is absent or says on (see ``_env`` for every variable)."""
    value = environ.get("IMPORTLIB_METADATA_CACHE")
    return value is None or value.strip().lower() not in OFF


#: The module names of the providers we patch.
WATCHED = ("importlib.metadata", "importlib_metadata")

_finder: "_PostImportFinder | None" = None
_reason = "activate() was never called (is the .pth file installed in a site dir?)"


def is_active() -> bool:
    """Whether the cache is active in this interpreter."""
    return _finder is not None


def reason() -> str:
    """Why the cache is active or not, in one sentence."""
    return _reason


def activate() -> None:
    """Turn the cache on for this interpreter, unless the off switch says no."""
    global _finder, _reason
    try:
        if _finder is not None:
            return
        if not enabled():
            _reason = "IMPORTLIB_METADATA_CACHE turns it off"
            return
        finder = _PostImportFinder()
        finder._imc_package = sys.modules.get(__package__)
        sys.meta_path.insert(0, finder)
        _finder = finder
        _reason = "activated"
        for name in WATCHED:
            module = sys.modules.get(name)
            if module is not None:
                _patch_provider(module)
    except Exception as exc:  # nothing of ours may raise at startup
        _reason = f"activation failed: {exc!r}"


def deactivate() -> None:
    """Undo ``activate()``: remove the hook and restore every patched provider."""
    global _finder, _reason
    finder, _finder = _finder, None
    if finder is not None:
        try:
            sys.meta_path.remove(finder)
        except ValueError:
            pass
    _reason = "deactivate() was called"
    patch = sys.modules.get(__package__ + "._patch")
    if patch is not None:
        patch.unpatch_all()


def _patch_provider(module: "Any") -> None:
    try:
        from . import _patch

        _patch.patch_provider(module)
    except Exception as exc:
        try:
            from . import _log

            _log.debug(f"could not patch {getattr(module, '__name__', module)}: {exc!r}")
        except Exception:
            pass


class _PostImportFinder:
    """Finds nothing itself; wraps the loader of a watched provider.

    The early exit (a tuple membership test) is all that other imports pay.
    """

    def __init__(self) -> None:
        self._busy: set[str] = set()
        # The live package, for the next import of it after a purge (see __init__).
        self._imc_package: Any = None

    def find_spec(self, fullname: str, path: "Any" = None, target: "Any" = None) -> "Any":
        if fullname not in WATCHED or fullname in self._busy:
            return None
        self._busy.add(fullname)
        try:
            spec = None
            for finder in list(sys.meta_path):
                if finder is self:
                    continue
                find_spec = getattr(finder, "find_spec", None)
                if find_spec is None:
                    continue
                spec = find_spec(fullname, path, target)
                if spec is not None:
                    break
        except Exception:
            # Let the import system search on its own and report any error.
            return None
        finally:
            self._busy.discard(fullname)
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(spec.loader)
        return spec

    def invalidate_caches(self) -> None:
        """Nothing to drop here; the cache listens on the path finders."""


class _PatchingLoader:
    """Runs the real loader, puts it back in place, then patches the module."""

    def __init__(self, loader: "Any") -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> "Any":
        return getattr(self._loader, name)

    def create_module(self, spec: "Any") -> "Any":
        create = getattr(self._loader, "create_module", None)
        return None if create is None else create(spec)

    def exec_module(self, module: "Any") -> None:
        try:
            self._loader.exec_module(module)
        finally:
            # Hide ourselves: the module must look as if imported natively.
            if getattr(module, "__loader__", None) is self:
                module.__loader__ = self._loader
            spec = getattr(module, "__spec__", None)
            if spec is not None and getattr(spec, "loader", None) is self:
                spec.loader = self._loader
        _patch_provider(module)
