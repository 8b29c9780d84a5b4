#!/usr/bin/env python3
"""Real programs from PyPI, cache off and on: whole-process wall time.

    python benchmarks/real_programs.py [--python python3.12] [--rounds 15]
                                       [--out benchmarks/results] [--fresh]
                                       [--json PATH] [--programs pytest,flake8,...]

Builds (once, then reuses) a venv with this project's wheel and the programs
of the end-to-end suite (pytest and 12 plugins, flake8 and 4 plugins,
keyring and keyrings.alt, stevedore, setuptools, fsspec, sphinx: about 70
distributions), then times each program as a user starts it, in fresh
processes, cache off and on interleaved, and prints a Markdown table (medians,
IQR, ratio) and the time of ``python -c pass`` for reference. Standard library
only. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _envs  # noqa: E402
from _measure import stats  # noqa: E402
from _report import _fmt_ratio, _ms, _table  # noqa: E402

#: The end-to-end suite's programs, one requirement a line.
REQUIREMENTS_FILE = _envs.REPO_ROOT / "tests" / "e2e" / "requirements.txt"


def requirements() -> list[str]:
    lines = REQUIREMENTS_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


#: Runs per side of the in-process timing of the metadata calls.
INSIDE_RUNS = 5

#: Bump when the environment's contents change: older ones are rebuilt.
ENV_VERSION = 1

#: The test directory ``pytest --co -q`` collects: 8 modules of 5 tests.
PROJECT = {
    "pytest.ini": (
        "[pytest]\naddopts = -p no:randomly\nasyncio_default_fixture_loop_scope = function\n"
    ),
    **{
        f"tests/test_mod{i}.py": "".join(f"def test_{i}_{j}():\n    pass\n\n\n" for j in range(5))
        for i in range(8)
    },
}


@dataclass(frozen=True)
class Program:
    key: str
    title: str
    argv: tuple[str, ...]


PROGRAMS = (
    Program("pass", "`python -c pass`", ("python", "-c", "pass")),
    Program("pytest", "`pytest --co -q` (12 plugins, 40 tests)", ("pytest", "--co", "-q")),
    Program("flake8", "`flake8 --version` (4 plugins)", ("flake8", "--version")),
    Program("keyring", "`keyring --list-backends`", ("keyring", "--list-backends")),
    Program("pip", "`pip list`", ("pip", "list")),
)
BY_KEY = {p.key: p for p in PROGRAMS}

#: Runs a console script with the public ``importlib.metadata`` API timed: the
#: module's functions, the members of ``Distribution``/``PathDistribution``
#: and the iteration of ``distributions()``, outermost calls only, wrapped
#: after the cache (if on) patched the module. Writes the total to a file.
TIMED_RUN = r"""
import atexit, runpy, sys, time
import importlib.metadata as md

spent = [0.0, 0]
depth = [0]


def timed(fn):
    def wrapper(*args, **kwargs):
        if depth[0]:
            return fn(*args, **kwargs)
        depth[0] += 1
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start
            spent[1] += 1
            depth[0] -= 1
    return wrapper


def timed_iterator(fn):
    def wrapper(*args, **kwargs):
        it = iter(timed(fn)(*args, **kwargs))
        step = timed(next)
        end = object()
        while (item := step(it, end)) is not end:
            yield item
    return wrapper


for name in ("entry_points", "version", "metadata", "distribution", "files", "requires",
             "packages_distributions"):
    setattr(md, name, timed(getattr(md, name)))
md.distributions = timed_iterator(md.distributions)
for cls in (md.Distribution, md.PathDistribution):
    for name, value in list(vars(cls).items()):
        if isinstance(value, property) and value.fget is not None:
            setattr(cls, name, property(timed(value.fget)))
        elif name == "read_text":
            setattr(cls, name, timed(value))


out, script = sys.argv[1], sys.argv[2]


@atexit.register
def report():
    with open(out, "w") as f:
        f.write(f"{spent[0]} {spent[1]}")


