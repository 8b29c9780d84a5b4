"""``packages_distributions()``: the cases its tables must get right, each
compared cache off vs on (as ``test_differential``): files rewritten in place,
the 3.12+ existence filter (order included), symlinks, and that realistic
sites are served by the tables at all."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import settle, tables_serve
from sites import build, dist_info, metadata


def _rewrite(target: Path, text: str) -> None:
    """In place: same inode, the directory's mtime untouched (open 'w')."""
    with open(target, "w") as handle:
        handle.write(text)


def _served(site: Path) -> bool:
    from importlib_metadata_cache import _packages

    return any(k[1] == str(site) for k in _packages._tables)


def _cycle(differential: Any, provider: Any) -> None:
    differential(provider)
    settle()
    differential(provider)


needs_filter = pytest.mark.skipif(sys.version_info < (3, 12), reason="3.12+ existence filter")
needs_infer = pytest.mark.skipif(sys.version_info < (3, 11), reason="3.11+ inference")


# 1. Name read from a *.dist-info METADATA rewritten in place (what the
#    property test's edit_metadata step does): the row's stamp is the dir's.
@pytest.mark.parametrize("declared", [True, False])
def test_dist_info_metadata_rewritten_in_place(
    site: Path, provider: Any, differential: Any, declared: bool
) -> None:
    if not declared and sys.version_info < (3, 11):
        pytest.skip("no inference on 3.10")
    files = dist_info("foo", "1.0", top_level="pkg\n" if declared else None)
    if not declared:
        files["foo-1.0.dist-info/RECORD"] = "pkg/__init__.py,,\n"
    build(site, files)
    build(site, {"pkg/__init__.py": ""})
    settle()
    _cycle(differential, provider)
    _rewrite(site / "foo-1.0.dist-info" / "METADATA", metadata("renamed", "1.0"))
    _cycle(differential, provider)


# 2. top_level.txt of a *.dist-info rewritten in place.
def test_dist_info_top_level_rewritten_in_place(
    site: Path, provider: Any, differential: Any
) -> None:
    build(site, dist_info("foo", "1.0", top_level="pkg\n"))
    settle()
    _cycle(differential, provider)
    _rewrite(site / "foo-1.0.dist-info" / "top_level.txt", "pkg\nother\n")
    _cycle(differential, provider)


# 3. RECORD of a *.dist-info rewritten in place (inferred names).
@needs_infer
def test_dist_info_record_rewritten_in_place(site: Path, provider: Any, differential: Any) -> None:
    files = dist_info("foo", "1.0", record="pkg/__init__.py,,\n")
    build(site, files)
    build(site, {"pkg/__init__.py": "", "other/__init__.py": ""})
    settle()
    _cycle(differential, provider)
    _rewrite(site / "foo-1.0.dist-info" / "RECORD", "pkg/__init__.py,,\nother/__init__.py,,\n")
    _cycle(differential, provider)


def _order_sensitive_pair() -> tuple[str, str]:
    """Two names whose set order (in this process) follows insertion order."""
    for i in range(10_000):
        for j in range(i + 1, i + 50):
            a, b = f"m{i}", f"m{j}"
            if list(set([a, b])) != list(set([b, a])):
                return a, b
    raise AssertionError("no pair")


# 4. 3.12+: a missing file listed *before* an existing file of the same name
#    gets created: the name's first occurrence moves, so does the set order.
@needs_filter
def test_inferred_order_when_an_earlier_listed_file_appears(
    site: Path, provider: Any, differential: Any
) -> None:
    a, b = _order_sensitive_pair()
    rows = f"{a}/x.py,,\n{b}/y.py,,\n{a}/z.py,,\n"
    build(site, dist_info("foo", "1.0", record=rows))
    build(site, {f"{b}/y.py": "", f"{a}/z.py": ""})
    settle()
    _cycle(differential, provider)
    if tables_serve(provider):
        assert _served(site)
    build(site, {f"{a}/x.py": ""})  # inside site/<a>: site's own mtime unchanged
    _cycle(differential, provider)


# 5. 3.12+: a listed file directly in the entry is a symlink; its target goes
#    (or comes). exists() follows the link; the entry's stamp does not change.
@needs_filter
@pytest.mark.parametrize("start_dangling", [False, True])
def test_symlinked_listed_file_in_the_entry(
    site: Path, tmp_path: Path, provider: Any, differential: Any, start_dangling: bool
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "solo.py"
    if not start_dangling:
        target.write_text("")
    (site / "solo.py").symlink_to(target)
    build(site, dist_info("foo", "1.0", record="solo.py,,\n"))
    settle()
    _cycle(differential, provider)
    if start_dangling:
        target.write_text("")
    else:
        target.unlink()
    _cycle(differential, provider)


# 6. 3.12+: installed-files.txt paths are resolve()d: a symlink deeper in the
#    entry re-pointed changes the inferred name, no stamp the table checks moves.
@needs_filter
def test_installed_files_through_a_symlink_repointed(
    site: Path, provider: Any, differential: Any
) -> None:
    build(site, {"leg.egg-info/PKG-INFO": metadata("leg", "1.0")})
    build(site, {"leg.egg-info/installed-files.txt": "../a/b/mod.py\n"})
    build(site, {"c/mod.py": "", "d/mod.py": "", "a/keep": ""})
    (site / "a" / "b").symlink_to(Path("..") / "c", target_is_directory=True)
    settle()
    _cycle(differential, provider)
    tmp = site / "a" / "b.tmp"
    tmp.symlink_to(Path("..") / "d", target_is_directory=True)
    os.replace(tmp, site / "a" / "b")
    _cycle(differential, provider)


# 7. Performance only: many inferred names; is the table built at all?
@needs_infer
def test_many_inferred_names_are_served(site: Path, provider: Any, differential: Any) -> None:
    names = [f"p{i}" for i in range(12)]
    build(site, dist_info("foo", "1.0", record="".join(f"{n}/__init__.py,,\n" for n in names)))
    build(site, {f"{n}/__init__.py": "" for n in names})
    settle()
    _cycle(differential, provider)
    if tables_serve(provider):
        assert _served(site), "table refused (build-time order check)"


# 8. invalidate_caches() afterwards: does it heal case 1?
def test_metadata_rewrite_then_invalidate(site: Path, provider: Any, differential: Any) -> None:
    build(site, dist_info("foo", "1.0", top_level="pkg\n"))
    settle()
    _cycle(differential, provider)
    _rewrite(site / "foo-1.0.dist-info" / "METADATA", metadata("renamed", "1.0"))
    importlib.invalidate_caches()
    _cycle(differential, provider)


# 9. Performance only: a realistic site of wheels without top_level.txt.
@needs_infer
def test_many_dists_with_inferred_names_are_served(site: Path, provider: Any) -> None:
    for d in range(30):
        names = [f"q{d}_{i}" for i in range(8)]
        rows = "".join(f"{n}/__init__.py,,\n" for n in names)
        build(site, dist_info(f"d{d}", "1.0", record=rows))
        build(site, {f"{n}/__init__.py": "" for n in names})
    settle()
    if not tables_serve(provider):
        pytest.skip("the tables serve the standard library's resolver only")
    provider.packages_distributions()
    assert _served(site), "table refused"
