"""Real wheels, real venvs, real subprocesses: helpers for the integration tests.

* ``our_wheel(tmp_path_factory)``: builds this project's wheel once per test
  session (``pip wheel --no-deps``; pip fetches hatchling into its isolated
  build env). ``IMC_TEST_WHEEL=/path/to/x.whl`` uses a prebuilt wheel instead.
* ``create_venv(path, wheel, options=..., with_pip=...)``: a fresh ``python -m
  venv`` (from ``sys.executable``; ``options`` such as ``--copies`` or
  ``--system-site-packages``), with ``wheel`` installed offline. Without pip
  (``with_pip=False``, 0.1 s instead of 4 s), ``pip`` drives the venv from this
  interpreter's pip with ``--python``.
* ``clone_venv(venv, dest)``: ``cp -a`` of a venv to another path, usable there.
* ``run(venv, code_or_args, env=...)``: runs the venv's interpreter, prints the
  command, its exit code, stdout and stderr (pytest shows them on a failure),
  and returns the ``CompletedProcess``.
* ``fake_wheel(directory, name, version, entry_points)``: a tiny pure-Python
  wheel written by hand (METADATA, WHEEL, entry_points.txt, RECORD with
  sha256 hashes), installable with ``pip install --no-index --no-deps``.

Subprocesses get a clean environment: no ``PYTHON*`` variable (a
``PYTHONPATH=src`` of the outer run would make our package importable in the
venv without its ``.pth``), no ``VIRTUAL_ENV``, and none of our own
``IMPORTLIB_METADATA_CACHE*`` variables (``conftest`` sets a short settle
window, a tox ``-off`` env sets the off switch) unless a test passes them;
except ``IMPORTLIB_METADATA_CACHE_DIR``, which ``run`` points at a store of the
venv's own (beside it), so that persisted records never reach the user's cache.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import random
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "OUR_FILES",
    "REPO_ROOT",
    "Venv",
    "clean_env",
    "clone_venv",
    "create_venv",
    "fake_wheel",
    "our_wheel",
    "run",
]

#: The repository root: the directory holding ``pyproject.toml``.
REPO_ROOT = Path(__file__).resolve().parent.parent

#: The startup files our wheel puts at the root of site-packages.
OUR_FILES = ("importlib_metadata_cache.pth", "importlib_metadata_cache.start")

#: Generous: a cold ``pip wheel`` downloads hatchling.
TIMEOUT = 600

_DROPPED = ("VIRTUAL_ENV", "__PYVENV_LAUNCHER__", "PIP_USER", "PIP_TARGET", "PIP_PREFIX")


HASH_SEED = os.environ.get("IMC_TEST_HASH_SEED") or str(random.randrange(1, 2**32))


def clean_env(overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """``os.environ`` without the variables that would skew a venv's interpreter.

    ``overrides`` are applied last; a ``None`` value removes the variable.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "IMPORTLIB_METADATA_CACHE")) and k not in _DROPPED
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # One string hashing for every process of the session: answers whose order
    # follows it (the keys of packages_distributions()) compare across processes.
    env["PYTHONHASHSEED"] = HASH_SEED
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _show(cmd: Sequence[str], proc: subprocess.CompletedProcess[str]) -> None:
    print(f"$ {' '.join(map(str, cmd))}")
    print(f"[exit {proc.returncode}]")
    if proc.stdout:
        print("[stdout]")
        print(proc.stdout.rstrip("\n"))
    if proc.stderr:
        print("[stderr]")
        print(proc.stderr.rstrip("\n"))


