"""Real programs from PyPI in a real venv, run with the cache off and on.

The end-to-end suite's helpers (``conftest.py`` beside this file makes the
fixtures):

* ``REQUIREMENTS`` (``requirements.txt``): what the shared venv gets from PyPI
  (through pip's configured index and its cache): pytest and a dozen plugins,
  flake8 and four plugins, keyring and keyrings.alt, stevedore, setuptools,
  fsspec, sphinx;
  plus this project's wheel and a few tiny plugin wheels written by hand
  (``plugin_wheels``) that put entry points in the groups those programs read.
* ``compare(env, commands, ...)``: runs one shell script (the commands one
  after the other, each command echoed with its exit status, stderr merged
  into stdout) three times from the same working directory, rebuilt before
  each run: with ``IMPORTLIB_METADATA_CACHE=0``, then with the cache on and an
  empty store ("on-cold": the program builds and saves the records), then on
  again ("on-warm": it loads them). Both cache-on outputs must equal the
  cache-off output after ``normalize`` (timings, pip's temporary directory
  names, hashes of built archives). On a difference it runs the cache-off side
  once more, to tell a program that is not deterministic from a cache bug.

Every run gets private ``XDG_CACHE_HOME``/``XDG_CONFIG_HOME``/``XDG_DATA_HOME``
directories (stevedore keeps its own entry-point cache under
``XDG_CACHE_HOME``; keyring reads its configuration under the other two), so
that each run starts from the same state, and none of the caller's
``PYTHON*`` or ``IMPORTLIB_METADATA_CACHE*`` variables: the programs run with
the cache's default settle window (2 s), as users get it, and write bytecode
as they normally do. Before each comparison ``settle`` waits until nothing in
site-packages changed within that window, so that the first cache-on run can
trust (and save) what it lists.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import venvs
from e2e_plugins import plugin_wheels
from venvs import Venv

__all__ = [
    "FLAKE8_DISTS",
    "PYTEST_DISTS",
    "PYTEST_PLUGINS",
    "REQUIREMENTS",
    "Outcome",
    "RealEnv",
    "compare",
    "create_real_env",
    "exits",
    "normalize",
    "settle",
    "write_tree",
]

#: What the shared venv installs from PyPI (also read by
#: ``benchmarks/real_programs.py``).
REQUIREMENTS_FILE = Path(__file__).with_name("requirements.txt")
REQUIREMENTS = tuple(
    line.strip()
    for line in REQUIREMENTS_FILE.read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.lstrip().startswith("#")
)


def _names(prefix: str) -> tuple[str, ...]:
    names = (re.split(r"[;<>=!~ \[]", req, maxsplit=1)[0] for req in REQUIREMENTS)
    return tuple(n for n in names if n.startswith(prefix))


#: The distributions of pytest's and of flake8's tests.
PYTEST_DISTS = _names("pytest")
FLAKE8_DISTS = (*_names("flake8"), "pep8-naming")

#: The third-party names on pytest's "plugins:" line (and our own plugin's).
PYTEST_PLUGINS = (
    "xdist",
    "cov",
    "mock",
    "timeout",
    "randomly",
    "benchmark",
    "asyncio",
    "rerunfailures",
    "html",
    "metadata",
    "env",
    "instafail",
    "imc_e2e_pytest",
)

#: Variables of the outer run that programs must not see.
DROPPED_PREFIXES = ("TOX_", "PYTEST_", "COV_CORE_")

#: The cache's default settle window, plus a margin for coarse clocks.
SETTLE_S = 2.2

TIMEOUT = 600


# ------------------------------------------------------------------ the venv


@dataclass(frozen=True)
class RealEnv:
    """The shared venv of one Python, and what the tests need to know of it."""

    venv: Venv
    #: The hand-written wheels (``plugin_wheels``).
    wheels: dict[str, Path]
    #: The file name under which the store keeps site-packages' record.
    record_name: str
    #: Installed distributions: normalized name -> version.
    installed: dict[str, str]
    #: Where tests make their working directories, stores and XDG dirs.
    scratch: Path

    @property
    def bin(self) -> Path:
        return self.venv.root / "bin"

    def needs(self, *names: str) -> None:
        """Skip the test unless these distributions are installed here.

        A program that drops a Python gets an environment marker in
        ``requirements.txt`` (``sphinx; python_version >= '3.11'``): its
        tests are then skipped there, with this reason, instead of failing.
        """
        missing = [n for n in names if _canonical(n) not in self.installed]
        if missing:
            pytest.skip(
                f"{', '.join(missing)} not installed on Python {sys.version.split()[0]} "
                "(see the markers in tests/e2e/requirements.txt)"
            )

    def environ(self, overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
        """A clean environment with the venv's ``bin`` first on ``PATH``."""
        env = venvs.clean_env({"PYTHONDONTWRITEBYTECODE": None, **(overrides or {})})
        for key in list(env):
            # the outer tox and pytest: TOX_ENV_DIR moves an inner pytest's
            # cache dir, PYTEST_CURRENT_TEST and PYTEST_ADDOPTS would leak in
            if key.startswith(DROPPED_PREFIXES) and key not in (overrides or {}):
                del env[key]
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', os.defpath)}"
        return env


