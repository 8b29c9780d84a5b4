"""Stamps, and the one rule that decides whether a cached answer still holds.

A *stamp* is the fingerprint of a file or directory taken from one ``stat``:
``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)``. Integer nanoseconds,
never floats (stevedore packs float32 mtimes: a 128 s blind window). The inode
and ctime catch what mtime alone misses: a directory replaced by another with
the same mtime (``cp -p``, ``tar``, ``os.utime``), a re-pointed symlink, a
``chmod``. ``st_ctime`` cannot be set back from user space.

The racy-timestamp rule (as in git): a stamp observed at time ``t`` is
*settled* only if both its mtime and ctime are older than ``t`` by the settle
window. A file changed within the window could change again within the same
timestamp tick without its stamp changing, so an unsettled stamp never lets a
cached answer be served: the next query looks again. The default window (2 s)
covers FAT, HFS+, ext3 and NFS timestamp granularities.
"""

from __future__ import annotations

import os
import time

from . import _env

__all__ = ["Stamp", "now", "settled", "stamp"]

Stamp = tuple[int, int, int, int, int]

#: The racy-timestamp window in ns (``IMPORTLIB_METADATA_CACHE_SETTLE_MS``).
SETTLE_NS = _env.settle_ns()

now = time.time_ns


def stamp(st: os.stat_result) -> Stamp:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def settled(value: Stamp, observed_at: int) -> bool:
    """Whether ``value``, seen at ``observed_at`` (ns), can vouch for a cache entry.

    A time in the future (clock skew, ``touch -d tomorrow``) is never settled.
    """
    limit = observed_at - SETTLE_NS
    return value[3] < limit and value[4] < limit
