"""Synthetic benchmark environments: real venvs with N generated distributions.

Each environment is a ``python -m venv`` with this project's wheel installed
(built once per source tree and reused for every Python and every N),
stevedore installed (for the stevedore baseline), and N synthetic
distributions written straight into its site-packages:

* ``pkgNNNN-X.Y.Z.dist-info/`` with a realistic ``METADATA`` (headers with
  several ``Classifier``/``Requires-Dist``/``Project-URL`` lines and a Markdown
  description of 1-8 KB, sizes varying per distribution), a ``RECORD`` of 7-30
  rows whose files all exist (``pkgNNNN/__init__.py`` and a few modules, with
  real sha256 hashes and sizes), ``top_level.txt``, ``INSTALLER`` and ``WHEEL``;
* about 20 % of them with an ``entry_points.txt``: ``console_scripts`` and a few
  plugin groups, ``common.group`` in about three quarters of those, and
  ``rare.group`` in exactly one distribution;
* two legacy ``pkgNNNN-X.Y.Z-pyX.Y.egg-info/`` directories (``PKG-INFO``,
  ``SOURCES.txt``, ``top_level.txt``, ``installed-files.txt``).

Generation is deterministic (seeded by N). Environments are kept under
``<out>/envs/<python>-N<n>/`` and reused by later runs unless ``--fresh``; a
reused environment whose installed wheel is not the one built from the current
source tree gets the current wheel reinstalled.

For ``--backport own`` and ``--backport stdlib`` the environment also has the
``importlib_metadata`` backport from the index (pinned where its newest
release does not install, see ``BACKPORT_PINS``) and lives apart, under
``<out>/envs/<python>-N<n>-bp/``, so that plain environments stay as they are.
N counts the synthetic distributions only: the backport and what it brings
(``zipp``, ``lazy-importer``) come on top, like pip and stevedore.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

#: Bump when the generated contents change: older environments are rebuilt.
GENERATOR_VERSION = 3

REPO_ROOT = Path(__file__).resolve().parent.parent

#: The dists every query scenario asks about by name.
NAMED_DIST = "pkg0007"
COMMON_GROUP = "common.group"
RARE_GROUP = "rare.group"

#: The tiny extra distribution installed with pip by the "after pip install" scenario.
EXTRA_NAME = "benchextra"

#: The backport's distribution name, and its pinned version per Python (X.Y)
#: where the newest release does not install; elsewhere the newest.
BACKPORT = "importlib_metadata"
BACKPORT_PINS = {"3.10": "9.0.1"}

#: Appended to the directory name of an environment with the backport.
BACKPORT_SUFFIX = "-bp"

PTH = "importlib_metadata_cache.pth"
PTH_DISABLED = PTH + ".bench-disabled"

_DROPPED = ("VIRTUAL_ENV", "__PYVENV_LAUNCHER__", "PIP_USER", "PIP_TARGET", "PIP_PREFIX")


def clean_env(**overrides: str | None) -> dict[str, str]:
    """``os.environ`` without what would skew a venv's interpreter or our cache."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "IMPORTLIB_METADATA_CACHE")) and k not in _DROPPED
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    # Keep the user's settle window if they chose one (a slow NFS home, ...).
    settle = os.environ.get("IMPORTLIB_METADATA_CACHE_SETTLE_MS")
    if settle:
        env["IMPORTLIB_METADATA_CACHE_SETTLE_MS"] = settle
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def settle_seconds() -> float:
    try:
        ms = float(os.environ.get("IMPORTLIB_METADATA_CACHE_SETTLE_MS", "2000"))
    except ValueError:
        ms = 2000.0
    return (ms if ms >= 0 else 2000.0) / 1000.0


def _run(cmd: list[str], env: dict[str, str] | None = None, quiet: bool = True) -> str:
    proc = subprocess.run(cmd, env=env or clean_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
        )
    if not quiet:
        print(proc.stdout, end="")
    return proc.stdout


# --------------------------------------------------------------------------- wheel


