"""Hand-picked layouts and mutations, each compared cache off vs on.

Every test builds a site, puts it on ``sys.path`` and asserts that every
provider's whole snapshot (``_snapshot``) is the same with the cache off and
on, cold and warm. The cases are the traps listed in the research notes
(duplicates, odd names, legacy layouts, broken files, in-place edits, ...).
"""

from __future__ import annotations

import functools
import importlib
import os
import shutil
import sys
from pathlib import Path, PurePath
from typing import Any

import pytest

from conftest import indexes_serve, settle, tables_serve, uncached
from importlib_metadata_cache import _record
from sites import build, build_zip, dist_info, metadata

EPS = "[console_scripts]\ntool = pkg.cli:main\n\n[imc.plugins]\nalpha = pkg.alpha:Plugin [extra]\n"


def check_now_and_settled(differential: Any, provider: Any) -> None:
    differential(provider)
    settle()
    differential(provider)
    differential(provider)


def test_plain_dist_infos(site: Path, provider: Any, differential: Any) -> None:
    """Ordinary wheels' metadata: the common case."""
    build(site, dist_info("alpha", "1.0", entry_points=EPS, top_level="alpha\n"))
    build(site, dist_info("beta", "2.0", top_level="beta\nbeta_ext\n"))
    check_now_and_settled(differential, provider)


def test_served_from_memory_when_settled(site: Path, provider: Any) -> None:
    """A repeated query after the settle window is answered from the record."""
    build(site, dist_info("alpha", "1.0", entry_points=EPS))
    settle()
    provider.entry_points(group="imc.plugins")
    assert [d.entry_points.names for d in provider.distributions() if d.name == "alpha"]
    record = _record.records[str(site)]
    assert ("alpha-1.0.dist-info", "entry_points.txt") in record.texts
    misses, hits = record.misses, record.hits
    eps = provider.entry_points(group="imc.plugins")
    assert [ep.name for ep in eps] == ["alpha"]
    assert [d.entry_points.names for d in provider.distributions() if d.name == "alpha"]
    assert record.misses == misses  # nothing listed or read again
    assert record.hits > hits


def test_duplicates_and_odd_names(
    site: Path, tmp_path: Path, provider: Any, differential: Any
) -> None:
    """Duplicates in one entry and across entries, dashed and upper-case names."""
    build(site, dist_info("dup", "1.0", entry_points=EPS))
    build(site, dist_info("Dup", "2.0", suffix=".egg-info"))
    build(site, dist_info("my-dashed-pkg", "1.0"))
    build(site, {"Upper-1.0.DIST-INFO/METADATA": metadata("Upper", "1.0")})
    build(site, {"No.Meta-1.0.dist-info": None})
    other = build(tmp_path / "other", dist_info("dup", "3.0", entry_points=EPS))
    sys.path.insert(1, other)
    check_now_and_settled(differential, provider)


def test_legacy_layouts(site: Path, tmp_path: Path, provider: Any, differential: Any) -> None:
    """egg-info files and dirs, and an ``.egg`` directory on sys.path."""
    build(site, {"legacy-0.1-py3.11.egg-info": metadata("legacy", "0.1")})
    build(site, dist_info("eggy", "1.0", suffix=".egg-info", entry_points=EPS))
    egg = build(tmp_path / "Thing-1.0-py3.egg", {"EGG-INFO/PKG-INFO": metadata("Thing", "1.0")})
    sys.path.insert(1, egg)
    check_now_and_settled(differential, provider)


@pytest.mark.parametrize(
    "files",
    [
        {"bad-1.0.dist-info/entry_points.txt": "[grp]\nno equals sign here\n"},
        {"bad-1.0.dist-info/entry_points.txt": b"[grp]\nx = mod\xff:attr\n"},
        {"bad-1.0.dist-info/METADATA": b"Name: bad\nVersion: 1.\xff\n"},
        {"bad-1.0.dist-info/METADATA": "\ufeffName: bad\nVersion: 1.0\n"},
        {"bad-1.0.dist-info/METADATA": "Name: bad\r\nVersion: 1.0\r\n\r\nbody\r"},
        {"bad-1.0.dist-info/METADATA": ""},
        {"bad-1.0.dist-info/entry_points.txt": "orphan = before:section\n[grp]\nx=y\n"},
    ],
    ids=["no-equals", "eps-not-utf8", "metadata-not-utf8", "bom", "crlf", "empty", "orphan"],
)
def test_broken_files(site: Path, provider: Any, differential: Any, files: dict[str, Any]) -> None:
    """Broken files raise or read exactly as without the cache."""
    build(site, dist_info("good", "1.0", entry_points=EPS))
    build(site, {"bad-1.0.dist-info/METADATA": metadata("bad", "1.0"), **files})
    check_now_and_settled(differential, provider)


