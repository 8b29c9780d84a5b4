#!/usr/bin/env python3
"""importlib-metadata-cache benchmark suite: synthetic environments of N distributions.

    python benchmarks/run.py [--quick] [--sizes 10,100,500,2000]
                             [--python python3.12 ...] [--out benchmarks/results]
                             [--fresh] [--rounds R] [--scenarios ep_rare,pluggy,...]
                             [--backport none|own|stdlib]

For each Python and each N: a real venv with this project's wheel, stevedore and
N synthetic distributions (reused between runs unless --fresh); every scenario
timed in fresh processes of the venv's interpreter, cache off and on
interleaved; two baselines (the physical floor, stevedore's warm cache); the
first query after a pip install; ``python -c pass`` with and without the .pth.
With ``--backport own`` the venvs also have the ``importlib_metadata``
backport (kept apart, ``...-N<n>-bp``) and the query children use its API; with
``--backport stdlib`` they import it first, then use ``importlib.metadata``.
Writes ``<out>/<python>-<date>[-bp-<mode>][-quick].md``, ``.json`` and
``.png``. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _envs  # noqa: E402
import _report  # noqa: E402
import _scenarios  # noqa: E402
from _measure import Runner  # noqa: E402

FULL_SIZES = (10, 100, 500, 2000)
QUICK_SIZES = (10, 500)
FULL_ROUNDS = 7
QUICK_ROUNDS = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"N={','.join(map(str, QUICK_SIZES))}, {QUICK_ROUNDS} rounds (< 5 min)",
    )
    p.add_argument("--sizes", help="comma-separated N values (default: 10,100,500,2000)")
    p.add_argument(
        "--python",
        action="append",
        default=[],
        help="interpreter(s) to benchmark, repeatable or comma-separated "
        "(default: the one running this script)",
    )
    p.add_argument(
        "--out",
        default=str(HERE / "results"),
        help="results, environments and caches (default: benchmarks/results)",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="rebuild the environments and empty the benchmark's caches",
    )
    p.add_argument(
        "--rounds",
        type=int,
        help=f"fresh processes per side and scenario "
        f"(default {FULL_ROUNDS}, {QUICK_ROUNDS} with --quick)",
    )
    p.add_argument(
        "--scenarios",
        help="comma-separated scenario keys (default: all): "
        + ", ".join(s.key for s in _scenarios.SCENARIOS),
    )
    p.add_argument(
        "--backport",
        choices=_scenarios.BACKPORT_MODES,
        default="none",
        help="none: the stdlib only; own: install the importlib_metadata backport and "
        "query it (import importlib_metadata as md); stdlib: install it, import it, "
        "then query importlib.metadata (default: none)",
    )
    p.add_argument("--no-startup", action="store_true", help="skip `python -c pass`")
    p.add_argument(
        "--no-after-install",
        action="store_true",
        help="skip the first-query-after-pip-install scenario",
    )
    p.add_argument("--no-plot", action="store_true", help="do not draw the PNG")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def _git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(_envs.REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(_envs.REPO_ROOT),
                "status",
                "--porcelain",
                "--",
                "src",
                "pyproject.toml",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + (" (src modified)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def plot_python(out: Path) -> str | None:
    """An interpreter with matplotlib: this one, or a venv of this one under <out>/tools."""
    try:
        import matplotlib  # noqa: F401

        return sys.executable
    except ImportError:
        pass
    venv = out / "tools" / "plot-venv"
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import matplotlib"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return str(python)
    print(f"matplotlib is not importable here: installing it into {venv} with pip ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "matplotlib"],
            check=True,
            capture_output=True,
            env=_envs.clean_env(IMPORTLIB_METADATA_CACHE="0"),
        )
        subprocess.run(check, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        print(
            f"could not install matplotlib ({exc}); skipping the plot.\n"
            f"{err.decode(errors='replace')[-500:]}"
        )
        return None
    return str(python)


def draw(out: Path, json_path: Path, png_path: Path) -> Path | None:
    python = plot_python(out)
    if python is None:
        return None
    proc = subprocess.run(
        [python, str(HERE / "_plot.py"), str(json_path), str(png_path)],
        capture_output=True,
        text=True,
        env=_envs.clean_env(IMPORTLIB_METADATA_CACHE="0"),
    )
    if proc.returncode != 0:
        print(f"the plot failed, skipping it:\n{proc.stderr[-1500:]}")
        return None
    return png_path


def backport_label(mode: str, version: str | None) -> str:
    """What the query children ask, e.g. ``importlib_metadata 10.2.0 (own API)``."""
    if mode == "none":
        return "importlib.metadata (stdlib, no backport)"
    name = f"{_envs.BACKPORT} {version or '?'}"
    if mode == "own":
        return f"{name} (own API)"
    return f"{name} imported first, then importlib.metadata (stdlib API)"


def run_python(
    spec: str,
    args: argparse.Namespace,
    out: Path,
    sizes: list[int],
    rounds: int,
    scenarios: list[_scenarios.Scenario],
    wheel: Path,
) -> dict[str, Any]:
    t_start = time.perf_counter()
    info = _envs.python_info(spec)
    print(
        f"\n=== {info.label}: {info.tag} ({info.exe}), --backport {args.backport} ===", flush=True
    )
    extra = _envs.extra_wheel(out)
    floor = _envs.floor_file(out)
    runner = Runner(
        out=out,
        rounds=rounds,
        startup_rounds=3 * rounds,
        verbose=args.verbose,
        backport=args.backport,
    )
    mode = "quick" if args.quick else "full"
    stamp = time.strftime("%Y-%m-%d_%H%M")
    base = f"{info.label}-{stamp}"
    if args.backport != "none":
        base += f"-bp-{args.backport}"
    base += "-quick" if args.quick else ""
    json_path, md_path, png_path = (out / f"{base}.{ext}" for ext in ("json", "md", "png"))
    result: dict[str, Any] = {
        "meta": {
            "python_label": info.label,
            "python_version": info.version,
            "python_exe": info.exe,
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
            "load_start": _load(),
            "load_end": None,
            "commit": _git_commit(),
            "source": wheel.parent.name,
            "mode": mode,
            "rounds": rounds,
            "startup_rounds": runner.startup_rounds,
            "repeat": _scenarios.REPEAT,
            "sizes": sizes,
            "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
            "wheel": str(wheel),
            "backport": {
                "mode": args.backport,
                "version": None,
                "requirement": None,
                "dists": [],
                "label": backport_label(args.backport, None),
            },
            "wall_s": 0.0,
        },
        "envs": [],
        "warnings": runner.warnings,
    }
    for n in sizes:
        t0 = time.perf_counter()
        print(f"--- {info.label}, N={n} ---", flush=True)
        env = _envs.prepare_env(out, info, n, wheel, args.fresh, args.backport != "none")
        if env.backport is not None:
            bp = result["meta"]["backport"]
            if bp["version"] not in (None, env.backport):
                runner.warn(
                    f"N={n}: {_envs.BACKPORT} {env.backport} here, {bp['version']} in an "
                    "earlier environment (rebuild them with --fresh)"
                )
            bp["version"] = bp["version"] or env.backport
            bp["requirement"] = _envs.backport_requirement(info.version)
            bp["dists"] = list(env.backport_dists)
            bp["label"] = backport_label(args.backport, bp["version"])
            print(f"  {bp['label']}", flush=True)
        try:
            r = runner.measure_env(env, floor, scenarios)
            if not args.no_startup:
                t1 = time.perf_counter()
                r["startup"] = runner.measure_startup(env)
                print(f"  startup: {time.perf_counter() - t1:.1f} s", flush=True)
            if not args.no_after_install:
                t1 = time.perf_counter()
                r["after_install"] = runner.measure_after_install(env, extra)
                print(f"  after pip install: {time.perf_counter() - t1:.1f} s", flush=True)
        finally:
            _envs.repair(env)
        r["wall_s"] = time.perf_counter() - t0
        r["load_end"] = _load()
        result["envs"].append(_report.summarise(r))
        print(f"  N={n} done in {r['wall_s']:.0f} s (load {r['load_end']})", flush=True)
        # Partial results survive an interrupted run.
        result["meta"]["wall_s"] = time.perf_counter() - t_start
        result["meta"]["load_end"] = _load()
        json_path.write_text(json.dumps(result, indent=1))
        md_path.write_text(_report.markdown(result))
    result["meta"]["wall_s"] = time.perf_counter() - t_start
    result["meta"]["load_end"] = _load()
    json_path.write_text(json.dumps(result, indent=1))
    md = _report.markdown(result)
    md_path.write_text(md)
    print()
    print(md)
    print("Call off/on per scenario (and on/floor):")
    print(_report.headline(result))
    if not args.no_plot and draw(out, json_path, png_path):
        print(f"plot: {png_path}")
    print(f"report: {md_path}\nraw data: {json_path}")
    print(f"{info.label}: wall time {result['meta']['wall_s']:.0f} s", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.sizes:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    else:
        sizes = list(QUICK_SIZES if args.quick else FULL_SIZES)
    if any(n < 10 for n in sizes):
        print("every N must be >= 10 (the scenarios ask for pkg0007)", file=sys.stderr)
        return 2
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else FULL_ROUNDS)
    scenarios = list(_scenarios.SCENARIOS)
    if args.scenarios:
        wanted = [k.strip() for k in args.scenarios.split(",") if k.strip()]
        unknown = [k for k in wanted if k not in _scenarios.BY_KEY]
        if unknown:
            print(f"unknown scenario(s): {unknown}", file=sys.stderr)
            return 2
        scenarios = [_scenarios.BY_KEY[k] for k in wanted]
    pythons = [p for spec in args.python for p in spec.split(",") if p] or [sys.executable]
    if args.fresh:
        for sub in ("imc-store", "xdg"):
            shutil.rmtree(out / "cache" / sub, ignore_errors=True)
    if str(out).startswith("/tmp"):
        print(
            "note: stevedore disables its cache for interpreters under /tmp; "
            "its baseline is skipped with this --out",
            flush=True,
        )
    # One wheel for every Python of this invocation: the same source tree for all.
    wheel = _envs.our_wheel(out, sys.executable)
    print(f"our wheel: {wheel} (source tree {wheel.parent.name}, commit {_git_commit()})")
    for spec in pythons:
        run_python(spec, args, out, sizes, rounds, scenarios, wheel)
    print(f"\ntotal wall time: {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