def source_hash() -> str:
    """A digest of what goes into our wheel: pyproject.toml and src/."""
    h = hashlib.sha256()
    files = [REPO_ROOT / "pyproject.toml"]
    files += sorted(
        p for p in (REPO_ROOT / "src").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    for path in files:
        h.update(str(path.relative_to(REPO_ROOT)).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def our_wheel(out: Path, python: str) -> Path:
    """This project's wheel, built once per source tree (``pip wheel --no-deps``)."""
    digest = source_hash()
    directory = out / "wheels" / digest
    found = sorted(directory.glob("importlib_metadata_cache-*.whl"))
    if found:
        return found[0]
    directory.mkdir(parents=True, exist_ok=True)
    print(f"  building our wheel from {REPO_ROOT} ...", flush=True)
    _run([python, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(directory), str(REPO_ROOT)])
    found = sorted(directory.glob("importlib_metadata_cache-*.whl"))
    if not found:
        raise RuntimeError(f"pip wheel produced no wheel in {directory}")
    return found[0]


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def extra_wheel(out: Path) -> Path:
    """A tiny wheel written by hand with zipfile (one module, one common.group entry point)."""
    directory = out / "wheels" / "extra"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{EXTRA_NAME}-1.0-py3-none-any.whl"
    if path.exists():
        return path
    dist_info = f"{EXTRA_NAME}-1.0.dist-info"
    files = {
        f"{EXTRA_NAME}/__init__.py": b"def plugin():\n    return 'extra'\n",
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {EXTRA_NAME}\nVersion: 1.0\n"
            "Summary: Installed and removed by the benchmark's after-install scenario\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: importlib-metadata-cache-benchmarks\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        f"{dist_info}/entry_points.txt": (
            f"[{COMMON_GROUP}]\n{EXTRA_NAME} = {EXTRA_NAME}:plugin\n".encode()
        ),
        f"{dist_info}/top_level.txt": f"{EXTRA_NAME}\n".encode(),
    }
    rows = [f"{name},{_record_hash(data)},{len(data)}" for name, data in files.items()]
    rows.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(rows) + "\n").encode()
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    os.replace(tmp, path)
    return path


def floor_file(out: Path) -> Path:
    """~40 KB of marshal data (a dict of byte blobs), written once: the floor's one read."""
    import marshal

    path = out / "cache" / "floor-40k.marshal"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(40)
    blob = {f"group.{i:02d}": bytes(rng.getrandbits(8) for _ in range(2000)) for i in range(19)}
    blob[COMMON_GROUP] = bytes(rng.getrandbits(8) for _ in range(2000))
    data = marshal.dumps(blob)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- python


@dataclass
class PythonInfo:
    exe: str  # absolute path of the base interpreter
    label: str  # what the user passed, e.g. "python3.12"
    version: str  # "3.12.1"
    tag: str  # "cpython-3.12.1"


def python_info(spec: str) -> PythonInfo:
    exe = shutil.which(spec) or spec
    out = _run(
        [
            exe,
            "-c",
            "import sys, platform; print(sys.executable); "
            "print(platform.python_version()); print(sys.implementation.name)",
        ]
    ).split()
    label = os.path.basename(spec) if os.path.sep in spec else spec
    return PythonInfo(exe=out[0], label=label, version=out[1], tag=f"{out[2]}-{out[1]}")


# --------------------------------------------------------------------------- envs


@dataclass
class Env:
    root: Path
    n: int
    python: Path  # the venv's interpreter
    site: Path  # its site-packages
    info: PythonInfo
    #: The backport's installed version, or None in a plain environment.
    backport: str | None = None
    #: What installing the backport added ("name version"), the backport included.
    backport_dists: tuple[str, ...] = ()

    @property
    def pth(self) -> Path:
        return self.site / PTH


def _site_packages(root: Path) -> Path:
    found = sorted(root.glob("lib/python3*/site-packages"))
    if not found:
        raise RuntimeError(f"no site-packages under {root}")
    return found[0]


def _installed_wheel_tag(site: Path) -> str | None:
    stamp = site.parent.parent.parent / "bench-env.json"
    try:
        return json.loads(stamp.read_text()).get("wheel")
    except (OSError, ValueError):
        return None


def backport_requirement(py_version: str) -> str:
    """What ``pip install`` is given for the backport on Python ``py_version``."""
    pin = BACKPORT_PINS.get(".".join(py_version.split(".")[:2]))
    return f"{BACKPORT}=={pin}" if pin else BACKPORT


def _installed(python: Path) -> dict[str, str]:
    """Every distribution of the venv of ``python``: normalised name -> version."""
    code = (
        "import importlib.metadata as md, json, sys; "
        "json.dump({d.metadata['Name'].lower().replace('_', '-'): d.version "
        "for d in md.distributions()}, sys.stdout)"
    )
    return json.loads(_run([str(python), "-c", code], env=clean_env(IMPORTLIB_METADATA_CACHE="0")))


def prepare_env(
    out: Path, info: PythonInfo, n: int, wheel: Path, fresh: bool, backport: bool = False
) -> Env:
    """The environment for ``info`` and ``n``: reused, repaired or built.

    With ``backport``, the environment with the ``importlib_metadata`` backport
    installed (a directory of its own, suffixed ``BACKPORT_SUFFIX``).
    """
    root = out / "envs" / (f"{info.tag}-N{n}" + (BACKPORT_SUFFIX if backport else ""))
    stamp_file = root / "bench-env.json"
    requirement = backport_requirement(info.version) if backport else None
    meta: dict[str, object] = {}
    if stamp_file.exists() and not fresh:
        try:
            meta = json.loads(stamp_file.read_text())
        except ValueError:
            meta = {}
    if (
        meta.get("generator") != GENERATOR_VERSION
        or meta.get("n") != n
        or meta.get("backport_requirement") != requirement
    ):
        if root.exists():
            shutil.rmtree(root)
        t0 = time.perf_counter()
        what = f"our wheel, stevedore{', ' + requirement if requirement else ''}"
        print(f"  creating {root} (venv, {what}, {n} distributions) ...", flush=True)
        _run([info.exe, "-m", "venv", str(root)])
        python = root / "bin" / "python"
        _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)])
        _run(
            [str(python), "-m", "pip", "install", "-q", "stevedore"],
            env=clean_env(IMPORTLIB_METADATA_CACHE="0"),
        )
        added: list[str] = []
        if requirement:
            before = _installed(python)
            _run(
                [str(python), "-m", "pip", "install", "-q", requirement],
                env=clean_env(IMPORTLIB_METADATA_CACHE="0"),
            )
            after = _installed(python)
            added = [f"{k} {v}" for k, v in sorted(after.items()) if before.get(k) != v]
        site = _site_packages(root)
        generate(site, n, info.version)
        meta = {
            "generator": GENERATOR_VERSION,
            "n": n,
            "wheel": wheel.parent.name,
            "python": info.version,
            "backport_requirement": requirement,
            "backport_dists": added,
            "created": time.time(),
        }
        stamp_file.write_text(json.dumps(meta))
        print(f"  created in {time.perf_counter() - t0:.1f} s", flush=True)
    python = root / "bin" / "python"
    site = _site_packages(root)
    env = Env(root=root, n=n, python=python, site=site, info=info)
    if backport:
        env.backport = _installed(python).get(BACKPORT.replace("_", "-"))
        if env.backport is None:
            raise RuntimeError(f"{BACKPORT} is not installed in {root}: rerun with --fresh")
        dists = meta.get("backport_dists")
        env.backport_dists = tuple(map(str, dists)) if isinstance(dists, list) else ()
    repair(env)
    if meta.get("wheel") != wheel.parent.name:
        print(f"  {root.name}: the source tree changed: reinstalling our wheel", flush=True)
        _run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--no-index",
                "--force-reinstall",
                str(wheel),
            ],
            env=clean_env(IMPORTLIB_METADATA_CACHE="0"),
        )
        meta["wheel"] = wheel.parent.name
        stamp_file.write_text(json.dumps(meta))
    return env