def test_zip_entry(tmp_path: Path, syspath: list[str], provider: Any, differential: Any) -> None:
    """A zip on sys.path is served by the native code, unchanged."""
    zipped = build_zip(tmp_path / "bundle.zip", dist_info("zipped", "1.0", entry_points=EPS))
    syspath.insert(0, zipped)
    check_now_and_settled(differential, provider)


def test_entry_spellings(site: Path, tmp_path: Path, provider: Any, differential: Any) -> None:
    """The same directory twice, with a trailing slash, and through a symlink."""
    build(site, dist_info("alpha", "1.0", entry_points=EPS))
    link = tmp_path / "link"
    link.symlink_to(site, target_is_directory=True)
    sys.path[1:1] = [str(site), str(site) + "/", str(link)]
    check_now_and_settled(differential, provider)


def test_relative_entries_follow_the_cwd(
    tmp_path: Path, syspath: list[str], provider: Any, differential: Any, monkeypatch: Any
) -> None:
    """'' and relative entries mean the current directory, whatever it is now."""
    one = build(tmp_path / "one", dist_info("first", "1.0", entry_points=EPS))
    two = build(tmp_path / "two", dist_info("second", "1.0", entry_points=EPS))
    syspath[0:0] = ["", "."]
    monkeypatch.chdir(one)
    check_now_and_settled(differential, provider)
    assert provider.version("first") == "1.0"
    monkeypatch.chdir(two)
    differential(provider)
    assert provider.version("second") == "1.0"


def test_install_uninstall_upgrade_reinstall(site: Path, provider: Any, differential: Any) -> None:
    """Changes made after the record settled are seen by the next query."""
    build(site, dist_info("stay", "1.0"))
    settle()
    differential(provider)
    build(site, dist_info("new", "1.0", entry_points=EPS))
    differential(provider)
    assert provider.version("new") == "1.0"
    settle()
    differential(provider)
    shutil.rmtree(site / "new-1.0.dist-info")
    build(site, dist_info("new", "2.0", entry_points=EPS))
    differential(provider)
    assert provider.version("new") == "2.0"
    settle()
    differential(provider)
    shutil.rmtree(site / "new-2.0.dist-info")
    build(site, dist_info("new", "2.0", entry_points="[imc.plugins]\nother = x:y\n"))
    differential(provider)
    assert [ep.name for ep in provider.entry_points(group="imc.plugins")] == ["other"]
    settle()
    shutil.rmtree(site / "new-2.0.dist-info")
    differential(provider)
    with pytest.raises(provider.PackageNotFoundError):
        provider.version("new")


def _edit_in_place(target: Path, text: str) -> None:
    dir_stat = os.stat(target.parent)
    with open(target, "w") as handle:  # in place: same inode, the dir is untouched
        handle.write(text)
    os.utime(target.parent, ns=(dir_stat.st_atime_ns, dir_stat.st_mtime_ns))


def test_in_place_edit_in_egg_info(site: Path, provider: Any, differential: Any) -> None:
    """A legacy ``*.egg-info`` file rewritten in place (``setup.py develop``) is seen at once."""
    build(site, dist_info("dev", "1.0", entry_points=EPS, suffix=".egg-info"))
    settle()
    differential(provider)
    _edit_in_place(site / "dev-1.0.egg-info" / "entry_points.txt", "[imc.plugins]\ne = x:y\n")
    assert [ep.name for ep in provider.entry_points(group="imc.plugins")] == ["e"]
    differential(provider)


