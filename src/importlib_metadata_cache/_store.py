"""Persistence: where records live, their file format, trust checks, atomic writes.

Location: ``IMPORTLIB_METADATA_CACHE_DIR`` if set (absolute), else the user cache
directory as ``platformdirs.user_cache_dir("importlib-metadata-cache")`` spells
it, computed here (importing platformdirs costs 6-8 ms, more than a whole warm
query; ``tests/test_store.py`` compares the two). No usable location (HOME unset
with an unknown uid, a relative path): memory only.

One file per ``sys.path`` entry and interpreter, named after the entry's path,
holding one record made of named *sections* (bytes). The format is ``marshal``
(the format of ``.pyc`` files: measured 3x faster to load than JSON for a
500-distribution record, no pickle): ``MAGIC``, the length of the head and its
CRC-32 (4 bytes each, little-endian), the head (the marshalled tuple ``(key,
tag, toc)``, ``toc`` giving each section's offset, length and CRC-32), then the
sections, smallest first. Every section read is checked against its CRC (a
bucket of a memo against the CRC its memo's table gives): a bit flipped on the
disk would otherwise decode to another name or import path, a wrong answer; a
file that fails a check is a miss, and is removed.
A query reads the head and the few sections it needs, not the whole file (the
file grows with the number of distributions; a query for one group must not):
``load`` reads the first ``PREFIX`` bytes, and a section beyond them is read
later from the same file (same device, inode, size and mtime, checked again).
A file that is truncated, garbage, of another format or for another key is a miss.

Trust (a poisoned record is code execution: entry points are import paths that
programs ``load()``): the directory and the file must be owned by the effective
user, not writable by group or others, and not symlinks; files are opened with
``O_NOFOLLOW`` relative to a directory descriptor that was checked first. Files
are created 0600 in a 0700 directory.

Writes go to a temporary file in the same directory and are ``os.replace``\\ d into
place: readers see the old or the new file, never a torn one; concurrent writers
never block each other (last one wins). A process whose write fails (read-only or
full disk, a foreign directory) stops trying for the rest of its life.

Never raises: every failure is a miss or a skipped write, traced in debug mode.
"""

from __future__ import annotations

import marshal
import os
import stat as _statmod
import sys
import time
from typing import Any

try:  # already imported by importlib.metadata (zipfile), as binascii is
    from zlib import crc32
except ImportError:  # a Python built without zlib
    from binascii import crc32

from . import _env, _log

__all__ = [
    "FORMAT",
    "Saved",
    "cache_dir",
    "crc32",
    "entries",
    "load",
    "remove",
    "save",
    "site_dir",
]

APP = "importlib-metadata-cache"
FORMAT = 9
MAGIC = b"IMC-RECORD\x00" + bytes([FORMAT])
#: Where the head starts: after ``MAGIC``, its length and its CRC-32.
HEAD_AT = len(MAGIC) + 8
TAG = f"{sys.implementation.cache_tag}-{sys.hexversion:x}"
SUFFIX = f".{TAG}.rec"

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
# A FIFO planted where a record should be must not block the open.
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_POSIX = os.name == "posix"

#: Set once a write failed: this process stops trying (no retry storm).
_writes_disabled = False
_resolved: list[str | None] = []


def _home(environ: Any) -> str | None:
    """``$HOME`` if absolute, else the passwd entry's home (as platformdirs does)."""
    home = environ.get("HOME", "")
    if os.path.isabs(home):
        return str(home)
    try:
        import pwd

        home = pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError):  # an arbitrary uid with no passwd entry
        return None
    return home if os.path.isabs(home) else None


def default_dir(environ: Any = os.environ) -> str | None:
    """The user cache directory, as platformdirs would name it, or ``None``."""
    if sys.platform == "win32":
        base = environ.get("LOCALAPPDATA", "")
        return os.path.join(base, APP, "Cache") if os.path.isabs(base) else None
    home = _home(environ)
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches", APP) if home else None
    base = environ.get("XDG_CACHE_HOME", "").strip()
    if not os.path.isabs(base):  # unset, empty or relative: the XDG default
        if home is None:
            return None
        base = os.path.join(home, ".cache")
    return os.path.join(base, APP)


