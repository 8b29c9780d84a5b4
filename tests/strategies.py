"""Hypothesis strategies for whole environments, and the code that builds them.

An ``Env`` is plain data (so Hypothesis prints a readable falsifying example):
a few ``Entry`` objects (a directory, a zip file, or a ``*.egg`` directory used
as a ``sys.path`` entry itself), each holding ``Dist`` objects, plus the way the
entries are spelled on ``sys.path`` (plain, with a trailing slash, through a
symlink, twice, relative, ...).

``materialize(root, env)`` writes it under ``root`` and returns the
``sys.path`` entries. The mutation steps of ``test_mutation_sequences`` are
generated here too (``steps()``) and applied by ``World``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from hypothesis import strategies as st

from sites import build, build_zip

# --------------------------------------------------------------------------
# Names

#: Project names: mixed case, dots, dashes, underscores, several dashes.
NAMES = (
    "foo",
    "Foo",
    "FOO",
    "my-dashed-pkg",
    "my_dashed_pkg",
    "My.Dashed-Pkg",
    "a.b",
    "a_b",
    "A-B-c",
    "zope.interface",
    "x",
)
VERSIONS = ("1.0", "2.0", "1.0.post1", "10.0.0", "0.1rc1")
#: Extensions as they appear on disk; the native code lower-cases for the
#: listing but not in ``_name_from_stem``.
INFO_EXTS = (".dist-info", ".dist-info", ".DIST-INFO", ".Dist-Info")
EGG_INFO_EXTS = (".egg-info", ".egg-info", ".EGG-INFO")
#: The metadata directory of a ``*.egg`` entry (matched case-insensitively).
EGG_DIRS = ("EGG-INFO", "EGG-INFO", "Egg-Info")

EP_GROUPS = ("console_scripts", "gui_scripts", "imc.plugins", "imc.Other")
EP_NAMES = ("foo", "Foo", "bar", "cli", "dup")
EP_VALUES = (
    "pkg.mod:main",
    "pkg.cli:Runner.run",
    "pkg.mod:func [extra1, extra2]",
    "pkg",
    "not a valid value!",
)

METADATA_MODES = (
    "ok",
    "ok",
    "ok",
    "missing",
    "empty",
    "noname",
    "latin1",
    "bom",
    "crlf",
    "cr",
    "dir",
)
EP_MODES = (None, None, "ok", "ok", "preamble", "noeq", "latin1", "empty", "bom", "crlf")

# --------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Dist:
    """One distribution's metadata, as files relative to its own path.

    ``kind`` is ``dist-info``, ``egg-info`` (a directory), ``egg-info-file``
    (a legacy file whose content is PKG-INFO text; ``files`` has one item
    with the relative path ``""``) or ``egg`` (the ``EGG-INFO`` directory of
    a ``*.egg`` entry). ``extra`` are files relative to the entry (package
    modules that a RECORD may list).
    """

    kind: str
    dirname: str
    files: tuple[tuple[str, bytes | None], ...]
    extra: tuple[tuple[str, bytes], ...] = ()

    def as_files(self) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        for rel, data in self.files:
            out[f"{self.dirname}/{rel}" if rel else self.dirname] = data
        if self.kind != "egg-info-file" and not any(rel for rel, _ in self.files):
            out[self.dirname] = None  # an empty metadata directory
        for rel, data in self.extra:
            out[rel] = data
        return out

    @property
    def meta_file(self) -> str:
        """The relative path of the metadata file (``""`` for a legacy file)."""
        if self.kind == "egg-info-file":
            return ""
        return "METADATA" if self.kind == "dist-info" else "PKG-INFO"


@dataclass(frozen=True)
class Entry:
    """One ``sys.path`` entry: ``dir``, ``zip`` or ``egg`` (a ``*.egg`` dir)."""

    kind: str
    basename: str
    dists: tuple[Dist, ...]
    junk: tuple[tuple[str, bytes | None], ...] = ()

    def as_files(self) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        for rel, data in self.junk:
            out[rel] = data
        for dist in self.dists:
            out.update(dist.as_files())
        return out


@dataclass(frozen=True)
class Env:
    entries: tuple[Entry, ...]
    #: (entry index, spelling) in ``sys.path`` order
    path: tuple[tuple[int, str], ...]


SPELLINGS = ("plain", "plain", "plain", "slash", "symlink", "dot", "updown", "relative")

# --------------------------------------------------------------------------
# File contents


def _enc(text: str) -> bytes:
    return text.encode("utf-8")


def metadata_bytes(name: str, version: str, mode: str) -> bytes | None:
    """METADATA/PKG-INFO content; ``None`` means absent (``dir``: a directory)."""
    lines = ["Metadata-Version: 2.1"]
    if mode != "noname":
        lines.append(f"Name: {name}")
    lines += [
        f"Version: {version}",
        "Summary: caf\u00e9 \u2603 summary",
        "Requires-Dist: dep-one",
        "Requires-Dist: dep_two ; extra == 'x'",
    ]
    text = "\n".join(lines) + "\n\nA description,\nover two lines.\n"
    if mode in ("ok", "noname"):
        return _enc(text)
    if mode == "empty":
        return b""
    if mode == "latin1":
        return text.encode("latin-1", "replace")
    if mode == "bom":
        return b"\xef\xbb\xbf" + _enc(text)
    if mode == "crlf":
        return _enc(text.replace("\n", "\r\n"))
    if mode == "cr":
        return _enc(text.replace("\n", "\r"))
    raise ValueError(mode)


def entry_points_bytes(mode: str, eps: tuple[tuple[str, str, str], ...]) -> bytes:
    by_group: dict[str, list[str]] = {}
    for group, name, value in eps:
        by_group.setdefault(group, []).append(f"{name} = {value}")
    body = "".join(f"[{group}]\n" + "\n".join(lines) + "\n\n" for group, lines in by_group.items())
    if mode == "ok":
        return _enc(body)
    if mode == "preamble":
        return _enc("stray = before.any:section\n# a comment\n\n" + body)
    if mode == "noeq":
        return _enc(body + "[imc.bad]\nthis line has no equals sign\n")
    if mode == "latin1":
        return ("[console_scripts]\ncaf\u00e9 = pkg.mod:main\n" + body).encode("latin-1")
    if mode == "empty":
        return b""
    if mode == "bom":
        return b"\xef\xbb\xbf" + _enc(body)
    if mode == "crlf":
        return _enc(body.replace("\n", "\r\n"))
    raise ValueError(mode)


ep_lists = st.lists(
    st.tuples(st.sampled_from(EP_GROUPS), st.sampled_from(EP_NAMES), st.sampled_from(EP_VALUES)),
    min_size=1,
    max_size=4,
).map(tuple)

TOP_LEVELS = (None, None, b"pkg\n", b"pkg\nother\n\n", b"", b"caf\xe9\n")
RECORD_ROWS = (
    "pkg/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0",
    "pkg/missing.py,,",
    "pkg/data.bin,sha256=,5",
    "../../bin/foo-cli,,",
    "{info}/METADATA,,",
    "{info}/RECORD,,",
    "solo.py,,",
    "__pycache__/solo.cpython-312.pyc,,",
    "odd.name.py,,",
    "pkg/sub/deep.py,,",
)
#: Files a RECORD may list, created (or not) beside the distribution.
RECORDED_FILES = (
    "pkg/__init__.py",
    "solo.py",
    "__pycache__/solo.cpython-312.pyc",
    "pkg/sub/deep.py",
)
BROKEN_ROW = "a,b,c,d"


@st.composite
def dists(draw: st.DrawFn, kind: str | None = None) -> Dist:
    """One distribution; ``kind`` defaults to any but ``egg``."""
    if kind is None:
        kind = draw(st.sampled_from(("dist-info", "dist-info", "egg-info", "egg-info-file")))
    name = draw(st.sampled_from(NAMES))
    version = draw(st.sampled_from(VERSIONS))
    if kind == "egg":
        dirname = draw(st.sampled_from(EGG_DIRS))
    else:
        stem = draw(
            st.sampled_from(
                (f"{name}-{version}", f"{name}-{version}", name, f"{name}-{version}-py3.12")
            )
        )
        exts = INFO_EXTS if kind == "dist-info" else EGG_INFO_EXTS
        dirname = stem + draw(st.sampled_from(exts))
    meta_name = draw(
        st.sampled_from((name, name, name.replace("-", "_"), name.upper(), "Other-Name"))
    )
    mode = draw(st.sampled_from(METADATA_MODES))
    if kind == "egg-info-file":
        # The file *is* the metadata; a missing/dir one would not be this kind.
        if mode in ("missing", "dir"):
            mode = "ok"
        return Dist(kind, dirname, (("", metadata_bytes(meta_name, version, mode)),))
    meta = "METADATA" if kind == "dist-info" else "PKG-INFO"
    files: list[tuple[str, bytes | None]] = []
    if mode == "dir":
        files.append((f"{meta}/placeholder", b""))
    elif mode != "missing":
        files.append((meta, metadata_bytes(meta_name, version, mode)))
    ep_mode = draw(st.sampled_from(EP_MODES))
    if ep_mode is not None:
        files.append(("entry_points.txt", entry_points_bytes(ep_mode, draw(ep_lists))))
    top = draw(st.sampled_from(TOP_LEVELS))
    if top is not None:
        files.append(("top_level.txt", top))
    extra: list[tuple[str, bytes]] = []
    if draw(st.booleans()):
        rows = draw(st.lists(st.sampled_from(RECORD_ROWS), min_size=1, max_size=4, unique=True))
        if draw(st.integers(0, 9)) == 0:
            rows.append(BROKEN_ROW)
        text = "\n".join(r.format(info=dirname) for r in rows) + "\n"
        files.append(("RECORD", _enc(text)))
        for rel in draw(st.lists(st.sampled_from(RECORDED_FILES), max_size=3, unique=True)):
            extra.append((rel, b""))
    if kind != "dist-info":
        if draw(st.booleans()):
            files.append(("requires.txt", b"dep-one\n\n[extra]\ndep_two>=1\n"))
        if draw(st.booleans()):
            files.append(("SOURCES.txt", b"setup.py\npkg/__init__.py\n"))
        elif draw(st.booleans()):
            files.append(("installed-files.txt", b"../pkg/__init__.py\n../pkg/mod.py\n"))
    if draw(st.integers(0, 5)) == 0:
        files.append(("INSTALLER", b"pip\n"))
    return Dist(kind, dirname, tuple(files), tuple(extra))


def _unique_dists(items: list[Dist]) -> tuple[Dist, ...]:
    """Drop dists whose name clashes with an earlier one's on disk."""
    seen: set[str] = set()
    out = []
    for dist in items:
        top = dist.dirname
        if top in seen or (dist.kind == "egg" and top.lower() in {s.lower() for s in seen}):
            continue
        seen.add(top)
        out.append(dist)
    return tuple(out)


