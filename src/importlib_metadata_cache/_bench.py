"""``bench``: time the common questions with the cache off and on, side by side.

Every measurement is a fresh process (most metadata queries are the first of
their process), runs alternate between cache off and cache on so that both
see the same machine load, and the report gives medians, the interquartile
range and the ratio off / on. The child processes are this interpreter with
this ``sys.path``, so the answer is about the user's own environment.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["QUESTIONS", "measure", "run"]

#: name -> Python code run in the child; ``{arg}`` is filled in per environment.
QUESTIONS: dict[str, str] = {
    "entry_points(group=common)": "md.entry_points(group={arg!r})",
    "entry_points(group=rare)": "md.entry_points(group={arg!r})",
    "entry_points()": "md.entry_points()",
    "pluggy-style loop": (
        "[ep for d in md.distributions() for ep in d.entry_points if ep.group == {arg!r}]"
    ),
    "flake8-style loop": (
        "[(d.metadata['Name'], d.version) for d in md.distributions() "
        "if any(ep.group == {arg!r} for ep in d.entry_points)]"
    ),
    "version()": "md.version({arg!r})",
    "distribution().metadata": "md.distribution({arg!r}).metadata['Name']",
    "packages_distributions()": "md.packages_distributions()",
}

_CHILD = """
import sys, time, json
t0 = time.perf_counter()
import importlib.metadata as md
t1 = time.perf_counter()
first = {code}
t2 = time.perf_counter()
for _ in range({repeat} - 1):
    again = {code}
t3 = time.perf_counter()
again_s = (t3 - t2) / max({repeat} - 1, 1)
_st = sys.modules.get("importlib_metadata_cache._startup")
active = _st is not None and _st.is_active()
json.dump({{"import": t1 - t0, "call": t2 - t1, "again": again_s, "active": active}}, sys.stdout)
"""


def _child(code: str, cache: bool, repeat: int) -> dict[str, Any]:
    env = dict(os.environ, IMPORTLIB_METADATA_CACHE="1" if cache else "0")
    env.pop("IMPORTLIB_METADATA_CACHE_DEBUG", None)
    script = _CHILD.format(code=code, repeat=repeat)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout)
    result["process"] = elapsed
    return result


def _stats(values: Sequence[float]) -> tuple[float, float]:
    """Median and interquartile range."""
    if len(values) < 2:
        return (values[0], 0.0) if values else (float("nan"), 0.0)
    q = statistics.quantiles(values, n=4)
    return statistics.median(values), q[2] - q[0]


def measure(code: str, rounds: int, repeat: int = 2) -> dict[str, Any]:
    """Alternate cache off / on ``rounds`` times; medians and IQRs per field,
    and ``active``: whether the cache was active in every cache-on process."""
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    _child(code, cache=True, repeat=repeat)  # the cache's records exist from here on
    for _ in range(rounds):
        for cache in (False, True):
            runs[cache].append(_child(code, cache, repeat))
    out: dict[str, Any] = {}
    for cache, label in ((False, "off"), (True, "on")):
        out[label] = {
            field: _stats([r[field] for r in runs[cache]]) for field in ("call", "again", "process")
        }
    out["active"] = all(r.get("active") is True for r in runs[True])
    return out


def _arguments() -> dict[str, Any]:
    """Pick a common group, a rare group and a distribution name from this environment."""
    import importlib.metadata as md

    groups: dict[str, int] = {}
    names = []
    for dist in md.distributions():
        try:
            for ep in dist.entry_points:
                groups[ep.group] = groups.get(ep.group, 0) + 1
            names.append(dist.metadata["Name"])
        except Exception:
            continue
    common = max(groups, key=lambda g: groups[g]) if groups else "console_scripts"
    rare = min(groups, key=lambda g: groups[g]) if groups else "no.such.group"
    name = next((n for n in names if n), "pip")
    return {
        "entry_points(group=common)": common,
        "entry_points(group=rare)": rare,
        "pluggy-style loop": common,
        "flake8-style loop": common,
        "version()": name,
        "distribution().metadata": name,
        "count": len(names),
    }


def _ms(value: float) -> str:
    return f"{value * 1e3:8.2f}"


def _wait_until_settled() -> None:
    """Sleep out the settle window if a sys.path entry changed a moment ago.

    The cache does not trust what changed in the last 2 s (``_stamp``); right
    after a ``pip install`` it would answer natively, and the numbers would
    measure that instead of the cache.
    """
    from ._stamp import SETTLE_NS

    newest = 0
    for entry in sys.path:
        try:
            st = os.stat(entry)
        except (OSError, TypeError, ValueError):
            continue
        newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    wait = (newest + SETTLE_NS - time.time_ns()) / 1e9
    if wait > 0:
        time.sleep(wait + 0.05)


def run(rounds: int = 5, questions: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Measure each question on this environment; print a table; return the
    rows (each with ``active``: the cache was on in its cache-on processes)."""
    _wait_until_settled()
    args = _arguments()
    chosen = list(questions) if questions else list(QUESTIONS)
    print(
        f"importlib-metadata-cache bench: {args['count']} distributions on sys.path, "
        f"Python {sys.version.split()[0]}, {rounds} fresh processes per side, interleaved"
    )
    print(
        f"{'question':28} {'off ms':>9} {'on ms':>9} {'ratio':>7}   "
        f"{'repeat off':>10} {'repeat on':>9} {'ratio':>7}"
    )
    rows = []
    for name in chosen:
        code = QUESTIONS[name].format(arg=args.get(name))
        try:
            result = measure(code, rounds)
        except RuntimeError as exc:  # the question raises here (no such distribution, ...)
            last = str(exc).strip().splitlines()[-1]
            print(f"{name:28} not measured: {last}")
            continue
        off, on = result["off"], result["on"]
        row = {
            "question": name,
            "argument": args.get(name),
            "call_off": off["call"],
            "call_on": on["call"],
            "again_off": off["again"],
            "again_on": on["again"],
            "process_off": off["process"],
            "process_on": on["process"],
            "active": result["active"],
        }
        rows.append(row)
        ratio = off["call"][0] / on["call"][0] if on["call"][0] else float("inf")
        again = off["again"][0] / on["again"][0] if on["again"][0] else float("inf")
        print(
            f"{name:28} {_ms(off['call'][0])} {_ms(on['call'][0])} {ratio:6.1f}x   "
            f"{_ms(off['again'][0]):>10} {_ms(on['again'][0]):>9} {again:6.1f}x"
        )
    print("(medians; 'repeat' is the same call again in the same process)")
    if not all(row["active"] for row in rows):
        print(
            "warning: the cache was not active in the cache-on processes, so 'on' "
            "measured the uncached code: is importlib-metadata-cache installed in "
            "this interpreter's environment (its .pth in site-packages)? "
            f"`{os.path.basename(sys.executable)} -m importlib_metadata_cache status` says why."
        )
    return rows