def _run(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | os.PathLike[str] | None,
    check: bool,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [os.fspath(c) for c in cmd],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    _show(cmd, proc)
    if check:
        assert proc.returncode == 0, f"{cmd!r} exited {proc.returncode}:\n{proc.stderr}"
    return proc


@dataclass(frozen=True)
class Venv:
    root: Path
    python: Path
    site_packages: Path
    #: ``IMPORTLIB_METADATA_CACHE_DIR`` for every process ``run`` starts here.
    cache_dir: Path

    def our_files(self) -> list[str]:
        """Which of our startup files are in this venv's site-packages."""
        return [name for name in OUR_FILES if (self.site_packages / name).exists()]


def run(
    venv: Venv,
    code_or_args: str | Sequence[str],
    *,
    env: Mapping[str, str | None] | None = None,
    flags: Sequence[str] = (),
    cwd: str | os.PathLike[str] | None = None,
    check: bool = True,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run the venv's interpreter: a ``str`` is ``-c`` code, a list is argv.

    ``flags`` go before ``-c`` (``-S``, ``-I``, ``-E``). ``env`` overrides the
    clean environment (``None`` removes a variable), in which
    ``IMPORTLIB_METADATA_CACHE_DIR`` is the venv's store. The default ``cwd`` is the
    venv root, so that the repository's ``src`` is never on the path. With
    ``check`` a non-zero exit fails the test.
    """
    if isinstance(code_or_args, str):
        cmd: list[str] = [os.fspath(venv.python), *flags, "-c", code_or_args]
    else:
        cmd = [os.fspath(venv.python), *flags, *map(os.fspath, code_or_args)]
    overrides: dict[str, str | None] = {"IMPORTLIB_METADATA_CACHE_DIR": str(venv.cache_dir)}
    overrides.update(env or {})
    return _run(
        cmd,
        env=clean_env(overrides),
        cwd=venv.root if cwd is None else cwd,
        check=check,
        timeout=timeout,
    )


def pip(
    venv: Venv,
    *args: str | os.PathLike[str],
    env: Mapping[str, str | None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m pip ARGS`` for the venv (the caller passes ``--no-index``).

    The venv's own pip if it has one; else this interpreter's pip with
    ``--python`` (pip 22.3+), which runs inside the venv's interpreter all the
    same. ``env`` as for ``run`` (``PYTHONUSERBASE`` for ``--user``, say).
    """
    if (venv.site_packages / "pip").is_dir():
        return run(venv, ["-m", "pip", *map(os.fspath, args)], env=env)
    overrides: dict[str, str | None] = {"IMPORTLIB_METADATA_CACHE_DIR": str(venv.cache_dir)}
    overrides.update(env or {})
    return _run(
        [sys.executable, "-m", "pip", "--python", venv.python, *args],
        env=clean_env(overrides),
        cwd=venv.root,
        check=True,
    )


_WHEELS: dict[str, Path] = {}


def our_wheel(tmp_path_factory: Any) -> Path:
    """This project's wheel, built once per session (or ``IMC_TEST_WHEEL``)."""
    if "ours" in _WHEELS:
        return _WHEELS["ours"]
    prebuilt = os.environ.get("IMC_TEST_WHEEL")
    if prebuilt:
        wheel = Path(prebuilt).resolve()
        assert wheel.is_file(), f"IMC_TEST_WHEEL={prebuilt!r} is not a file"
    else:
        out = tmp_path_factory.mktemp("our-wheel")
        env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
        for key in ("PYTHONPATH", "PIP_USER", "PIP_TARGET", "PIP_PREFIX"):
            env.pop(key, None)
        _run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", os.fspath(out), REPO_ROOT],
            env=env,
            cwd=out,
            check=True,
        )
        found = sorted(out.glob("importlib_metadata_cache-*.whl"))
        assert len(found) == 1, f"expected one wheel in {out}, found {found}"
        wheel = found[0]
    _WHEELS["ours"] = wheel
    return wheel


def create_venv(
    path: Path,
    wheel: Path | None = None,
    *,
    options: Sequence[str] = (),
    with_pip: bool = True,
) -> Venv:
    """A fresh venv at ``path``, with ``wheel`` installed if given.

    ``options`` go to ``python -m venv`` (``--copies``, ``--system-site-packages``).
    """
    cmd = [sys.executable, "-m", "venv", *options]
    if not with_pip:
        cmd.append("--without-pip")
    _run([*cmd, os.fspath(path)], env=clean_env(), cwd=path.parent, check=True)
    venv = _venv_at(path)
    if wheel is not None:
        pip(venv, "install", "--no-index", "--no-deps", wheel)
    return venv


def _venv_at(path: Path) -> Venv:
    python = path / "bin" / "python"
    if not python.exists():  # Windows layout; not supported, but be explicit
        python = path / "Scripts" / "python.exe"
    cache_dir = path.parent / f"{path.name}-imc-cache"
    bare = Venv(path, python, path, cache_dir)
    proc = run(bare, "import sysconfig; print(sysconfig.get_path('purelib'))")
    return Venv(path, python, Path(proc.stdout.strip()), cache_dir)


def clone_venv(venv: Venv, dest: Path) -> Venv:
    """``cp -a`` the venv to ``dest``: same files, modes and mtimes, another path.

    The copy works where it is (``bin/python`` links to the base interpreter and
    ``pyvenv.cfg`` is found beside it); only its scripts' shebangs still name the
    old path. Its ``cache_dir`` is its own, beside it.
    """
    _run(["cp", "-a", venv.root, dest], env=clean_env(), cwd=dest.parent, check=True)
    return _venv_at(dest)


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def fake_wheel(
    directory: Path,
    name: str,
    version: str,
    entry_points: str = "",
    *,
    summary: str = "A fake distribution for the integration tests.",
    modules: Mapping[str, str] | None = None,
) -> Path:
    """Write ``{name}-{version}-py3-none-any.whl`` into ``directory`` by hand.

    It holds a package ``name`` (an ``__init__.py`` recording the version) and a
    dist-info with METADATA, WHEEL, ``entry_points.txt`` (if any text is
    given), ``top_level.txt`` and a RECORD with sha256 hashes, so that pip
    installs and uninstalls it offline. ``name`` must be a valid identifier.
    ``modules`` adds (or replaces) files of the package: a path relative to
    the wheel's root (``f"{name}/plugin.py"``) and its text.
    """
    assert name.isidentifier(), name
    directory.mkdir(parents=True, exist_ok=True)
    dist_info = f"{name}-{version}.dist-info"
    files: dict[str, bytes] = {
        f"{name}/__init__.py": f"__version__ = {version!r}\n".encode(),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: importlib-metadata-cache-tests\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        f"{dist_info}/top_level.txt": f"{name}\n".encode(),
    }
    for path, text in (modules or {}).items():
        files[path] = text.encode()
    if entry_points:
        files[f"{dist_info}/entry_points.txt"] = entry_points.encode()
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path, data in files.items():
        writer.writerow([path, _record_hash(data), str(len(data))])
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    files[f"{dist_info}/RECORD"] = record.getvalue().encode()
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel
