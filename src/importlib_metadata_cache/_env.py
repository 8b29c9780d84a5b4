"""Every environment variable this package reads: name, default, parser, doc.

This table is the source of the README's table. Imports ``os`` only and never
raises.

It is imported by the modules that run after activation, never at interpreter
start. The variables are read even under ``python -E`` / ``-I``: those flags tell the
interpreter to ignore ``PYTHON*`` variables, and an off switch that stopped
working in isolated mode would be a trap (see README, "Interpreter modes").
"""

import os

from ._startup import OFF as _OFF
from ._startup import enabled as _startup_enabled

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["VARIABLES", "cache_dir", "debug", "enabled", "settle_ns"]


#: (name, default, one-line doc), in the order the README lists them.
VARIABLES = (
    (
        "IMPORTLIB_METADATA_CACHE",
        "1",
        "`0`, `false`, `off` or `no` (any case) turns the cache off: every query "
        "takes the uncached path. Anything else, or unset, leaves it on.",
    ),
    (
        "IMPORTLIB_METADATA_CACHE_DEBUG",
        "unset",
        "`1` prints one line per cache decision (hit, miss and why, fallback and why) on stderr.",
    ),
    (
        "IMPORTLIB_METADATA_CACHE_DIR",
        "platformdirs' user cache dir",
        "Where persisted records live (used from the persistence release on).",
    ),
    (
        "IMPORTLIB_METADATA_CACHE_SETTLE_MS",
        "2000",
        "How old (in ms) a file or directory stamp must be before the cache trusts "
        "it. Anything changed more recently is re-read (the racy-timestamp rule). "
        "Lower it only on file systems with fine timestamps, e.g. in tests.",
    ),
)


# The off switch is parsed by ``_startup`` (it alone runs at interpreter start,
# and one module fewer there is measurable); it is listed in the table above.
enabled = _startup_enabled


def debug(environ: "Mapping[str, str]" = os.environ) -> bool:
    value = environ.get("IMPORTLIB_METADATA_CACHE_DEBUG", "")
    return value.strip().lower() not in ("", *_OFF)


def cache_dir(environ: "Mapping[str, str]" = os.environ) -> "str | None":
    return environ.get("IMPORTLIB_METADATA_CACHE_DIR") or None


def settle_ns(environ: "Mapping[str, str]" = os.environ) -> int:
    """The racy-timestamp window in ns; a bad value means the default."""
    try:
        ms = float(environ.get("IMPORTLIB_METADATA_CACHE_SETTLE_MS", "2000"))
    except ValueError:
        ms = 2000.0
    if not ms >= 0:  # also rejects NaN
        ms = 2000.0
    return int(ms * 1_000_000)