def repair(env: Env) -> None:
    """Undo what an interrupted run may have left: a renamed .pth, the extra dist."""
    disabled = env.site / PTH_DISABLED
    if disabled.exists() and not env.pth.exists():
        os.replace(disabled, env.pth)
    if any(env.site.glob(f"{EXTRA_NAME}-*.dist-info")):
        pip_uninstall_extra(env, clean_env(IMPORTLIB_METADATA_CACHE="0"))


def pip_install_extra(env: Env, wheel: Path, environ: dict[str, str] | None = None) -> None:
    _run(
        [str(env.python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        env=environ,
    )


def pip_uninstall_extra(env: Env, environ: dict[str, str] | None = None) -> None:
    _run([str(env.python), "-m", "pip", "uninstall", "-q", "-y", EXTRA_NAME], env=environ)


def newest_change_ns(site: Path) -> int:
    """The newest mtime/ctime among site-packages and its children (what the cache stamps)."""
    newest = 0
    try:
        with os.scandir(site) as it:
            entries = list(it)
        st = os.stat(site)
        newest = max(st.st_mtime_ns, st.st_ctime_ns)
    except OSError:
        return newest
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=True)
        except OSError:
            continue
        newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
        if entry.name.endswith((".dist-info", ".egg-info")) and entry.is_dir():
            try:
                st = os.stat(os.path.join(entry.path, "entry_points.txt"))
                newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
            except OSError:
                pass
    return newest


def wait_until_settled(env: Env | Path, extra_paths: tuple[Path, ...] = ()) -> float:
    """Sleep out the cache's settle window after the last change; returns the wait.

    ``env``: a benchmark environment, or the site-packages directory of a venv.
    """
    newest = newest_change_ns(env.site if isinstance(env, Env) else env)
    for path in extra_paths:
        try:
            st = os.stat(path)
            newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
        except OSError:
            pass
    wait = (newest + int(settle_seconds() * 1e9) - time.time_ns()) / 1e9
    if wait > 0:
        time.sleep(wait + 0.1)
        return wait + 0.1
    return 0.0


# --------------------------------------------------------------------------- generation

_WORDS = [
    "plugin",
    "cache",
    "metadata",
    "entry",
    "point",
    "distribution",
    "package",
    "module",
    "install",
    "wheel",
    "configuration",
    "runtime",
    "import",
    "loader",
    "finder",
    "registry",
    "interface",
    "backend",
    "frontend",
    "server",
    "client",
    "request",
    "response",
    "stream",
    "buffer",
    "parser",
    "token",
    "schema",
    "validator",
    "option",
    "command",
    "console",
    "script",
    "environment",
    "virtual",
    "path",
    "directory",
    "record",
    "index",
    "fast",
    "slow",
    "simple",
    "robust",
    "typed",
    "async",
    "sync",
    "thread",
    "process",
    "worker",
    "queue",
    "event",
    "hook",
    "extension",
    "driver",
    "adapter",
    "provider",
    "service",
    "resource",
    "handler",
    "manager",
    "factory",
]

_CLASSIFIERS = (
    "Development Status :: 4 - Beta",
    "Development Status :: 5 - Production/Stable",
    "Intended Audience :: Developers",
    "Intended Audience :: System Administrators",
    "License :: OSI Approved :: MIT License",
    "License :: OSI Approved :: Apache Software License",
    "License :: OSI Approved :: BSD License",
    "Operating System :: OS Independent",
    "Operating System :: POSIX :: Linux",
    "Programming Language :: Python",
    "Programming Language :: Python :: 3",
    "Programming Language :: Python :: 3 :: Only",
    "Programming Language :: Python :: 3.10",
    "Programming Language :: Python :: 3.11",
    "Programming Language :: Python :: 3.12",
    "Programming Language :: Python :: 3.13",
    "Programming Language :: Python :: Implementation :: CPython",
    "Topic :: Software Development :: Libraries",
    "Topic :: Software Development :: Libraries :: Python Modules",
    "Topic :: Utilities",
    "Typing :: Typed",
)

_PLUGIN_GROUPS = (
    "pytest11",
    "flake8.extension",
    "sphinx.builders",
    "myapp.plugins",
    "paste.app_factory",
    "gui_scripts",
)


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 16))]
    return " ".join(words).capitalize() + "."