JUNK = (
    ("README.txt", b"not metadata\n"),
    ("pkg/__init__.py", b""),
    ("notes.dist-info.bak", b"x"),
    ("-1.0.dist-info/METADATA", b"Name: nameless\nVersion: 1.0\n"),
    ("empty.egg-info", None),
)


@st.composite
def entries(draw: st.DrawFn, max_dists: int = 4) -> Entry:
    kind = draw(st.sampled_from(("dir", "dir", "dir", "dir", "zip", "egg")))
    items = draw(st.lists(dists(), min_size=0, max_size=max_dists))
    junk = tuple(draw(st.lists(st.sampled_from(JUNK), max_size=2, unique=True)))
    if kind == "egg":
        name = draw(st.sampled_from(NAMES))
        version = draw(st.sampled_from(VERSIONS))
        basename = draw(st.sampled_from((f"{name}-{version}-py3.12.egg", f"{name}.egg")))
        egg = draw(dists(kind="egg"))
        items = [egg, *items[:1]]
        junk = ()
    else:
        basename = "site" if kind == "dir" else "site.zip"
    return Entry(kind, basename, _unique_dists(items), junk)


@st.composite
def envs(draw: st.DrawFn, max_entries: int = 3, max_dists: int = 12) -> Env:
    """A whole environment of at most ``max_dists`` distributions."""
    items = draw(st.lists(entries(), min_size=1, max_size=max_entries))
    # Keep the environment small: trim dists beyond the budget.
    budget = max_dists
    trimmed = []
    for entry in items:
        keep = entry.dists[: max(budget, 0)]
        if entry.kind == "egg" and not keep:
            keep = entry.dists[:1]
        budget -= len(keep)
        trimmed.append(replace(entry, dists=keep))
    # Share a dist between two entries now and then (the same name across entries).
    if len(trimmed) > 1 and trimmed[0].dists and draw(st.booleans()):
        shared = trimmed[0].dists[0]
        if shared.kind != "egg":
            target = trimmed[-1]
            trimmed[-1] = replace(target, dists=_unique_dists([*target.dists, shared]))
    order = list(range(len(trimmed)))
    order = draw(st.permutations(order))
    path: list[tuple[int, str]] = []
    for index in order:
        path.append((index, draw(st.sampled_from(SPELLINGS))))
    # Sometimes the same entry twice, spelled the same or differently.
    if draw(st.booleans()):
        index = draw(st.sampled_from(order))
        at = draw(st.integers(0, len(path)))
        path.insert(at, (index, draw(st.sampled_from(SPELLINGS))))
    return Env(tuple(trimmed), tuple(path))


