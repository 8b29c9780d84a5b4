"""A transparent cache in front of ``importlib.metadata``.

Installed, it activates itself from a ``.pth`` file; nothing here needs to be
called. This module imports nothing at all: it is imported at every interpreter
start, so the public names below are resolved lazily (PEP 562).
"""

__all__ = ["__version__", "activate", "deactivate", "is_active", "status"]

__version__ = "0.1.0.dev0"


def __getattr__(name: str) -> object:
    if name in ("activate", "deactivate", "is_active"):
        from . import _startup

        return getattr(_startup, name)
    if name == "status":
        from . import _status

        return _status.status
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