def _description(rng: random.Random, name: str, size: int) -> str:
    parts = [f"# {name}\n\n{_sentence(rng)}\n"]
    total = len(parts[0])
    section = 0
    while total < size:
        section += 1
        if rng.random() < 0.3:
            block = f"\n## Section {section}\n\n"
        elif rng.random() < 0.2:
            block = (
                f"\n```python\nimport {name}\n\n{name}.{rng.choice(_WORDS)}"
                f"({rng.randint(0, 99)})\n```\n"
            )
        elif rng.random() < 0.2:
            block = "".join(f"* {_sentence(rng)}\n" for _ in range(rng.randint(2, 5)))
        else:
            block = "\n" + " ".join(_sentence(rng) for _ in range(rng.randint(2, 6))) + "\n"
        parts.append(block)
        total += len(block)
    return "".join(parts)


def _metadata(
    rng: random.Random, i: int, name: str, version: str, n: int, extras_deps: bool = True
) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {_sentence(rng)}",
        f"Home-page: https://example.invalid/{name}",
        f"Author: Author Number{i}",
        f"Author-email: author{i}@example.invalid",
        f"License: {rng.choice(['MIT', 'Apache-2.0', 'BSD-3-Clause'])}",
        f"Project-URL: Documentation, https://example.invalid/{name}/docs",
        f"Project-URL: Source, https://example.invalid/{name}/src",
        f"Project-URL: Tracker, https://example.invalid/{name}/issues",
        f"Keywords: {','.join(rng.sample(_WORDS, 4))}",
    ]
    for classifier in sorted(rng.sample(_CLASSIFIERS, rng.randint(4, 12))):
        lines.append(f"Classifier: {classifier}")
    lines.append(f"Requires-Python: >={rng.choice(['3.8', '3.9', '3.10'])}")
    for _ in range(rng.randint(1, 6)):
        dep = f"pkg{rng.randrange(n):04d}"
        spec = rng.choice(["", ">=1.0", ">=0.5,<3", "~=2.1", "!=1.3.0"])
        lines.append(f"Requires-Dist: {dep}{spec}")
    if extras_deps and rng.random() < 0.6:
        for extra in rng.sample(["test", "docs", "speed", "http"], rng.randint(1, 2)):
            lines.append(f"Provides-Extra: {extra}")
            for _ in range(rng.randint(1, 3)):
                lines.append(f'Requires-Dist: pkg{rng.randrange(n):04d}>=1.0; extra == "{extra}"')
    if rng.random() < 0.3:
        lines.append('Requires-Dist: tomli>=1.1; python_version < "3.11"')
    lines.append("Description-Content-Type: text/markdown")
    # Description sizes vary from 1 to ~8 KB (a few KB typical).
    size = int(min(8000, max(1000, rng.lognormvariate(8.0, 0.5))))
    return "\n".join(lines) + "\n\n" + _description(rng, name, size)


def _entry_points(rng: random.Random, name: str, common: bool, rare: bool) -> str:
    sections: list[tuple[str, list[str]]] = []
    if rng.random() < 0.7:
        sections.append(
            (
                "console_scripts",
                [
                    f"{name}{suffix} = {name}.cli:{fn}"
                    for suffix, fn in rng.sample(
                        [("", "main"), ("-admin", "admin"), ("-server", "serve")], rng.randint(1, 3)
                    )
                ],
            )
        )
    if common:
        sections.append(
            (
                COMMON_GROUP,
                [f"{name}_{k} = {name}.plugins:Plugin{k}" for k in range(rng.randint(1, 2))],
            )
        )
    for group in rng.sample(_PLUGIN_GROUPS, rng.randint(0, 2)):
        sections.append((group, [f"{name} = {name}.{group.replace('.', '_')}"]))
    if rare:
        sections.append((RARE_GROUP, [f"{name}_rare = {name}.rare:hook"]))
    if not sections:
        sections.append(("console_scripts", [f"{name} = {name}.cli:main"]))
    return "".join(
        f"[{group}]\n" + "".join(f"{line}\n" for line in lines) + "\n" for group, lines in sections
    )