def _pip(venv: Venv, *args: str | os.PathLike[str]) -> str:
    proc = venvs.run(venv, ["-m", "pip", *map(os.fspath, args)], timeout=TIMEOUT)
    return proc.stdout


def create_real_env(root: Path, our_wheel: Path) -> RealEnv:
    """One venv with our wheel, ``REQUIREMENTS`` from PyPI and the plugin wheels."""
    venv = venvs.create_venv(root / "venv", our_wheel)
    wheels = plugin_wheels(root / "wheels")
    _pip(venv, "install", "--upgrade", "pip")
    _pip(venv, "install", "-r", REQUIREMENTS_FILE)
    installed = [
        wheels[k] for k in ("pytest", "stevedore-a", "stevedore-b", "stevedore-broken", "misc")
    ]
    _pip(venv, "install", "--no-index", "--no-deps", *installed)
    listed = json.loads(_pip(venv, "list", "--format=json"))
    code = (
        "import sysconfig; from importlib_metadata_cache import _store; "
        "print(_store.file_name(sysconfig.get_path('purelib')))"
    )
    record_name = venvs.run(venv, code, env={"IMPORTLIB_METADATA_CACHE": "0"}).stdout.strip()
    scratch = root / "scratch"
    scratch.mkdir()
    return RealEnv(
        venv=venv,
        wheels=wheels,
        record_name=record_name,
        installed={_canonical(d["name"]): d["version"] for d in listed},
        scratch=scratch,
    )


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def settle(env: RealEnv, *extra: Path) -> float:
    """Wait until site-packages (and ``extra`` trees) changed last over ``SETTLE_S`` ago.

    Looks at site-packages itself, its entries, and the files of every
    ``*.dist-info``/``*.egg-info`` directory in it or in ``extra``: what the
    cache stamps. Returns the seconds waited.
    """
    newest = 0
    for root in (env.venv.site_packages, *extra):
        for path in _stamped(root):
            try:
                st = os.stat(path)
            except OSError:
                continue
            newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    wait = newest / 1e9 + SETTLE_S - time.time()
    if wait > 0:
        time.sleep(wait)
    return max(wait, 0.0)


def _stamped(root: Path) -> Iterable[Path]:
    yield root
    with os.scandir(root) as it:
        children = list(it)
    for child in children:
        yield Path(child.path)
        if child.name.endswith((".dist-info", ".egg-info")) and child.is_dir():
            yield from Path(child.path).iterdir()


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    """``root`` emptied, then ``files`` (relative path -> text) written under it."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


# ----------------------------------------------------------------- comparing

#: (pattern, replacement): what legitimately differs between two runs.
NORMALIZE: tuple[tuple[re.Pattern[str], str], ...] = (
    # durations: pytest's "in 0.12s", "(0.01s)", flake8/pip/sphinx timings
    (re.compile(r"\b\d+\.\d+s\b"), "<T>s"),
    # pytest centres its summary line between "=" runs: a longer duration
    # ("in 28.73s") takes one "=" off
    (re.compile(r"^=+ (.*) =+$", re.MULTILINE), r"== \1 =="),
    (re.compile(r"\b\d+(\.\d+)? (seconds|secs|sec|ms)\b"), r"<T> \2"),
    # pip's temporary directories, e.g. /tmp/pip-ephem-wheel-cache-1x2y3z4w
    (re.compile(r"pip-[a-z-]+-[a-z0-9_]{6,}"), "pip-<tmp>"),
    # hashes and sizes of archives built with the current time inside
    (re.compile(r"sha256=[0-9a-f]{64}"), "sha256=<hash>"),
    (re.compile(r"size=\d+"), "size=<n>"),
    # files named after the current time (pytest-benchmark's --help defaults)
    (re.compile(r"(?<!\d)\d{8}_\d{6}(?!\d)"), "<date>_<time>"),
    # a temporary file named in a message (sphinx's traceback log)
    (re.compile(r"sphinx-err-[a-z0-9_]+\.log"), "sphinx-err-<tmp>.log"),
    # addresses in reprs ("<function f at 0x7f...>") and process ids
    (re.compile(r" at 0x[0-9a-f]+"), " at 0x<addr>"),
    (re.compile(r"\bpid[ =:]+\d+"), "pid <n>"),
)


Rule = tuple[re.Pattern[str], "str | Callable[[re.Match[str]], str]"]


def normalize(text: str, *, sort_lines: Sequence[str] = (), also: Sequence[Rule] = ()) -> str:
    """``text`` with ``NORMALIZE`` applied, and the lines of some commands sorted.

    ``sort_lines``: the output lines of each command starting with one of these
    words are sorted. For programs whose order of lines varies between two runs
    with the cache off: keyring lists its backends from a set of classes, whose
    order follows their addresses in memory (an unrelated 3000-byte environment
    variable reorders ``keyring --list-backends`` with the cache off).
    ``also``: more (pattern, replacement) rules for this comparison.
    """
    for pattern, replacement in (*NORMALIZE, *also):
        text = pattern.sub(replacement, text)
    if sort_lines:
        blocks = re.split(r"^(?=\$ )", text, flags=re.MULTILINE)
        text = "".join(_sorted_block(block, tuple(sort_lines)) for block in blocks)
    return text


def _sorted_block(block: str, commands: tuple[str, ...]) -> str:
    lines = block.splitlines(keepends=True)
    if len(lines) < 3 or not lines[0][2:].startswith(commands):
        return block
    return "".join([lines[0], *sorted(lines[1:-1]), lines[-1]])


def script_of(commands: Sequence[str]) -> str:
    """A bash script running each command, echoing it and its exit status."""
    lines = ["set -u"]
    for command in commands:
        lines.append(f"echo {shlex.quote('$ ' + command)}")
        lines.append(f"{command} 2>&1")
        lines.append('echo "[exit $?]"')
    return "\n".join(lines) + "\n"


@dataclass
class Outcome:
    """The normalized output of the three runs (``off``, ``on-cold``, ``on-warm``)."""

    outputs: dict[str, str] = field(default_factory=dict)
    #: Whether site-packages' record was in the store after the first cache-on run.
    saved: bool = False

    @property
    def off(self) -> str:
        return self.outputs["off"]


#: The runs of a comparison. A fresh store precedes "on-cold" (unless the
#: caller passes a store of its own).
RUNS = (("off", False), ("on-cold", True), ("on-warm", True))


def compare(
    env: RealEnv,
    commands: Sequence[str],
    *,
    name: str,
    files: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str | None] | None = None,
    store: Path | None = None,
    on_first: bool = False,
    settle_extra: Sequence[Path] = (),
    sort_lines: Sequence[str] = (),
    also: Sequence[Rule] = (),
    cwd: Path | None = None,
) -> Outcome:
    """Run ``commands`` with the cache off and on (twice); fail unless all agree.

    ``name`` names the scratch directory of this comparison; ``files`` is the
    working directory's content, rewritten before every run (so that
    ``.pytest_cache``, coverage data, build directories and bytecode of one run
    never reach the next). ``store``: the record store to use (default: a new,
    empty one for this comparison). ``on_first`` runs both cache-on runs
    before the cache-off one, and does not wait for the settle window (used
    right after a change, so that a cache-on run meets it first);
    ``settle_extra``: trees to wait for besides site-packages. ``sort_lines``
    and ``also``: see ``normalize``. ``cwd``: a working directory of the
    caller's, used as it is (``files`` is then ignored).
    """
    base = env.scratch / name
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    store = store if store is not None else base / "imc-store"
    script = script_of(commands)

    def run(label: str, cache: bool) -> str:
        workdir = cwd if cwd is not None else write_tree(base / "work", files or {})
        xdg = base / f"xdg-{label}"
        overrides: dict[str, str | None] = {
            "IMPORTLIB_METADATA_CACHE": "1" if cache else "0",
            "IMPORTLIB_METADATA_CACHE_DIR": str(store),
            "XDG_CACHE_HOME": str(xdg / "cache"),
            "XDG_CONFIG_HOME": str(xdg / "config"),
            "XDG_DATA_HOME": str(xdg / "data"),
            **(extra_env or {}),
        }
        output = _run_script(env, script, workdir, overrides, label)
        return normalize(output, sort_lines=sort_lines, also=also)

    runs = list(RUNS)
    if on_first:
        runs = [runs[1], runs[2], runs[0]]
    else:
        settle(env, *settle_extra)
    outcome = Outcome()
    for label, cache in runs:
        outcome.outputs[label] = run(label, cache)
        if label == "on-cold":
            outcome.saved = (store / env.record_name).is_file()
    if len(set(outcome.outputs.values())) > 1:
        off = outcome.outputs["off"]
        again = run("off-again", False)
        report = [f"cache off and on disagree for {name}: {commands!r}"]
        if again != off:
            report.append(
                "NOTE: two cache-off runs differ too: the program's output is not "
                "deterministic here (extend NORMALIZE), which may explain this:"
            )
            report += _diff(off, again, "off", "off-again")
        for label in ("on-cold", "on-warm"):
            if outcome.outputs[label] != off:
                report += _diff(off, outcome.outputs[label], "off", label)
        pytest.fail("\n".join(report), pytrace=False)
    return outcome


def _run_script(
    env: RealEnv, script: str, cwd: Path, overrides: Mapping[str, str | None], label: str
) -> str:
    """Run ``script`` with bash; print and return its output (stderr after stdout)."""
    start = time.perf_counter()
    proc = subprocess.run(
        ["bash", "-c", script],
        env=env.environ(overrides),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    took = time.perf_counter() - start
    print(f"--- {label} ({took:.2f} s, exit {proc.returncode})")
    print(proc.stdout.rstrip("\n"))
    if proc.stderr:
        print("[stderr]")
        print(proc.stderr.rstrip("\n"))
    assert proc.returncode == 0, f"the script itself failed ({label}):\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _diff(a: str, b: str, label_a: str, label_b: str) -> list[str]:
    lines = list(
        difflib.unified_diff(
            a.splitlines(), b.splitlines(), fromfile=label_a, tofile=label_b, lineterm=""
        )
    )
    if len(lines) > 200:
        lines = [*lines[:200], f"... ({len(lines) - 200} more diff lines)"]
    return lines


def exits(output: str) -> list[int]:
    """The exit statuses the script echoed, in order."""
    return [int(m) for m in re.findall(r"^\[exit (\d+)\]$", output, re.MULTILINE)]
