"""A transparent cache in front of ``importlib.metadata``.

Installed, it activates itself from a ``.pth`` file; nothing here needs to be
called. This module imports nothing at all: it is imported at every interpreter
start, so the public names below are resolved lazily (PEP 562).
"""

__all__ = ["__version__", "activate", "deactivate", "is_active", "status"]

__version__ = "0.1.0.dev0"

# Some test suites purge every module whose name starts with "importlib_metadata"
# from sys.modules (importlib_metadata's own conftest does), which would import a
# second, empty copy of this package beside the live one. The active hook keeps
# the live package: hand it back, with its submodules, instead of a copy. (The
# import system returns whatever sys.modules holds once this body has run.)
import sys as _sys

for _finder in _sys.meta_path:
    _live = getattr(_finder, "_imc_package", None)
    if _live is not None:
        if _live is not _sys.modules.get(__name__):
            _sys.modules[__name__] = _live
            for _value in list(vars(_live).values()):
                if type(_value) is type(_sys) and _value.__name__.startswith(__name__ + "."):
                    _sys.modules[_value.__name__] = _value
        break
del _sys, _finder


def __getattr__(name: str) -> object:
    if name in ("activate", "deactivate", "is_active"):
        from . import _startup

        return getattr(_startup, name)
    if name == "status":
        from . import _status

        return _status.status
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