sys.argv = sys.argv[2:]
runpy.run_path(script, run_name="__main__")
"""

#: Output that legitimately differs between two runs (pytest's "in 0.01s").
_TIMINGS = re.compile(r"\b\d+\.\d+s\b")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--python", default=sys.executable, help="interpreter (default: this one)")
    p.add_argument("--rounds", type=int, default=15, help="fresh processes per side (15)")
    p.add_argument(
        "--out",
        default=str(HERE / "results"),
        help="environment, store and reports (default: benchmarks/results)",
    )
    p.add_argument("--fresh", action="store_true", help="rebuild the environment")
    p.add_argument("--json", help="also write every sample and summary to this file")
    p.add_argument(
        "--programs",
        help="comma-separated keys (default: all): " + ", ".join(BY_KEY),
    )
    return p.parse_args(argv)


# --------------------------------------------------------------------- the venv


@dataclass(frozen=True)
class Setup:
    root: Path
    bin: Path
    project: Path
    store: Path
    xdg: Path


def prepare(out: Path, info: _envs.PythonInfo, wheel: Path, fresh: bool) -> Setup:
    root = out / "real-programs" / info.tag
    stamp_file = root / "env.json"
    reqs = requirements()
    want = {"version": ENV_VERSION, "requirements": reqs, "wheel": wheel.parent.name}
    try:
        have = json.loads(stamp_file.read_text())
    except (OSError, ValueError):
        have = {}
    venv = root / "venv"
    python = str(venv / "bin" / "python")
    pip_env = _envs.clean_env(IMPORTLIB_METADATA_CACHE="0")
    if (
        fresh
        or have.get("version") != ENV_VERSION
        or have.get("requirements") != want["requirements"]
    ):
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        print(f"creating {venv} ({len(reqs)} requirements from PyPI) ...", flush=True)
        _envs._run([info.exe, "-m", "venv", str(venv)])
        _envs._run([python, "-m", "pip", "install", "-q", "-U", "pip"], env=pip_env)
        _envs._run([python, "-m", "pip", "install", "-q", *reqs], env=pip_env)
        have = {}
        print(f"  created in {time.perf_counter() - t0:.0f} s", flush=True)
    if have.get("wheel") != want["wheel"]:
        _envs._run(
            [python, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
            env=pip_env,
        )
        stamp_file.write_text(json.dumps(want))
    project = root / "project"
    shutil.rmtree(project, ignore_errors=True)
    for rel, text in PROJECT.items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    store = root / "imc-store"
    shutil.rmtree(store, ignore_errors=True)  # the warm-up saves it again
    xdg = root / "xdg"
    for sub in ("cache", "config", "data"):
        (xdg / sub).mkdir(parents=True, exist_ok=True)
    return Setup(root=root, bin=venv / "bin", project=project, store=store, xdg=xdg)


def environ(setup: Setup, cache: bool, **extra: str) -> dict[str, str]:
    env = _envs.clean_env(
        IMPORTLIB_METADATA_CACHE="1" if cache else "0",
        IMPORTLIB_METADATA_CACHE_DIR=str(setup.store),
        XDG_CACHE_HOME=str(setup.xdg / "cache"),
        XDG_CONFIG_HOME=str(setup.xdg / "config"),
        XDG_DATA_HOME=str(setup.xdg / "data"),
        **extra,
    )
    env["PATH"] = f"{setup.bin}{os.pathsep}{env.get('PATH', os.defpath)}"
    return env


def site_packages(setup: Setup) -> Path:
    return next((setup.bin.parent / "lib").glob("python3*/site-packages"))


# --------------------------------------------------------------------- running


def run(setup: Setup, program: Program, cache: bool, **extra: str) -> dict[str, Any]:
    """One fresh process: its wall time, its CPU time (with its children), its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [str(setup.bin / program.argv[0]), *program.argv[1:]],
        env=environ(setup, cache, **extra),
        cwd=setup.project,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall": wall,
        "cpu": cpu,
        "returncode": proc.returncode,
        # sorted: keyring lists its backends in an order that varies between
        # runs (a set of classes); tests/e2e compares the exact outputs
        "output": "\n".join(sorted(_TIMINGS.sub("<T>s", proc.stdout + proc.stderr).splitlines())),
        "stderr": proc.stderr,
    }