def cache_dir() -> str | None:
    """Where this process persists records (resolved once), or ``None``."""
    if not _resolved:
        try:
            chosen = _env.cache_dir()
            if chosen is not None and not os.path.isabs(chosen):
                _log.debug(f"IMPORTLIB_METADATA_CACHE_DIR={chosen!r} is not absolute: memory only")
                chosen = None
            elif chosen is None:
                chosen = default_dir()
        except Exception as exc:
            _log.debug(f"no cache directory ({exc!r}): memory only")
            chosen = None
        _resolved.append(chosen)
    return _resolved[0]


_names: dict[str, str] = {}


def file_name(key: str) -> str:
    """A file name for the record of ``key`` (an absolute directory path)."""
    name = _names.get(key)
    if name is None:
        name = _names[key] = _file_name(key)
    return name


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/")


#: Keys of files that are not a directory's record (``_query``'s saved answers,
#: keyed by a whole ``sys.path``): named after a digest, the key inside decides.
DIGESTED = "answers:"


def _file_name(key: str) -> str:
    if key.startswith(DIGESTED):  # a digest in C: the key is long and not plain
        digest = int.from_bytes(key.encode("utf-8", "surrogatepass"), "little")
        return f"answers-{digest % 18446744073709551557:016x}{SUFFIX}"
    if _PLAIN.issuperset(key):  # the common case, without a loop in Python
        return _shortened(key, key.replace("/", "%2F"))
    safe = []
    for ch in key:
        if ch.isascii() and (ch.isalnum() or ch in "._-"):
            safe.append(ch)
        else:
            safe.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    return _shortened(key, "".join(safe))


def _shortened(key: str, name: str) -> str:
    if len(name) > 150:  # keep within NAME_MAX with the suffix; the key inside decides
        name = f"{name[:100]}~{_fnv64(key):016x}"
    return name + SUFFIX


def _fnv64(text: str) -> int:
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8", "surrogatepass"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def site_dir() -> str:
    """The read-only record set inside this environment (``warm --site``)."""
    return os.path.join(sys.prefix, "share", APP)


def _trusted(st: os.stat_result, site: bool = False) -> bool:
    """Owned by us (or by root, for the site set) and writable by nobody else."""
    if not _POSIX:
        return True
    owners = (os.geteuid(), 0) if site else (os.geteuid(),)
    return st.st_uid in owners and not st.st_mode & 0o022


def _open_dir(path: str, site: bool = False) -> int | None:
    """A descriptor of ``path`` if it is a trusted real directory, else ``None``."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if _statmod.S_ISDIR(st.st_mode) and _trusted(st, site):
            return fd
        if _log.enabled:
            _log.debug(f"ignoring {path!r}: not a private directory of this user")
    except OSError:
        pass
    os.close(fd)
    return None


def load(key: str) -> Saved | None:
    """The sections saved for ``key`` by this interpreter, or ``None``.

    The user's store first, then the environment's read-only site set.
    """
    root = cache_dir()
    saved = None if root is None else _load_from(root, key, site=False)
    if saved is None:
        saved = _load_from(site_dir(), key, site=True)
    return saved


#: Roots whose directory passed the trust check in this process.
_checked_dirs: dict[str, bool] = {}


def _dir_ok(root: str, site: bool) -> bool:
    """The directory check, once per process (the file check runs every time)."""
    ok = _checked_dirs.get(root)
    if ok is None:
        fd = _open_dir(root, site)
        ok = fd is not None
        if fd is not None:
            os.close(fd)
        if ok:  # a missing directory may appear later; remember only success
            _checked_dirs[root] = True
    return ok


#: Bytes read when a file is opened: the head and the small sections.
PREFIX = 16384


def pack(key: str, sections: dict[str, bytes], tag: str = TAG) -> bytes:
    """A record file: ``MAGIC``, the head's length and CRC, the head, the sections."""
    toc: dict[str, tuple[int, int, int]] = {}
    offset = 0
    for name in sorted(sections, key=lambda n: len(sections[n])):
        data = sections[name]
        toc[name] = (offset, len(data), crc32(data))
        offset += len(data)
    head = marshal.dumps((key, tag, toc))
    body = b"".join(sections[name] for name in toc)
    sizes = len(head).to_bytes(4, "little") + crc32(head).to_bytes(4, "little")
    return b"".join((MAGIC, sizes, head, body))