# --------------------------------------------------------------------------
# Building


def entry_location(root: Path, index: int, entry: Entry) -> Path:
    return root / f"e{index}" / entry.basename


def build_entry(location: Path, entry: Entry) -> None:
    files = entry.as_files()
    if entry.kind == "zip":
        location.parent.mkdir(parents=True, exist_ok=True)
        build_zip(location, files)
    else:
        build(location, files)


def spell(root: Path, location: Path, spelling: str, serial: int) -> str:
    """``location`` as a ``sys.path`` entry spelled as ``spelling``."""
    text = os.fspath(location)
    if spelling == "slash":
        return text + "/"
    if spelling == "dot":
        return text + "/."
    if spelling == "updown":
        return os.path.join(text, "..", location.name)
    if spelling == "relative":
        return os.path.relpath(text)
    if spelling == "symlink":
        link = root / f"link{serial}"
        if not link.is_symlink():
            link.symlink_to(location, target_is_directory=location.is_dir())
        return os.fspath(link)
    return text


def materialize(root: Path, env: Env) -> list[str]:
    """Write ``env`` under ``root``; return its ``sys.path`` entries."""
    for index, entry in enumerate(env.entries):
        build_entry(entry_location(root, index, entry), entry)
    return [
        spell(root, entry_location(root, index, env.entries[index]), spelling, serial)
        for serial, (index, spelling) in enumerate(env.path)
    ]


