"""The debug trace: one line per cache decision on stderr.

Enabled by ``IMPORTLIB_METADATA_CACHE_DEBUG=1``. Callers test ``_log.enabled``
before formatting a message, so the trace costs one attribute read when off.
Never raises.
"""

from __future__ import annotations

import sys

from . import _env

__all__ = ["debug", "enabled"]

enabled = _env.debug()


def debug(message: str) -> None:
    if not enabled:
        return
    try:
        sys.stderr.write(f"importlib-metadata-cache: {message}\n")
    except Exception:  # a closed or broken stderr must not break the program
        pass