def head_size(data: bytes) -> int:
    """How many bytes of the file hold ``MAGIC``, the sizes and the head (0: not ours)."""
    if not data.startswith(MAGIC) or len(data) < HEAD_AT:
        return 0
    return HEAD_AT + int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "little")


def unpack_head(data: bytes) -> tuple[Any, Any, Any, int]:
    """``(key, tag, toc, where the sections start)`` of a record file's beginning."""
    if not data.startswith(MAGIC):
        raise ValueError(f"not a record of format {FORMAT}")
    end = head_size(data)
    if end == 0 or len(data) < end:
        raise ValueError("truncated head")
    head = data[HEAD_AT:end]
    if crc32(head) != int.from_bytes(data[len(MAGIC) + 4 : HEAD_AT], "little"):
        raise ValueError("the head fails its checksum")
    key, tag, toc = marshal.loads(head)
    return key, tag, toc, end


class Saved:
    """The sections of one saved record file, each read when first asked for."""

    __slots__ = (
        "_all",
        "_broken",
        "_decoded",
        "_ident",
        "_path",
        "_prefix",
        "_reads",
        "_site",
        "_start",
        "_toc",
    )

    def __init__(
        self, path: str, site: bool, ident: tuple[int, ...], prefix: bytes, toc: Any, start: int
    ) -> None:
        self._path = path
        self._site = site
        self._ident = ident
        self._prefix = prefix
        self._toc: dict[str, tuple[int, int, int]] = toc
        self._start = start
        self._broken = False
        self._decoded: dict[str, Any] = {}
        self._all: dict[str, bytes] | None = None
        # family of sections -> how many were read one by one, or (where it
        # starts in the file, all of it) once read whole
        self._reads: dict[str, int | tuple[int, bytes]] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._toc

    @property
    def path(self) -> str:
        """The file's path (``""`` for ``NOTHING``)."""
        return self._path

    @property
    def ident(self) -> tuple[int, ...]:
        """The file's ``(st_dev, st_ino, st_size, st_mtime_ns)`` when it was opened."""
        return self._ident

    def names(self) -> list[str]:
        return list(self._toc)

    def get(self, name: str) -> bytes | None:
        """The bytes of section ``name``; ``None`` if there is none.

        Raises ``OSError`` if the file changed since it was opened (the caller
        answers natively): its sections are no longer those of this head; or
        if the section fails its checksum (the file is then removed).
        """
        where = self._toc.get(name)
        if where is None:
            return None
        if self._all is not None:  # checked when read
            return self._all[name]
        start = self._start + where[0]
        end = start + where[1]
        if end <= len(self._prefix):
            data = self._prefix[start:end]
        else:
            data = self._read_in(name, start, end - start)
        return self.checked(data, where[2], name)

    def part(self, name: str, offset: int, length: int, crc: int) -> bytes:
        """``length`` bytes at ``offset`` inside section ``name``, of CRC-32
        ``crc`` (one bucket of a large memo section, read without the rest);
        raises as ``get`` does, and ``ValueError`` for a part outside the section."""
        where = self._toc.get(name)
        if where is None or offset < 0 or length < 0 or offset + length > where[1]:
            raise ValueError(f"no part {offset}+{length} in section {name!r}")
        if self._all is not None:
            data = self._all[name][offset : offset + length]
        else:
            start = self._start + where[0] + offset
            if start + length <= len(self._prefix):
                data = self._prefix[start : start + length]
            else:
                data = self._read_in(name, start, length)
        return self.checked(data, crc, name)

    def checked(self, data: bytes, crc: object, name: str) -> bytes:
        """``data`` if its CRC-32 is ``crc``; else the file is corrupt: it is
        removed (if it is still the one opened), and ``OSError`` is raised."""
        if crc32(data) == crc:
            return data
        self._broken = True
        if _log.enabled:
            _log.debug(f"{self._path!r}: section {name!r} fails its checksum: removing the file")
        if not self._site:
            try:
                if _ident(os.stat(self._path, follow_symlinks=False)) == self._ident:
                    os.unlink(self._path)
            except OSError:
                pass
        raise OSError(f"{self._path!r}: section {name!r} fails its checksum")

    def _read_in(self, name: str, start: int, length: int) -> bytes:
        """``_read`` for (a part of) section ``name``: after ``WHOLE_AFTER`` reads
        in its family (``headers:*``, the buckets of ``messages:data``, ...),
        which a loop over many distributions makes, the whole family is read
        once and later reads are slices of it, not an open, a stat and a read."""
        family = name.rpartition(":")[0] or name
        done = self._reads.get(family, 0)
        if isinstance(done, tuple):
            at, data = done
            if at <= start and start + length <= at + len(data):
                return data[start - at : start - at + length]
            return self._read(start, length)
        if done + 1 < WHOLE_AFTER:
            self._reads[family] = done + 1
            return self._read(start, length)
        spans = [
            (offset, offset + size)
            for section, (offset, size, _crc) in self._toc.items()
            if (section.rpartition(":")[0] or section) == family
        ]
        at = self._start + min(first for first, _last in spans)
        data = self._read(at, self._start + max(last for _first, last in spans) - at)
        self._reads[family] = (at, data)
        return data[start - at : start - at + length]

    def _read(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` of the file, if it is still the one opened."""
        if self._broken:
            raise OSError(f"{self._path!r} changed")
        fd = _open_file(self._path)
        try:
            st = os.fstat(fd)
            if _ident(st) != self._ident or not _trusted(st, self._site):
                self._broken = True
                raise OSError(f"{self._path!r} changed")
            data = os.pread(fd, length, offset)
        finally:
            os.close(fd)
        if len(data) != length:
            self._broken = True
            raise OSError(f"{self._path!r} is short")
        return data

    def decoded(self, name: str) -> Any:
        """Section ``name`` unmarshalled (once), or ``None``; raises as ``get`` does."""
        try:
            return self._decoded[name]
        except KeyError:
            data = self.get(name)
            value = self._decoded[name] = None if data is None else marshal.loads(data)
            return value

    def items(self) -> list[tuple[str, bytes]]:
        """Every section (to write them again); raises as ``get`` does.

        Kept from then on: this process is about to replace the file, and what
        it loaded from the old one (an index's table) must still read the rest.
        """
        if self._all is None:
            size = self._ident[2] if self._ident else 0
            data = self._prefix if len(self._prefix) >= size else self._read(0, size)
            start = self._start
            sections = {
                name: self.checked(data[start + at : start + at + length], crc, name)
                for name, (at, length, crc) in self._toc.items()
            }
            self._all = sections
        return list(self._all.items())


#: Sections (or parts) of one family read one by one before the whole family is.
WHOLE_AFTER = 4

#: No saved file: no sections.
NOTHING = Saved("", False, (), b"", {}, 0)


def _ident(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _open_file(path: str) -> int:
    # O_NOFOLLOW: a symlink planted in place of a record is refused; the owner
    # and mode checks of the callers refuse a file somebody else wrote.
    return os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_BINARY)


def _load_from(root: str, key: str, site: bool) -> Saved | None:
    try:
        if not _dir_ok(root, site):
            return None
        name = file_name(key)
        path = os.path.join(root, name)
        try:
            fd = _open_file(path)
        except FileNotFoundError:
            return None
        try:
            st = os.fstat(fd)
            if not (_statmod.S_ISREG(st.st_mode) and _trusted(st, site)):
                if _log.enabled:
                    _log.debug(f"ignoring {name!r} in {root!r}: not a private file")
                return None
            data = _read(fd, min(st.st_size, PREFIX))
            end = head_size(data)
            if end > len(data):  # a head larger than the prefix
                data += _read(fd, end - len(data))
        finally:
            os.close(fd)
        if not data.startswith(MAGIC):
            _log.debug(f"ignoring {name!r}: not a record of format {FORMAT}")
            return None
        stored_key, tag, toc, start = unpack_head(data)
        if stored_key != key or tag != TAG:
            _log.debug(f"ignoring {name!r}: it is the record of {stored_key!r} ({tag})")
            return None
        if type(toc) is not dict:
            raise TypeError("not a table of sections")
        end = start
        for offset, length, _crc in toc.values():
            end = max(end, start + offset + length)
        if end != st.st_size:
            raise ValueError(f"{st.st_size} bytes where the head says {end}")
        if _log.enabled:
            _log.debug(f"loaded the record of {key!r} from {root!r}")
        return Saved(path, site, _ident(st), data, toc, start)
    except Exception as exc:  # corrupt, truncated, foreign: a miss
        if _log.enabled:
            _log.debug(f"cannot load the record of {key!r}: {exc!r}")
        return None


def _read(fd: int, size: int) -> bytes:
    """Up to ``size`` bytes (fewer only at the end of the file)."""
    chunks: list[bytes] = []
    while size > 0:
        chunk = os.read(fd, size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def save(key: str, sections: dict[str, bytes], site: bool = False) -> bool:
    """Write the record of ``key`` atomically; ``False`` if it was not written.

    ``site`` writes into the environment's read-only set instead (``warm
    --site``): files readable by every user, writable by their owner only.
    """
    global _writes_disabled
    if _writes_disabled and not site:
        return False
    root = site_dir() if site else cache_dir()
    if root is None:
        return False
    tmp = None
    dir_fd = None
    try:
        data = pack(key, sections)
        dir_fd = _ensure_dir(root, site)
        if dir_fd is None:
            raise PermissionError(f"no private directory at {root!r}")
        name = file_name(key)
        tmp = f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        fd = os.open(
            tmp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY,
            0o644 if site else 0o600,
            dir_fd=dir_fd,
        )
        try:
            if site:  # readable by every user whatever the umask
                os.fchmod(fd, 0o644)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        try:
            os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            new = False
        except FileNotFoundError:
            new = True
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        tmp = None
        if new and not site:
            _prune(root)
        if _log.enabled:
            _log.debug(f"saved the record of {key!r} ({len(data)} bytes)")
        return True
    except Exception as exc:
        if not site:
            _writes_disabled = True
        if _log.enabled:
            _log.debug(f"cannot save the record of {key!r} ({exc!r}): memory only from now on")
        return False
    finally:
        if tmp is not None and dir_fd is not None:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
        if dir_fd is not None:
            os.close(dir_fd)


#: The key of the generation marker, a file saved again by a process that
#: found saved tables stale and rebuilt them from the disk
#: (``importlib.invalidate_caches()``, a stale index): an answer kept for a
#: whole ``sys.path`` holds only while the marker is the one seen before the
#: tables it was made from were loaded or built.
GENERATION = "generation:"


def generation() -> tuple[int, ...] | None:
    """The identity of the generation marker now; ``None`` if there is none
    (no store, or no marker yet: "none" is never a generation, or answers made
    before a marker was first written would hold again once it is removed)."""
    root = cache_dir()
    if root is None:
        return None
    try:
        return _ident(os.stat(os.path.join(root, file_name(GENERATION)), follow_symlinks=False))
    except OSError:
        return None


def new_generation() -> None:
    """Replace the generation marker: a new file (a new inode) whose mtime is
    set from the fine clock, so its identity is one no earlier marker had."""
    if save(GENERATION, {"token": os.urandom(16)}):
        root = cache_dir()
        try:
            now = time.time_ns()
            if root is not None:
                os.utime(os.path.join(root, file_name(GENERATION)), ns=(now, now))
        except OSError:  # the marker was replaced again meanwhile: new anyway
            pass


def _ensure_dir(root: str, site: bool = False) -> int | None:
    fd = _open_dir(root, site)
    if fd is not None:
        return fd
    if not site and not _may_create(root):
        return None
    try:
        os.makedirs(root, mode=0o755 if site else 0o700, exist_ok=True)
        if site:  # whatever the umask: the set is for every user
            os.chmod(root, 0o755)
    except OSError as exc:
        if _log.enabled:
            _log.debug(f"cannot create {root!r}: {exc!r}")
        return None
    fd = _open_dir(root, site)
    if fd is not None:
        _write_tag(fd, site)
    return fd


def _may_create(root: str) -> bool:
    """Whether the nearest existing ancestor of ``root`` belongs to this user.

    Root running with another user's HOME (``sudo`` keeps it) must not create
    directories owned by root in that home: the user would lose ``~/.cache``.
    """
    if not _POSIX:
        return True
    parent = root
    while True:
        parent = os.path.dirname(parent)
        try:
            st = os.stat(parent)
        except FileNotFoundError:
            if parent == os.path.dirname(parent):
                return False
            continue
        except OSError:
            return False
        if st.st_uid != os.geteuid():
            if _log.enabled:
                _log.debug(f"not creating {root!r}: {parent!r} belongs to another user")
            return False
        return True


CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by importlib-metadata-cache.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)


def _write_tag(dir_fd: int, site: bool = False) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW
    try:
        fd = os.open("CACHEDIR.TAG", flags, 0o644 if site else 0o600, dir_fd=dir_fd)
    except OSError:
        return
    try:
        if site:
            os.fchmod(fd, 0o644)
        data = CACHEDIR_TAG.encode("ascii")
        if os.write(fd, data) != len(data):
            raise OSError("short write")
    except OSError:
        try:  # no empty tag left behind: the next creation writes it again
            os.unlink("CACHEDIR.TAG", dir_fd=dir_fd)
        except OSError:
            pass
    finally:
        os.close(fd)


def entries(root: str) -> list[tuple[str, str, int, int]]:
    """``(file name, key, size, mtime_ns)`` of every record file in ``root``."""
    found = []
    try:
        names = os.listdir(root)
    except OSError:
        return []
    for name in names:
        if not name.endswith(".rec") or name.startswith("."):
            continue
        path = os.path.join(root, name)
        key: object = "?"
        size = mtime = 0
        try:
            st = os.stat(path, follow_symlinks=False)
            size, mtime = st.st_size, st.st_mtime_ns
            if not _statmod.S_ISREG(st.st_mode):
                raise OSError("not a regular file")
            with open(path, "rb") as handle:
                data = handle.read(PREFIX)
                data += handle.read(max(0, head_size(data) - len(data)))
            key = unpack_head(data)[0]
        except Exception:
            pass
        found.append((name, str(key), size, mtime))
    return found


def remove(root: str, names: list[str]) -> int:
    """Delete the named record files (and stray temporary files) in ``root``."""
    removed = 0
    for name in names:
        try:
            os.unlink(os.path.join(root, name))
            removed += 1
        except OSError:
            pass
    return removed


#: The store keeps at most this many record files; see ``_prune``.
MAX_FILES = 500

#: A temporary file older than this was left by a killed writer.
STALE_TMP_S = 3600


def _prune(root: str) -> None:
    """Keep the store bounded when a new file was added.

    One file per entry and interpreter means a handful per environment, but
    test suites put short-lived absolute directories on ``sys.path``. Past
    ``MAX_FILES``: delete the records of directories that no longer exist, then
    the least recently written ones; and temporary files left by killed writers.
    """
    import time

    try:
        names = os.listdir(root)
    except OSError:
        return
    now = time.time()
    for name in names:
        if name.startswith(".") and name.endswith(".tmp"):
            try:
                if now - os.stat(os.path.join(root, name)).st_mtime > STALE_TMP_S:
                    os.unlink(os.path.join(root, name))
            except OSError:
                pass
    records = [n for n in names if n.endswith(".rec") and not n.startswith(".")]
    if len(records) <= MAX_FILES:
        return
    marker = file_name(GENERATION)  # the oldest file, and what every answer holds
    found = sorted((e for e in entries(root) if e[0] != marker), key=lambda e: e[3])
    gone = [name for name, key, _size, _mtime in found if not os.path.isdir(key)]
    remove(root, gone)
    left = [e for e in found if e[0] not in set(gone)]
    excess = len(left) - MAX_FILES
    if excess > 0:
        remove(root, [name for name, *_ in left[:excess]])