# --------------------------------------------------------------------------
# Mutation steps


@dataclass(frozen=True)
class Step:
    op: str
    entry: int = 0
    which: int = 0
    dist: Dist | None = None
    text: bytes = b""
    restore_mtime: bool = False
    spelling: str = "plain"


#: In-place edits of ``*.dist-info/entry_points.txt`` are a documented blind
#: spot of the ``entry_points()`` indexes (no installer makes them): generated
#: only with ``IMC_PROPERTY_EDIT_DIST_INFO=1``.
EDIT_DIST_INFO_ENTRY_POINTS = os.environ.get("IMC_PROPERTY_EDIT_DIST_INFO") == "1"

MUTATIONS = (
    "install",
    "uninstall",
    "upgrade",
    "reinstall",
    "edit_entry_points",
    "edit_metadata",
    "path_add",
    "path_remove",
    "repoint_symlink",
    "swap_entry",
    "touch_future",
    "toggle_file",
    "sleep",
    "sleep",
    "sleep",
    "invalidate",
    "forget",
)


@st.composite
def steps(draw: st.DrawFn) -> Step:
    op = draw(st.sampled_from(MUTATIONS))
    entry = draw(st.integers(0, 7))
    which = draw(st.integers(0, 15))
    if op in (
        "sleep",
        "invalidate",
        "forget",
        "path_remove",
        "repoint_symlink",
        "touch_future",
        "toggle_file",
    ):
        return Step(op, entry, which)
    if op == "swap_entry":
        return Step(op, entry, which, restore_mtime=draw(st.booleans()))
    if op == "path_add":
        return Step(op, entry, which, spelling=draw(st.sampled_from(SPELLINGS)))
    restore = draw(st.booleans())
    if op == "install":
        return Step(op, entry, which, dist=draw(dists()), restore_mtime=restore)
    if op in ("uninstall", "upgrade"):
        return Step(op, entry, which, restore_mtime=restore)
    if op == "reinstall":
        ep_text = entry_points_bytes(draw(st.sampled_from(EP_MODES[2:])), draw(ep_lists))
        return Step(op, entry, which, text=ep_text, restore_mtime=restore)
    if op == "edit_entry_points":
        ep_text = entry_points_bytes(draw(st.sampled_from(EP_MODES[2:])), draw(ep_lists))
        return Step(op, entry, which, text=ep_text, restore_mtime=restore)
    assert op == "edit_metadata"
    # Often a same-size rewrite: only the version digits change.
    mode = draw(st.sampled_from(("ok", "ok", "noname", "latin1", "crlf", "empty")))
    version = draw(st.sampled_from(("1.0", "2.0", "3.0", "2.0.post7")))
    text = metadata_bytes(draw(st.sampled_from(NAMES)), version, mode) or b""
    return Step(op, entry, which, text=text, restore_mtime=restore)