def test_in_place_edit_in_dist_info(site: Path, provider: Any, differential: Any) -> None:
    """A ``*.dist-info`` file rewritten in place (no installer does it) is seen at once
    by the distribution's own members, and by ``entry_points()`` after
    ``importlib.invalidate_caches()`` (the documented blind spot of the indexes)."""
    build(site, dist_info("dev", "1.0", entry_points=EPS))
    settle()
    differential(provider)
    _edit_in_place(site / "dev-1.0.dist-info" / "entry_points.txt", "[imc.plugins]\ne = x:y\n")
    dist = provider.distribution("dev")
    assert [ep.name for ep in dist.entry_points.select(group="imc.plugins")] == ["e"]
    assert "e = x:y" in dist.read_text("entry_points.txt")
    importlib.invalidate_caches()
    assert [ep.name for ep in provider.entry_points(group="imc.plugins")] == ["e"]
    differential(provider)


def test_a_read_text_wrapped_on_the_class_is_honoured(
    site: Path, provider: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A program (or a test suite) that wraps ``PathDistribution.read_text`` on
    the class, ``functools.wraps`` and all, gets its own texts from
    ``dist.entry_points``, in a loop that the cache has already served too."""
    build(site, dist_info("dev", "1.0", entry_points=EPS))
    settle()

    def loop() -> list[Any]:
        return [sorted(d.entry_points.names) for d in provider.distributions() if d.name == "dev"]

    assert loop() == loop() == [["alpha", "tool"]]
    native = provider.PathDistribution.read_text

    @functools.wraps(native)
    def read_text(self: Any, filename: str) -> Any:
        if filename == "entry_points.txt":
            return "[imc.plugins]\nwrapped = x:y\n"
        return native(self, filename)

    monkeypatch.setattr(provider.PathDistribution, "read_text", read_text)
    on = loop()
    off = uncached(loop)
    assert on == off
    # With the backport imported after the standard library, its finder makes
    # the standard library's distributions: they are not the wrapped class's.
    if all(type(d) is provider.PathDistribution for d in provider.distributions()):
        assert on == [["wrapped"]]


@pytest.mark.parametrize("patched", ["path class", "PurePath"])
def test_a_path_constructor_patched_by_a_program_is_called_for_every_path(
    site: Path, provider: Any, monkeypatch: pytest.MonkeyPatch, patched: str
) -> None:
    """A program that validates every path it makes (its own ``Path.__init__``)
    sees the paths of ``distributions()`` made through it, as natively: the
    cache's faster making (``Path.iterdir()``'s, and on 3.12 the slots set
    directly) is used only while the path class's making is ``pathlib``'s own
    (found by a bug hunt)."""
    build(site, dist_info("aa", "1.0", entry_points=EPS))
    build(site, dist_info("Rejected", "1.0"))
    build(site, dist_info("zz", "1.0"))
    settle()

    def names() -> list[Any]:
        return sorted(str(d._path) for d in provider.distributions())

    path_class = type(Path()) if patched == "path class" else PurePath
    native = path_class.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        if any("Rejected" in str(arg) for arg in args):
            raise ValueError("rejected path")
        if native is object.__init__:  # 3.10, 3.11: the arguments are __new__'s
            native(self)
        else:
            native(self, *args, **kwargs)

    # Before this entry's first listing (natively, its paths are made then).
    monkeypatch.setattr(path_class, "__init__", init)
    for answer in (names, lambda: uncached(names)):
        with pytest.raises(ValueError, match="rejected path"):
            answer()
    monkeypatch.undo()
    assert names() == names() == uncached(names)


def test_a_read_text_set_on_the_instance_is_honoured(site: Path, provider: Any) -> None:
    """A test suite's pattern: a ``PathDistribution`` (at a path that may not
    exist) whose ``read_text`` is set on the instance; ``dist.entry_points``
    reads through it, as natively (found by a bug hunt)."""
    build(site, dist_info("dev", "1.0", entry_points=EPS))
    settle()
    texts = {"entry_points.txt": "[imc.plugins]\nfake = fake:main\n", "METADATA": "Name: fake\n"}

    def answers() -> list[Any]:
        found = []
        for where in (site / "dev-1.0.dist-info", Path("/nonexistent/fake-1.0.dist-info")):
            for _ in range(2):  # the second time, as a loop that has learnt it
                dist = provider.PathDistribution(where)
                dist.read_text = texts.get
                found.append(sorted((ep.name, ep.value) for ep in dist.entry_points))
        return found

    on = answers()
    off = uncached(answers)
    assert on == off == [[("fake", "fake:main")]] * 4


@pytest.mark.parametrize("patched", ["matches", "matches-more", "select"])
def test_a_selection_patched_by_a_program_is_honoured(
    site: Path, provider: Any, monkeypatch: pytest.MonkeyPatch, patched: str
) -> None:
    """``entry_points(...)`` is served (picking a group's entry points by its
    exact name, skipping the native ``select`` over those known to match)
    only while ``EntryPoint.matches`` and ``EntryPoints.select`` are the ones
    found at patch time: a program's own may match fewer, or more (a group
    told apart from another without regard to case: found by a bug hunt)."""
    build(site, dist_info("alpha", "1.0", entry_points=EPS))
    build(site, dist_info("beta", "1.0", entry_points=EPS.replace("alpha =", "beta =")))
    build(site, dist_info("gamma", "1.0", entry_points="[IMC.Plugins]\ngamma = g:h\n"))
    settle()
    kept = provider.entry_points(group="imc.plugins")  # an answer kept for this sys.path
    assert [ep.name for ep in kept] == ["alpha", "beta"]
    expected = ["beta"]
    if patched.startswith("matches"):
        cls = type(next(iter(kept)))
        native = cls.matches

        def replacement(self: Any, **params: Any) -> bool:
            if patched == "matches":
                return bool(native(self, **params)) and self.name != "alpha"
            lower = {k: v.lower() if k == "group" else v for k, v in params.items()}
            return bool(native(self, **params)) or bool(
                self.group.lower() == lower.get("group") and native(self)
            )

        if patched == "matches-more":
            expected = ["alpha", "beta", "gamma"]

    else:
        cls, native = provider.EntryPoints, provider.EntryPoints.select

        def replacement(self: Any, **params: Any) -> Any:
            return native(self.__class__(ep for ep in self if ep.name != "alpha"), **params)

    monkeypatch.setattr(cls, patched.partition("-")[0], replacement)

    def answers() -> list[Any]:
        found = [
            sorted(ep.name for ep in provider.entry_points(group="imc.plugins")) for _ in range(2)
        ]
        every = provider.entry_points()
        if isinstance(every, dict):  # 3.10/3.11: SelectableGroups, selected by group
            every = every.select(group="imc.plugins")
        found.append(sorted(ep.name for ep in every if ep.group == "imc.plugins"))
        return found

    on = answers()
    assert on == uncached(answers)
    assert on[:2] == [expected, expected]
    if patched != "matches-more" and not hasattr(provider, "SelectableGroups"):
        assert on[2] == expected  # the patched code ran for entry_points() too


@pytest.mark.parametrize("patched", ["__init__", "_for", "__init__.__code__"])
def test_an_entry_point_class_patched_by_a_program_is_honoured(
    site: Path, provider: Any, monkeypatch: pytest.MonkeyPatch, patched: str
) -> None:
    """Entry points are made without calling ``EntryPoint.__init__`` and
    ``_for`` only while those are the bodies known here: a program's own
    (a wrapper, a subclass's hook) is called as natively."""
    build(site, dist_info("alpha", "1.0", entry_points=EPS))
    settle()
    kept = provider.entry_points(group="imc.plugins")  # an answer kept for this sys.path
    cls = type(next(iter(kept)))
    if issubclass(cls, tuple) and patched != "_for":
        pytest.skip(f"{cls.__qualname__} is a named tuple (3.10)")
    if patched == "__init__.__code__":  # (found by a bug hunt)

        def init(self: Any, name: str, value: str, group: str) -> None:
            vars(self).update(name=name, value=value, group=group, tag="__init__.__code__")

        monkeypatch.setattr(vars(cls)["__init__"], "__code__", init.__code__)
    else:
        native = getattr(cls, patched)

        def replacement(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = native(self, *args, **kwargs)
            vars(self)["tag"] = patched
            return result

        monkeypatch.setattr(cls, patched, replacement)

    def seen(eps: Any) -> list[Any]:
        return [(ep.name, ep.value, ep.group, vars(ep).get("tag")) for ep in eps]

    def answers() -> list[Any]:
        found = [seen(provider.entry_points(group="imc.plugins")) for _ in range(2)]
        found.extend(seen(dist.entry_points) for dist in provider.distributions())
        return found

    on = answers()
    assert on == uncached(answers)
    assert on[0] == [("alpha", "pkg.alpha:Plugin [extra]", "imc.plugins", patched)]


def test_a_message_of_one_provider_wrapped_by_the_other_is_repaired_natively(
    site: Path,
) -> None:
    """With the standard library and the backport in one process, a copy made
    by one provider's ``email`` and wrapped by the other's ``Message`` is
    repaired by the wrapping one, as natively, and teaches neither's memo
    (found by a bug hunt: the backport's repair was replayed for the standard
    library's ``Message``, and the standard library's learnt as the backport's)."""
    import importlib.metadata as std

    backport = sys.modules.get("importlib_metadata")
    if backport is None:
        pytest.skip("the backport is not imported in this run")
    adapters = {
        p: importlib.import_module(f"{p.__name__}._adapters") for p in (std, backport)
    }  # the backport 10.2 imports its own lazily
    text = "Metadata-Version: 2.1\nName: a\nVersion: 1\nLicense: x\n\ty\n\nbody\n"
    build(site, {"a-1.0.dist-info/METADATA": text})
    settle()

    def seen(message: Any) -> list[Any]:
        return [list(message.items()), message.get_payload()]

    def answers() -> list[Any]:
        found = []
        for _ in range(2):
            for wrap, parse in ((std, backport), (backport, std), (std, std), (backport, backport)):
                found.append(seen(adapters[wrap].Message(parse.email.message_from_string(text))))
            found.extend(seen(p.distribution("a").metadata) for p in (std, backport))
        return found

    on = answers()
    assert on == uncached(answers)
    assert on[0] != on[1]  # the two providers do repair differently


def test_repaired_headers_are_the_native_ones_whatever_the_body(provider: Any) -> None:
    """What the provider's ``Message`` makes of a header block is kept, but the
    body it appends as ``Description`` (and empties, in the backport) is each
    message's own: one with lone surrogates, one without a body, one with."""
    block = "Metadata-Version: 2.1\nName: s\nVersion: 1\nSummary: a\n        b\n"
    texts = [block + "\nplain body\n", block, block + "\nbody \udcff\n", block + "\nother\n"]

    class Texts(provider.Distribution):  # type: ignore[misc,name-defined]
        def __init__(self, text: str) -> None:
            self.text = text

        def read_text(self, filename: str) -> str | None:
            return self.text if filename == "METADATA" else None

        def locate_file(self, path: Any) -> Any:
            return path

    def answers() -> list[Any]:
        found = []
        for text in texts * 2:
            meta = Texts(text).metadata
            items = [(k, type(v).__name__, str(v)) for k, v in meta.items()]
            found.append([type(meta).__name__, items, meta.get_payload()])
        return found

    on = answers()
    assert on == answers() == uncached(answers)
    assert on[0][1][-1] == ("Description", "str", "plain body\n")


def test_mtime_set_back(site: Path, provider: Any, differential: Any) -> None:
    """A new dist whose entry's mtime was set back with ``os.utime`` is still seen."""
    build(site, dist_info("old", "1.0"))
    settle()
    differential(provider)
    before = os.stat(site)
    build(site, dist_info("sneaky", "1.0", entry_points=EPS))
    os.utime(site, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert provider.version("sneaky") == "1.0"
    differential(provider)


def test_invalidate_caches_drops_records(site: Path, provider: Any) -> None:
    """``importlib.invalidate_caches()`` empties the in-memory layer."""
    build(site, dist_info("alpha", "1.0", entry_points=EPS))
    provider.entry_points()
    assert _record.records
    importlib.invalidate_caches()
    assert not _record.records


def test_invalidate_caches_keeps_its_signature(provider: Any) -> None:
    """The metadata finder's method keeps its native kind (3.10: not a classmethod)."""
    finder = provider.MetadataPathFinder
    native_is_classmethod = isinstance(
        vars(finder)["invalidate_caches"], (classmethod, staticmethod)
    )
    if native_is_classmethod:
        finder.invalidate_caches()
    else:
        with pytest.raises(TypeError):
            finder.invalidate_caches()
    finder().invalidate_caches()


def test_threads(site: Path, provider: Any) -> None:
    """Concurrent queries from threads all get the uncached answer."""
    import threading

    for i in range(30):
        build(site, dist_info(f"pkg{i}", "1.0", entry_points=EPS if i % 2 else None))
    expected = sorted(repr(ep) for ep in provider.entry_points(group="imc.plugins"))
    results: list[Any] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                importlib.invalidate_caches() if len(results) % 7 == 3 else None
                results.append(
                    sorted(repr(ep) for ep in provider.entry_points(group="imc.plugins"))
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    settle()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 120
    assert all(r == expected for r in results)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_sees_its_own_changes(site: Path, provider: Any) -> None:
    """A child after ``fork`` starts from the parent's records and stays correct."""
    build(site, dist_info("alpha", "1.0", entry_points=EPS))
    settle()
    provider.entry_points()
    provider.entry_points()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            build(site, dist_info("child", "1.0", entry_points=EPS))
            ok = provider.version("child") == "1.0" and provider.version("alpha") == "1.0"
            os.write(write, b"ok" if ok else b"bad")
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    _, code = os.waitpid(pid, 0)
    assert os.read(read, 10) == b"ok"
    assert code == 0
    assert provider.version("child") == "1.0"


def test_file_replaced_inside_dist_info(site: Path, provider: Any, differential: Any) -> None:
    """A file replaced (written aside, then renamed) inside a ``*.dist-info`` is seen at
    once: the distribution is in the answer, and its directory's stamp changed."""
    build(site, dist_info("dev", "1.0", entry_points=EPS))
    build(site, dist_info("other", "1.0", entry_points=EPS))
    settle()
    differential(provider)
    target = site / "dev-1.0.dist-info" / "entry_points.txt"
    aside = target.with_name("entry_points.txt.new")
    aside.write_text("[imc.plugins]\nreplaced = x:y\n")
    os.replace(aside, target)
    names = [ep.name for ep in provider.entry_points(group="imc.plugins")]
    assert names == ["replaced", "alpha"]
    assert provider.distribution("dev").entry_points.names == {"replaced"}
    differential(provider)


def test_from_name_of_a_subclass_discovers_its_own_way(site: Path, provider: Any) -> None:
    """A Distribution subclass with its own resolvers is never answered from the indexes."""
    build(site, dist_info("alpha", "1.0", entry_points=EPS))
    settle()

    class Elsewhere(provider.Distribution):  # type: ignore[name-defined,misc]
        @staticmethod
        def _discover_resolvers() -> Any:
            return iter(())

    provider.version("alpha")
    with pytest.raises(provider.PackageNotFoundError):
        Elsewhere.from_name("alpha")


def test_an_egg_info_file_keeps_its_index(site: Path, provider: Any, differential: Any) -> None:
    """An entry with a legacy ``*.egg-info`` file is indexed once, not at every query."""
    from importlib_metadata_cache import _query

    build(site, {"legacy-0.1.egg-info": metadata("legacy", "0.1")})
    build(site, dist_info("alpha", "1.0", entry_points=EPS))
    settle()
    differential(provider)
    provider.entry_points(group="imc.plugins")
    source = indexes_serve(provider)
    if source is not None:
        index = _query._indexes.get((source, str(site)))
        assert index is not None and index.fresh()
        provider.entry_points(group="imc.plugins")
        assert _query._indexes[(source, str(site))] is index


def test_an_egg_spelled_two_ways(
    tmp_path: Path, syspath: list[str], provider: Any, differential: Any
) -> None:
    """'/x.egg/' (no EGG-INFO natively) before '/x.egg' (EGG-INFO read) share no index."""
    egg = build(
        tmp_path / "foo-1.0-py3.12.egg",
        {
            "EGG-INFO/PKG-INFO": metadata("foo", "1.0"),
            "EGG-INFO/entry_points.txt": "[console_scripts]\nfoo = pkg.mod:main\n",
        },
    )
    settle()
    syspath[0:0] = [egg + "/", egg]
    assert [
        ep.name for ep in provider.entry_points(group="console_scripts") if ep.name == "foo"
    ] == ["foo"]
    differential(provider)


def _record_rows(info: str, *paths: str) -> str:
    return "".join(f"{p},," + "\n" for p in (*paths, f"{info}/METADATA", f"{info}/RECORD"))


def test_packages_distributions_inferred_from_files_that_come_and_go(
    site: Path, tmp_path: Path, provider: Any, differential: Any
) -> None:
    """``packages_distributions()`` infers names from ``RECORD`` when there is no
    ``top_level.txt``; on 3.12+ only from listed files that exist, wherever they
    are (``../bin`` too), so deleting or creating a package's files by hand,
    without touching any metadata, changes the answer: so it must with the cache."""
    from importlib_metadata_cache import _packages

    info = "inferred-1.0.dist-info"
    scripts = tmp_path / "bin"
    rows = _record_rows(
        info,
        "pkg/__init__.py",
        "pkg/sub/deep.py",
        "solo.py",
        "solo.pth",
        "__pycache__/solo.cpython-312.pyc",
        "odd.name.py",
        "gone/never.py",
        "../bin/tool",
    )
    build(site, {f"{info}/METADATA": metadata("inferred", "1.0"), f"{info}/RECORD": rows})
    build(site, {"pkg/__init__.py": "", "pkg/sub/deep.py": "", "solo.py": "", "solo.pth": ""})
    build(site, dist_info("declared", "2.0", top_level="decl\n"))
    also = _record_rows("alsopkg-3.0.dist-info", "pkg/x.py")
    build(site, dist_info("alsopkg", "3.0", record=also))
    settle()
    check_now_and_settled(differential, provider)
    if tables_serve(provider):
        assert any(k[1] == str(site) for k in _packages._tables), "not served by the tables"
    steps = [
        lambda: (site / "pkg" / "sub" / "deep.py").unlink(),
        lambda: (site / "pkg" / "__init__.py").unlink(),  # 'pkg' has no listed file left
        lambda: build(scripts, {"tool": "#!/bin/sh\n"}),  # a listed file outside the entry
        lambda: build(site, {"__pycache__/solo.cpython-312.pyc": b""}),
        lambda: build(site, {"gone/never.py": ""}),
        lambda: build(site, {"pkg/sub/deep.py": ""}),
        lambda: (scripts / "tool").unlink(),
        lambda: (site / "solo.py").unlink(),
    ]
    for step in steps:
        step()
        differential(provider)
        settle()
        differential(provider)


def test_packages_distributions_of_legacy_egg_info_edited_in_place(
    site: Path, provider: Any, differential: Any
) -> None:
    """``setup.py develop``/``egg_info`` rewrite ``top_level.txt``, ``SOURCES.txt``
    and ``PKG-INFO`` in place: each edit is seen at once."""
    egg = site / "legacy.egg-info"
    build(site, {"legacy.egg-info/PKG-INFO": metadata("legacy", "1.0")})
    build(site, {"legacy.egg-info/SOURCES.txt": "setup.py\nlegacy/__init__.py\n"})
    build(site, {"legacy/__init__.py": "", "setup.py": ""})
    settle()
    check_now_and_settled(differential, provider)
    for file, text in (
        ("top_level.txt", "legacy\n"),
        ("top_level.txt", "legacy\nlegacy_ext\n"),
        ("PKG-INFO", metadata("Legacy-Renamed", "1.1")),
        ("top_level.txt", ""),
        ("SOURCES.txt", "setup.py\nlegacy/__init__.py\nother.py\n"),
    ):
        (egg / file).write_text(text)
        differential(provider)
        settle()
        differential(provider)


@pytest.mark.parametrize("root", ["/", "/a/b", "/a/b/", "//x/y", "/a/./b", "/a/../b", "/sp ace/é"])
def test_listing_paths_are_the_native_paths(root: str) -> None:
    """The distributions' ``_path`` objects built from a cached listing are what
    the native ``FastPath.joinpath`` builds: ``pathlib.Path(root, child)``."""
    children = ("one-1.0.dist-info", "Two.EGG-INFO", "é-3.dist-info", "x")
    listing = _record._Listing(root, children)
    for child in children:
        made, plain = listing.joinpath(child), Path(root, child)
        assert type(made) is type(plain)
        assert (str(made), made.parts, made.name, made.parent, hash(made)) == (
            str(plain),
            plain.parts,
            plain.name,
            plain.parent,
            hash(plain),
        )
        assert made == plain


def test_a_search_by_name_is_served_from_the_listing(site: Path, differential: Any) -> None:
    """``version()``/``distribution()`` find the distribution through a table of
    names built from the listing alone (no distribution's files are read), the
    first match across ``sys.path`` as the native search; absent names raise."""
    import importlib.metadata as md

    from importlib_metadata_cache import _query

    build(site, dist_info("alpha", "1.0"))
    build(site, dist_info("Alpha", "2.0", suffix=".egg-info"))  # a second of that name
    build(site, dist_info("my_dashed.pkg", "3.0"))
    settle()
    assert md.version("alpha") in ("1.0", "2.0")  # the first listed, as natively
    assert md.version("My-Dashed-Pkg") == "3.0"
    source = indexes_serve(md)
    if source is not None:
        assert (source, str(site)) in _query._names
    with pytest.raises(md.PackageNotFoundError):
        md.version("not-installed-imc")
    differential(md)


EPS_LATER = "[imc.plugins]\nbeta = later.beta:Plugin\n"


def test_distributions_without_metadata_go_last(
    site: Path, tmp_path: Path, syspath: list[str], provider: Any, differential: Any
) -> None:
    """The backport 10 puts distributions without metadata after the others
    (``_prefer_valid``) before it drops shadowed names, in ``entry_points()``
    and ``from_name()``: a shadowing distribution that loses its ``METADATA``
    in place (outside the answer: it has no entry points) lets the shadowed one
    win. Across entries and within one."""
    from importlib_metadata_cache import _query

    later = tmp_path / "later"
    later.mkdir()
    syspath.insert(1, str(later))
    build(site, dist_info("twin", "1.0"))
    build(later, dist_info("twin", "2.0", entry_points=EPS_LATER))
    build(site, dist_info("solo", "1.0", entry_points=EPS))
    settle()
    check_now_and_settled(differential, provider)
    assert [ep.name for ep in provider.entry_points(group="imc.plugins")] == ["alpha"]
    source = indexes_serve(provider)
    if source is not None:
        assert (source, str(site)) in _query._indexes
        assert (source, str(later)) in _query._indexes
    (site / "twin-1.0.dist-info" / "METADATA").unlink()  # the shadowing twin
    check_now_and_settled(differential, provider)
    (site / "twin-1.0.dist-info" / "METADATA").write_text(metadata("twin", "1.0"))
    check_now_and_settled(differential, provider)

    # Two of one name in one entry: the first one listed (no entry points)
    # loses its metadata.
    shutil.rmtree(site / "twin-1.0.dist-info")
    build(later, dist_info("Twin", "3.0"))
    (later / "twin-2.0.dist-info" / "entry_points.txt").unlink()
    listed = [d.version for d in provider.distributions() if d.name.lower() == "twin"]
    assert sorted(listed) == ["2.0", "3.0"]
    first, second = ("twin-2.0", "Twin-3.0") if listed[0] == "2.0" else ("Twin-3.0", "twin-2.0")
    build(later, {f"{second}.dist-info/entry_points.txt": EPS_LATER, "bump": ""})
    (later / "bump").unlink()  # the entry changes: its index is built again
    settle()
    check_now_and_settled(differential, provider)
    (later / f"{first}.dist-info" / "METADATA").unlink()
    check_now_and_settled(differential, provider)
    with pytest.raises(provider.PackageNotFoundError):
        provider.distribution("not-installed-imc")
