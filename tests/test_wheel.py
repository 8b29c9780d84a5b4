"""The built wheel: the startup files at its root, listed and hashed in RECORD."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import zipfile
from pathlib import Path

import pytest

import venvs

pytestmark = pytest.mark.integration

PTH = "importlib_metadata_cache.pth"
START = "importlib_metadata_cache.start"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return venvs.our_wheel(tmp_path_factory)


@pytest.fixture(scope="module")
def contents(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


@pytest.fixture(scope="module")
def record(contents: dict[str, bytes]) -> dict[str, tuple[str, str]]:
    names = [n for n in contents if n.endswith(".dist-info/RECORD") and n.count("/") == 1]
    assert len(names) == 1, names
    rows = csv.reader(io.StringIO(contents[names[0]].decode("utf-8")))
    return {row[0]: (row[1], row[2]) for row in rows if row}


def test_startup_files_at_the_root(contents: dict[str, bytes]) -> None:
    assert PTH in contents
    assert START in contents
    # Nowhere else: a copy inside the package would never be processed by site.
    assert [n for n in contents if n.endswith((".pth", ".start"))] == sorted([PTH, START])


def test_every_file_is_in_record_with_a_matching_hash(
    contents: dict[str, bytes], record: dict[str, tuple[str, str]]
) -> None:
    assert PTH in record
    assert START in record
    assert set(record) == set(contents)
    for name, data in contents.items():
        hash_, size = record[name]
        if name.endswith(".dist-info/RECORD"):
            assert (hash_, size) == ("", "")
            continue
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        assert hash_ == "sha256=" + digest.decode("ascii"), name
        assert int(size) == len(data), name


def test_pth_is_one_ascii_import_line(contents: dict[str, bytes]) -> None:
    data = contents[PTH]
    text = data.decode("ascii")  # raises on anything else
    lines = text.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(("import ", "import\t")), lines[0]
    assert "\r" not in text
    assert "importlib_metadata_cache" in lines[0]
    assert "activate()" in lines[0]
    compile(lines[0], PTH, "exec")  # site exec()s it: it must at least compile


def test_start_names_the_activation_entry_point(contents: dict[str, bytes]) -> None:
    text = contents[START].decode("utf-8")
    entries = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert entries == ["importlib_metadata_cache._startup:activate"]


def test_wheel_is_pure_python(contents: dict[str, bytes]) -> None:
    wheel_files = [n for n in contents if n.endswith(".dist-info/WHEEL")]
    assert len(wheel_files) == 1
    text = contents[wheel_files[0]].decode("utf-8")
    assert "Root-Is-Purelib: true" in text
    assert "Tag: py3-none-any" in text


def test_typed_marker_is_shipped(contents: dict[str, bytes]) -> None:
    """The classifiers say "Typing :: Typed": PEP 561 wants the marker file."""
    assert "importlib_metadata_cache/py.typed" in contents