def forget_memory() -> None:
    """Drop the in-memory layers but keep loading saved records: a new process."""
    from importlib_metadata_cache import _patch, _record

    if hasattr(_record, "load_saved"):
        _record.load_saved = True
    clear = getattr(_patch, "clear_memory", None) or _record.clear
    clear()


@contextlib.contextmanager
def _restoring(path: Path, restore: bool) -> Iterator[None]:
    """Put ``path``'s atime/mtime back after the change made in the block."""
    st = os.stat(path) if restore and path.exists() else None
    yield
    if st is not None and path.exists():
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _upgraded(dirname: str) -> str:
    for old, new in (("1.0", "2.0"), ("2.0", "3.0"), ("10.0.0", "11.0.0"), ("0.1rc1", "0.1")):
        if old in dirname:
            return dirname.replace(old, new, 1)
    stem, dot, ext = dirname.rpartition(".")
    return f"{stem}-9.9.{ext}" if dot else dirname + "-9.9"


@dataclass
class World:
    """A mutable environment on disk and the ``sys.path`` entries using it."""

    root: Path
    env: Env
    locations: list[Path] = field(default_factory=list)
    path: list[str] = field(default_factory=list)
    serial: int = 0

    def __post_init__(self) -> None:
        self.path = materialize(self.root, self.env)
        self.serial = len(self.path)
        self.locations = [entry_location(self.root, i, e) for i, e in enumerate(self.env.entries)]

    def _dirs(self) -> list[Path]:
        """Entries that are directories (zip entries are not mutated)."""
        return [loc for loc in self.locations if loc.is_dir()]

    def _metadata_dirs(self, location: Path) -> list[Path]:
        return sorted(
            child
            for child in location.iterdir()
            if child.name.lower().endswith((".dist-info", ".egg-info", "egg-info"))
        )

    def apply(self, step: Step, sys_path: list[str]) -> str:
        """Apply ``step``; return a short description of what was done."""
        import importlib

        if step.op == "sleep":
            time.sleep(0.06)
            return "slept"
        if step.op == "invalidate":
            importlib.invalidate_caches()
            return "invalidate_caches()"
        if step.op == "forget":
            forget_memory()
            return "in-memory layers dropped (as a new process: saved records load)"
        if step.op == "path_remove":
            mine = [i for i, p in enumerate(sys_path) if p in self.path]
            if not mine:
                return "nothing to remove"
            at = mine[step.which % len(mine)]
            removed = sys_path.pop(at)
            return f"sys.path.pop({at}) -> {removed!r}"
        if step.op == "path_add":
            location = self.locations[step.entry % len(self.locations)]
            spelled = spell(self.root, location, step.spelling, self.serial)
            self.serial += 1
            self.path.append(spelled)
            sys_path.insert(step.which % (len(self.path) + 1), spelled)
            return f"sys.path gained {spelled!r}"
        if step.op == "repoint_symlink":
            links = sorted(self.root.glob("link*"))
            dirs = self._dirs()
            if not links or not dirs:
                return "no symlink to re-point"
            link = links[step.which % len(links)]
            target = dirs[step.entry % len(dirs)]
            tmp = self.root / "link.tmp"
            tmp.symlink_to(target, target_is_directory=True)
            os.replace(tmp, link)  # atomically, as a "current" release link
            return f"re-pointed {link.name} -> {target}"
        dirs = self._dirs()
        if not dirs:
            return "no directory entry"
        location = dirs[step.entry % len(dirs)]
        present = self._metadata_dirs(location)
        if step.op == "touch_future":
            future = time.time_ns() + 3600 * 10**9
            targets = [location, *present]
            target = targets[step.which % len(targets)]
            metas = [target / n for n in ("METADATA", "PKG-INFO", "entry_points.txt")]
            target = next((m for m in metas if m.is_file()), target)
            os.utime(target, ns=(future, future))
            return f"set the mtime of {target} an hour ahead"
        if step.op == "toggle_file":
            # A file a RECORD may list, deleted or created by hand: no metadata
            # changes, but packages_distributions() (3.12+) sees only files that exist.
            rel = RECORDED_FILES[step.which % len(RECORDED_FILES)]
            file = location / rel
            if file.is_file():
                file.unlink()
                return f"deleted {file}"
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(b"")
            return f"created {file}"
        if step.op == "swap_entry":
            return self._swap(location, present, step)
        if step.op == "install":
            assert step.dist is not None
            if (location / step.dist.dirname).exists():
                return f"{step.dist.dirname} already there"
            with _restoring(location, step.restore_mtime):
                build(location, step.dist.as_files())
            return f"installed {step.dist.dirname} in {location}"
        if not present:
            return "no distribution to change"
        target = present[step.which % len(present)]
        if step.op == "uninstall":
            with _restoring(location, step.restore_mtime):
                _remove(target)
            return f"removed {target}"
        if step.op == "upgrade":
            new = location / _upgraded(target.name)
            if new.exists():
                return f"{new.name} already there"
            with _restoring(location, step.restore_mtime):
                if target.is_dir():
                    shutil.copytree(target, new)
                else:
                    shutil.copyfile(target, new)
                for meta in (new / "METADATA", new / "PKG-INFO", new):
                    if meta.is_file():
                        data = meta.read_bytes()
                        meta.write_bytes(data.replace(b"Version: ", b"Version: 9", 1))
                        break
                _remove(target)
            return f"upgraded {target.name} -> {new.name}"
        if step.op == "reinstall":
            with _restoring(location, step.restore_mtime):
                if target.is_dir():
                    saved = {
                        p.relative_to(target): p.read_bytes()
                        for p in target.rglob("*")
                        if p.is_file()
                    }
                    shutil.rmtree(target)
                    target.mkdir()
                    for rel, data in saved.items():
                        (target / rel).parent.mkdir(parents=True, exist_ok=True)
                        if rel.name != "entry_points.txt":
                            (target / rel).write_bytes(data)
                    (target / "entry_points.txt").write_bytes(step.text)
                else:
                    data = target.read_bytes()
                    target.unlink()
                    target.write_bytes(data)
            return f"force-reinstalled {target.name}"
        if step.op == "edit_entry_points":
            if not target.is_dir():
                return f"{target.name} is a file"
            if target.name.lower().endswith(".dist-info") and not EDIT_DIST_INFO_ENTRY_POINTS:
                return f"{target.name}: no in-place edit inside a *.dist-info"
            file = target / "entry_points.txt"
            with _restoring(file, step.restore_mtime), open(file, "wb") as handle:
                handle.write(step.text)
            return f"rewrote {file} in place"
        assert step.op == "edit_metadata"
        file = target
        if target.is_dir():
            names = ("METADATA", "PKG-INFO")
            found = [target / n for n in names if (target / n).is_file()]
            if not found:
                return f"{target.name} has no metadata file"
            file = found[0]
        with _restoring(file, step.restore_mtime), open(file, "wb") as handle:
            handle.write(step.text)
        return f"rewrote {file} in place"

    def _swap(self, location: Path, present: list[Path], step: Step) -> str:
        """Replace ``location`` by an edited copy (``cp -p``/``tar``: same mtimes)."""
        new = location.with_name(location.name + ".new")
        old = location.with_name(location.name + ".old")
        shutil.copytree(location, new, symlinks=True)
        what = "an identical copy"
        if present:
            victim = new / present[step.which % len(present)].name
            if step.restore_mtime:
                # One metadata file edited, same size, its mtime put back.
                files = [victim / n for n in ("METADATA", "PKG-INFO")] + [victim]
                file = next((f for f in files if f.is_file()), None)
                if file is not None:
                    st = os.stat(file)
                    data = file.read_bytes()
                    file.write_bytes(data.replace(b"Version: 1", b"Version: 7", 1))
                    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns))
                    what = f"a copy with {file.relative_to(new)} edited"
            else:
                _remove(victim)
                what = f"a copy without {victim.name}"
        shutil.copystat(location, new)  # the same directory mtime
        os.rename(location, old)
        os.rename(new, location)
        shutil.rmtree(old)
        return f"replaced {location} by {what}"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