def _module_source(rng: random.Random, name: str, k: int) -> bytes:
    body = [f'"""{name}, module {k}: {_sentence(rng)}"""\n']
    for j in range(rng.randint(1, 12)):
        body.append(f"\n\ndef {rng.choice(_WORDS)}_{j}(value):\n    return value + {j}\n")
    return "".join(body).encode()


def generate(site: Path, n: int, py_version: str) -> None:
    """Write ``n`` synthetic distributions into ``site``."""
    rng = random.Random(1000 + n)
    with_eps = set(rng.sample(range(n), max(2, round(0.2 * n))))
    eps_list = sorted(with_eps)
    common = {i for i in eps_list if rng.random() < 0.75}
    if not common:
        common.add(eps_list[0])
    rare = eps_list[-1]
    # Two legacy *.egg-info directories, never the named or the rare one.
    eggs = {n // 3, (2 * n) // 3} - {7, rare}
    pyver = ".".join(py_version.split(".")[:2])
    for i in range(n):
        name = f"pkg{i:04d}"
        version = f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}"
        pkg_dir = site / name
        pkg_dir.mkdir()
        files: dict[str, bytes] = {f"{name}/__init__.py": _module_source(rng, name, 0)}
        for k in range(1, rng.randint(2, 23)):
            files[f"{name}/mod{k:02d}.py"] = _module_source(rng, name, k)
        for rel, data in files.items():
            (site / rel).write_bytes(data)
        metadata = _metadata(rng, i, name, version, n)
        eps = _entry_points(rng, name, i in common, i == rare) if i in with_eps else None
        if i in eggs:
            egg = site / f"{name}-{version}-py{pyver}.egg-info"
            egg.mkdir()
            (egg / "PKG-INFO").write_text(metadata)
            (egg / "top_level.txt").write_text(f"{name}\n")
            (egg / "dependency_links.txt").write_text("\n")
            (egg / "SOURCES.txt").write_text(
                "setup.py\n" + "".join(f"{rel}\n" for rel in files) + f"{egg.name}/PKG-INFO\n"
            )
            (egg / "installed-files.txt").write_text(
                "".join(f"../{rel}\n" for rel in files)
                + "PKG-INFO\ntop_level.txt\ndependency_links.txt\nSOURCES.txt\n"
            )
            if eps is not None:
                (egg / "entry_points.txt").write_text(eps)
            continue
        dist_info = f"{name}-{version}.dist-info"
        meta_files = {
            f"{dist_info}/METADATA": metadata.encode(),
            f"{dist_info}/WHEEL": (
                b"Wheel-Version: 1.0\nGenerator: bdist_wheel (0.42.0)\n"
                b"Root-Is-Purelib: true\nTag: py3-none-any\n"
            ),
            f"{dist_info}/top_level.txt": f"{name}\n".encode(),
            f"{dist_info}/INSTALLER": b"pip\n",
        }
        if eps is not None:
            meta_files[f"{dist_info}/entry_points.txt"] = eps.encode()
        (site / dist_info).mkdir()
        for rel, data in meta_files.items():
            (site / rel).write_bytes(data)
        rows = [
            f"{rel},{_record_hash(data)},{len(data)}"
            for rel, data in {**files, **meta_files}.items()
        ]
        rows.append(f"{dist_info}/RECORD,,")
        buf = io.StringIO()
        buf.write("\n".join(rows) + "\n")
        (site / dist_info / "RECORD").write_text(buf.getvalue())


if __name__ == "__main__":  # a quick look at one generated tree
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    generate(target, int(sys.argv[2]) if len(sys.argv) > 2 else 10, "3.12")