def probe(setup: Setup, program: Program) -> dict[str, Any]:
    """What the cache does in one cache-on run (``IMPORTLIB_METADATA_CACHE_DEBUG=1``)."""
    result = run(setup, program, True, IMPORTLIB_METADATA_CACHE_DEBUG="1")
    lines = [
        line[len("importlib-metadata-cache: ") :]
        for line in result["stderr"].splitlines()
        if line.startswith("importlib-metadata-cache: ")
    ]
    return {
        "patched": sorted(
            {m[1] for line in lines if (m := re.match(r"patched (\S+)", line)) is not None}
        ),
        "loaded": sum(line.startswith("loaded the record") for line in lines),
        "saved": sum(line.startswith("saved the record") for line in lines),
        "trace_lines": len(lines),
    }


def metadata_time(setup: Setup, program: Program, cache: bool) -> tuple[float, int]:
    """Seconds spent in ``importlib.metadata`` calls in one run, and how many calls."""
    report = setup.root / "metadata-time.txt"
    report.unlink(missing_ok=True)
    subprocess.run(
        [
            str(setup.bin / "python"),
            "-c",
            TIMED_RUN,
            str(report),
            str(setup.bin / program.argv[0]),
            *program.argv[1:],
        ],
        env=environ(setup, cache),
        cwd=setup.project,
        capture_output=True,
        check=False,
    )
    seconds, calls = report.read_text().split()
    return float(seconds), int(calls)


def measure(setup: Setup, programs: list[Program], rounds: int) -> dict[str, Any]:
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {
        p.key: {"off": [], "on": []} for p in programs
    }
    warnings: list[str] = []
    # Warm-up: each program once with the cache off (bytecode, pytest's own
    # cache) and on (the records are saved); then the settle window.
    for program in programs:
        run(setup, program, False)
        run(setup, program, True)
    waited = _envs.wait_until_settled(site_packages(setup))
    for program in programs:
        run(setup, program, True)  # saves what the warm-up could not trust yet
    probes = {p.key: probe(setup, p) for p in programs}
    print(f"warm-up done (waited {waited:.1f} s for the settle window)", flush=True)
    # In-process time of the metadata calls: a few runs per side, interleaved.
    inside: dict[str, dict[str, list[float]]] = {}
    for program in programs:
        if program.key == "pass":
            continue
        sides: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(INSIDE_RUNS):
            for cache in (False, True):
                seconds, calls = metadata_time(setup, program, cache)
                sides["on" if cache else "off"].append(seconds)
                probes[program.key]["calls"] = calls
        inside[program.key] = sides
    print("metadata time inside the processes measured", flush=True)
    for r in range(rounds):
        t0 = time.perf_counter()
        for i, program in enumerate(programs):
            order = (False, True) if (r + i) % 2 == 0 else (True, False)
            for cache in order:
                samples[program.key]["on" if cache else "off"].append(run(setup, program, cache))
        print(f"round {r + 1}/{rounds} in {time.perf_counter() - t0:.1f} s", flush=True)
    summary = {}
    for program in programs:
        arm = samples[program.key]
        outputs = {s["output"] for side in ("off", "on") for s in arm[side]}
        codes = {s["returncode"] for side in ("off", "on") for s in arm[side]}
        if len(outputs) > 1 or len(codes) > 1:
            warnings.append(f"{program.key}: the outputs differ between runs (or off and on)")
        summary[program.key] = {
            side: {
                "wall": stats([s["wall"] for s in arm[side]]),
                "cpu": stats([s["cpu"] for s in arm[side]]),
            }
            for side in ("off", "on")
        }
        # Paired: each round's off / on, which cancels slow drifts of the load.
        summary[program.key]["paired"] = stats(
            [off["wall"] / on["wall"] for off, on in zip(arm["off"], arm["on"], strict=True)]
        )
    for key, sides in inside.items():
        summary[key]["inside"] = {side: stats(v) for side, v in sides.items()}
    return {
        "samples": {
            k: {
                side: [{x: s[x] for x in ("wall", "cpu", "returncode")} for s in v[side]]
                for side in v
            }
            for k, v in samples.items()
        },
        "summary": summary,
        "probes": probes,
        "warnings": warnings,
    }


# --------------------------------------------------------------------- report


def markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    summary = result["summary"]
    base = summary.get("pass")
    rows = []
    for key, s in summary.items():
        program = BY_KEY[key]
        off, on = s["off"]["wall"], s["on"]["wall"]
        above = "n/a"
        if base is not None and key != "pass":
            floor = (base["off"]["wall"]["median"] + base["on"]["wall"]["median"]) / 2
            above = f"{(off['median'] - floor) * 1e3:.0f} / {(on['median'] - floor) * 1e3:.0f}"
        probe = result["probes"].get(key, {})
        uses = ", ".join(probe.get("patched", [])) or "none"
        inside = s.get("inside")
        in_calls = "n/a"
        if inside:
            in_calls = (
                f"{inside['off']['median'] * 1e3:.1f} / {inside['on']['median'] * 1e3:.1f}"
                f" ({probe.get('calls', '?')} calls)"
            )
        rows.append(
            [
                program.title,
                _ms(off),
                _ms(on),
                _fmt_ratio(off["median"] / on["median"], flag=True),
                f"{s['paired']['median']:.2f}x ({s['paired']['iqr']:.2f})",
                f"{(off['median'] - on['median']) * 1e3:.1f}",
                above,
                f"{_ms(s['off']['cpu'], iqr=False)} / {_ms(s['on']['cpu'], iqr=False)}",
                in_calls,
                uses,
            ]
        )
    lines = [
        f"Real programs, cache off vs on ({meta['date']}, Python {meta['python_version']}, "
        f"{meta['distributions']} distributions, {meta['rounds']} rounds, "
        f"load {meta['load_start']} -> {meta['load_end']})",
        "",
        f"Command: `{meta['command']}`",
        "",
        *_table(
            [
                "program",
                "off ms (IQR)",
                "on ms (IQR)",
                "off/on",
                "paired off/on (IQR)",
                "off - on ms",
                "above `python -c pass`: off / on ms",
                "CPU off / on ms",
                "in metadata calls: off / on ms",
                "provider",
            ],
            rows,
        ),
    ]
    for warning in result["warnings"]:
        lines.append(f"\nWARNING: {warning}")
    return "\n".join(lines) + "\n"


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    programs = list(PROGRAMS)
    if args.programs:
        wanted = [k.strip() for k in args.programs.split(",") if k.strip()]
        unknown = [k for k in wanted if k not in BY_KEY]
        if unknown:
            print(f"unknown program(s): {unknown}; choose from {list(BY_KEY)}", file=sys.stderr)
            return 2
        programs = [BY_KEY[k] for k in wanted]
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    info = _envs.python_info(args.python)
    wheel = _envs.our_wheel(out, sys.executable)
    setup = prepare(out, info, wheel, args.fresh)
    count = _envs._run(
        [
            str(setup.bin / "python"),
            "-c",
            "import importlib.metadata as md; print(len(list(md.distributions())))",
        ],
        env=environ(setup, False),
    ).strip()
    t0 = time.perf_counter()
    load_start = _load()
    measured = measure(setup, programs, args.rounds)
    result = {
        "meta": {
            "date": time.strftime("%Y-%m-%d"),
            "python_version": info.version,
            "python_exe": info.exe,
            "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
            "distributions": int(count),
            "rounds": args.rounds,
            "load_start": load_start,
            "load_end": _load(),
            "wall_s": round(time.perf_counter() - t0, 1),
            "wheel": wheel.parent.name,
            "command": " ".join(
                shlex.quote(a)
                for a in [
                    Path(sys.executable).name,
                    *(sys.argv if argv is None else ["benchmarks/real_programs.py", *argv]),
                ]
            ),
        },
        **measured,
    }
    md = markdown(result)
    print()
    print(md)
    stem = f"real-programs-{info.tag}-{time.strftime('%Y-%m-%d_%H%M%S')}"
    (out / f"{stem}.md").write_text(md)
    json_path = Path(args.json) if args.json else out / f"{stem}.json"
    json_path.write_text(json.dumps(result, indent=1))
    print(f"report: {out / f'{stem}.md'}\nraw data: {json_path}")
    return 1 if result["warnings"] else 0


if __name__ == "__main__":
    sys.exit(main())
