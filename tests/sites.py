"""Declarative site builders: a dict of relative paths to file contents.

``build(root, {"foo-1.0.dist-info/METADATA": "Name: foo\\nVersion: 1.0\\n"})``
writes the files (``str`` as UTF-8, ``bytes`` as is; ``None`` makes an empty
directory) and returns ``root`` as a string, ready for ``sys.path``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["build", "build_zip", "dist_info", "metadata"]

Files = Mapping[str, "str | bytes | None"]


def metadata(name: str, version: str = "1.0", **headers: str) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return "\n".join(lines) + "\n\nA description.\n"


def dist_info(
    name: str,
    version: str = "1.0",
    *,
    entry_points: str | None = None,
    top_level: str | None = None,
    record: str | None = None,
    suffix: str = ".dist-info",
) -> dict[str, str | bytes | None]:
    """The files of one ``*.dist-info`` (or ``*.egg-info`` with ``suffix``)."""
    base = f"{name}-{version}{suffix}"
    meta = "PKG-INFO" if suffix == ".egg-info" else "METADATA"
    files: dict[str, str | bytes | None] = {f"{base}/{meta}": metadata(name, version)}
    if entry_points is not None:
        files[f"{base}/entry_points.txt"] = entry_points
    if top_level is not None:
        files[f"{base}/top_level.txt"] = top_level
    if record is not None:
        files[f"{base}/RECORD"] = record
    return files


def build(root: Path | str, files: Files) -> str:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        path.write_bytes(data)
    return os.fspath(root)


def build_zip(path: Path | str, files: Files) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for rel, content in files.items():
            if content is None:
                zf.writestr(rel.rstrip("/") + "/", b"")
            else:
                zf.writestr(rel, content.encode("utf-8") if isinstance(content, str) else content)
    return os.fspath(path)
