"""Summaries and the Markdown report: medians, IQRs and ratios, per scenario and N."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from typing import Any

from _measure import stats

FIELDS = ("call", "second", "tenth", "process", "import")


def summarise(env_result: dict[str, Any]) -> dict[str, Any]:
    """Medians and IQRs of every measured field, added under ``summary`` keys."""
    for arm in env_result["scenarios"].values():
        arm["summary"] = {
            side: {f: stats([x[f] for x in arm[side]]) for f in FIELDS} for side in ("off", "on")
        }
    env_result["baseline_summary"] = {
        key: {f: stats([x[f] for x in samples]) for f in FIELDS}
        for key, samples in env_result["baselines"].items()
    }
    after = env_result.get("after_install")
    if after:
        after["summary"] = {
            k: {f: stats([x[f] for x in after[k]]) for f in ("call", "process")}
            for k in ("off", "on_unsettled", "on_cold", "on_warm", "off_settled")
        }
    startup = env_result.get("startup")
    if startup:
        startup["summary"] = {k: stats(v) for k, v in startup["samples"].items()}
        startup["paired_summary"] = {k: stats(v) for k, v in startup["paired"].items()}
    return env_result


def _ms(s: dict[str, float] | None, iqr: bool = True) -> str:
    if not s or s.get("n", 0) == 0 or math.isnan(s["median"]):
        return "n/a"
    m, q = s["median"] * 1e3, s["iqr"] * 1e3

    def fmt(v: float) -> str:
        if v >= 100:
            return f"{v:.0f}"
        if v >= 10:
            return f"{v:.1f}"
        if v >= 1:
            return f"{v:.2f}"
        return f"{v:.3f}"

    return f"{fmt(m)} ({fmt(q)})" if iqr else fmt(m)


def _ratio(a: dict[str, float] | None, b: dict[str, float] | None, flag: bool = False) -> str:
    """``a / b`` of medians; with ``flag``, a ratio under 1 (cache slower) is marked."""
    if not a or not b or not a.get("n") or not b.get("n") or not b["median"]:
        return "n/a"
    return _fmt_ratio(a["median"] / b["median"], flag)


def _fmt_ratio(r: float, flag: bool = False) -> str:
    text = f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"
    if flag and r < 0.95:
        text = f"**{text}** !"
    return text


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    out = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for r in rows:
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + " |")
    return out


def _backport(meta: dict[str, Any]) -> dict[str, Any]:
    """The ``--backport`` part of ``meta`` (results written before it existed: none)."""
    return meta.get("backport") or {
        "mode": "none",
        "label": "importlib.metadata (stdlib, no backport)",
    }


def _keys(envs: list[dict[str, Any]]) -> list[str]:
    """The scenario keys measured in any environment, in the order first seen."""
    return list(dict.fromkeys(k for e in envs for k in e["scenarios"]))


def _arms(
    envs: list[dict[str, Any]], keys: list[str]
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """``(key, env, arm, off summary, on summary)`` of each scenario measured,
    by scenario then by N: the rows of the per-scenario tables."""
    for key in keys:
        for e in envs:
            if key in e["scenarios"]:
                arm = e["scenarios"][key]
                yield key, e, arm, arm["summary"]["off"], arm["summary"]["on"]


#: What the objects floor is, under its table.
OBJECTS_CAPTION = (
    "The objects floor: the loop's answer rebuilt from memory alone (no file "
    "I/O, no check) in a child with the cache off that listed and parsed "
    "everything before the timing: a `PathDistribution` per distribution, "
    "an `EntryPoints` of fresh `EntryPoint` objects for each, and a fresh "
    "copy of the parsed `METADATA` in the provider's `Message` for each "
    "`d.metadata` (`d.version` read from it); for `entry_points(group=...)`, "
    "a `PathDistribution` per distribution of the answer and a fresh "
    "`EntryPoint` for each of its entry points. What an exact answer must "
    "build: `off/objects` is the best `off/on` an exact cache could reach, "
    "`on/objects` how far the cache is from it (1.0 would be perfect). Its "
    "first call excludes the imports its setup made (`email.message`, the "
    "provider's `_adapters`), which the loop's first call pays where the "
    "provider imports them lazily (3.13, the backport)."
)

#: What the fresh floor is, under its table.
FRESH_CAPTION = (
    "The fresh floor: the objects floor (for `packages_distributions()`: "
    "its dict of lists rebuilt from memory) plus one `stat` of every file "
    "the native code reads for the answer, logged in the setup (each "
    "`entry_points.txt`, the `METADATA` of the distributions matched; "
    "`top_level.txt` and `METADATA`, or `RECORD`, for "
    "`packages_distributions()`). A file rewritten in place changes "
    "nothing else on the disk, so a cache that answers exactly after any "
    "change must at least do this much: `off/fresh` is the best `off/on` "
    "such a cache could reach (the files' reads and, on 3.12+, the "
    "existence checks of the files a `RECORD` lists are not counted)."
)


def _floor_section(
    envs: list[dict[str, Any]], keys: list[str], floor: str, title: str, best: str, caption: str
) -> list[str]:
    """The table of each scenario measured against its ``<floor>_<key>``
    baseline (the objects or the fresh floor), under ``title``; none without one."""
    rows = []
    for key, e, arm, off, on in _arms(envs, keys):
        measured = e["baseline_summary"].get(f"{floor}_{key}")
        if measured:
            rows.append(
                [
                    arm["title"],
                    str(e["n"]),
                    _ms(measured["call"]),
                    _ms(off["call"]),
                    _ms(on["call"]),
                    _ratio(off["call"], measured["call"]),
                    _ratio(on["call"], measured["call"]),
                    _ratio(off["call"], on["call"], True),
                ]
            )
    if not rows:
        return []
    headers = ["scenario", "N", f"{floor} floor call", "call off", "call on"]
    headers += [best, f"on/{floor}", "off/on"]
    return [title, "", *_table(headers, rows), "", caption, ""]


def markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    envs = sorted(result["envs"], key=lambda e: e["n"])
    bp = _backport(meta)
    title = (
        f"# importlib-metadata-cache benchmarks: {meta['python_label']} "
        f"(CPython {meta['python_version']})"
    )
    if bp["mode"] != "none":
        title += f", {bp['label']}"
    queried = f"* queried: {bp['label']}"
    if bp["mode"] != "none":
        queried += (
            f" (`--backport {bp['mode']}`; installed with `pip install "
            f"{bp.get('requirement') or '?'}`, which added "
            f"{', '.join(bp.get('dists') or []) or 'nothing new'}; N counts the "
            "synthetic distributions only, these are in 'dists on sys.path'; the "
            "import time includes the backport's; the floor and stevedore baselines "
            "import importlib.metadata alone, the objects floor what the query "
            "children import)"
        )
    lines = [
        title,
        "",
        f"* date: {meta['date']}; wall time of this run: {meta['wall_s']:.0f} s",
        f"* machine: {meta['machine']}; load average at start / end: "
        f"{meta['load_start']} / {meta['load_end']}",
        f"* commit: {meta['commit']}, source tree {meta.get('source', '?')}; "
        f"mode: {meta['mode']}; {meta['rounds']} fresh "
        f"processes per side and scenario (interleaved off/on), "
        f"{meta['startup_rounds']} for startup",
        f"* command: `{meta['command']}`",
        queried,
        "",
        "Times in ms: median (IQR) over fresh processes. `off/on` = median off / median on "
        "(higher is better; **bold !** marks the cache being slower). `on/floor` = median "
        "on / median of the floor (1.0 would be the physical floor of a warm persisted "
        "cache). See benchmarks/README.md.",
        "",
    ]
    if result.get("warnings"):
        lines += ["**Warnings:**", ""] + [f"* {w}" for w in result["warnings"]] + [""]
    skipped = {k: v for e in envs for k, v in e.get("skipped", {}).items()}
    if skipped:
        lines += ["**Skipped scenarios:**", ""]
        lines += [f"* `{k}`: {v}" for k, v in skipped.items()] + [""]

    floor = {e["n"]: e["baseline_summary"].get("floor", {}) for e in envs}
    keys = _keys(envs)

    lines += ["## First call in a fresh process, and the whole process", ""]
    rows = []
    for _key, e, arm, off, on in _arms(envs, keys):
        fl = floor[e["n"]]
        rows.append(
            [
                arm["title"],
                str(e["n"]),
                _ms(off["call"]),
                _ms(on["call"]),
                _ratio(off["call"], on["call"], True),
                _ratio(on["call"], fl.get("call")),
                _ms(off["process"]),
                _ms(on["process"]),
                _ratio(off["process"], on["process"], True),
                _ratio(on["process"], fl.get("process")),
            ]
        )
    lines += _table(
        [
            "scenario",
            "N",
            "call off",
            "call on",
            "off/on",
            "on/floor",
            "process off",
            "process on",
            "off/on",
            "on/floor",
        ],
        rows,
    )
    lines.append("")

    lines += ["## The same call again in the same process (2nd and 10th call)", ""]
    rows = []
    for _key, e, arm, off, on in _arms(envs, keys):
        rows.append(
            [
                arm["title"],
                str(e["n"]),
                _ms(off["second"]),
                _ms(on["second"]),
                _ratio(off["second"], on["second"], True),
                _ms(off["tenth"]),
                _ms(on["tenth"]),
                _ratio(off["tenth"], on["tenth"], True),
            ]
        )
    lines += _table(
        ["scenario", "N", "2nd off", "2nd on", "off/on", "10th off", "10th on", "off/on"], rows
    )
    lines.append("")

    lines += ["## Baselines: the floor and stevedore's warm cache", ""]
    rows = []
    for e in envs:
        b = e["baseline_summary"]
        sc = e["scenarios"]
        fl = b.get("floor", {})
        sv_c, sv_r = b.get("stevedore_common"), b.get("stevedore_rare")
        ep_c = sc.get("ep_common", {}).get("summary", {}).get("on", {})
        ep_r = sc.get("ep_rare", {}).get("summary", {}).get("on", {})
        rows.append(
            [
                str(e["n"]),
                str(e["distributions"]),
                _ms(fl.get("call")),
                _ms(fl.get("process")),
                _ms(sv_c and sv_c["call"]),
                _ms(sv_c and sv_c["process"]),
                _ratio(sv_c and sv_c["call"], ep_c.get("call")),
                _ms(sv_r and sv_r["call"]),
                _ratio(sv_r and sv_r["call"], ep_r.get("call")),
                _ratio(sv_c and sv_c["process"], ep_c.get("process")),
            ]
        )
    lines += _table(
        [
            "N",
            "dists on sys.path",
            "floor call",
            "floor process",
            "stevedore(common) call",
            "stevedore(common) process",
            "stevedore/on call (common)",
            "stevedore(rare) call",
            "stevedore/on call (rare)",
            "stevedore/on process (common)",
        ],
        rows,
    )
    lines += [
        "",
        "`stevedore/on` > 1: our warm cache answers faster than stevedore's "
        "warm cache (both fresh processes; stevedore's children run with our cache "
        "off).",
        "",
    ]

    lines += _floor_section(
        envs,
        keys,
        "objects",
        "## Baselines: the objects floor (the answer's objects, no file I/O)",
        "off/objects (best possible off/on)",
        OBJECTS_CAPTION,
    )
    lines += _floor_section(
        envs,
        keys,
        "fresh",
        "## Baselines: the fresh floor (objects, and a stat of every file read)",
        "off/fresh (best possible off/on, every change seen)",
        FRESH_CAPTION,
    )

    if any(e.get("after_install") for e in envs):
        title = next(e["after_install"]["title"] for e in envs if e.get("after_install"))
        lines += [f"## First query after `pip install` of a tiny wheel: `{title}`", ""]
        rows = []
        for e in envs:
            a = e.get("after_install")
            if not a:
                continue
            s = a["summary"]
            rows.append(
                [
                    str(e["n"]),
                    _ms(s["off"]["call"]),
                    _ms(s["on_unsettled"]["call"]),
                    _ratio(s["off"]["call"], s["on_unsettled"]["call"], True),
                    _ms(s["on_cold"]["call"]),
                    _ratio(s["off_settled"]["call"], s["on_cold"]["call"], True),
                    _ms(s["on_warm"]["call"]),
                    _ratio(s["off_settled"]["call"], s["on_warm"]["call"], True),
                    _ratio(s["off"]["process"], s["on_unsettled"]["process"], True),
                    _ratio(s["off_settled"]["process"], s["on_cold"]["process"], True),
                ]
            )
        lines += _table(
            [
                "N",
                "off",
                "on, right after install",
                "off/on",
                "on, 1st after settle (cold)",
                "off/on",
                "on, warm again",
                "off/on",
                "process off/on (right after)",
                "process off/on (cold)",
            ],
            rows,
        )
        lines += [
            "",
            "'right after install': the query runs within the settle window, so "
            "the cache may not trust the changed directory and answers natively. "
            "'cold': the first query once the change is settled rebuilds the "
            "entry's record and index and saves them.",
            "",
        ]

    if any(e.get("startup") for e in envs):
        lines += ["## Startup: `python -c pass`", ""]
        rows = []
        for e in envs:
            st = e.get("startup")
            if not st:
                continue
            s, p = st["summary"], st["paired_summary"]
            rows.append(
                [
                    str(e["n"]),
                    _ms(s["no_pth"]),
                    _ms(s["off"]),
                    _ms(s["on"]),
                    _fmt_ratio(p["on/no_pth"]["median"]),
                    _fmt_ratio(p["off/no_pth"]["median"]),
                    _fmt_ratio(p["on/off"]["median"]),
                    f"{(s['on']['median'] - s['no_pth']['median']) * 1e3:+.2f}",
                ]
            )
        lines += _table(
            [
                "N",
                "no .pth",
                ".pth, cache off",
                ".pth, cache on",
                "on/no .pth (paired)",
                "off/no .pth (paired)",
                "on/off (paired)",
                "on - no .pth (ms)",
            ],
            rows,
        )
        lines += [
            "",
            "Paired: the median over rounds of (this round's on) / (this round's "
            "reference); < 1.00x would mean faster than the reference.",
            "",
        ]
    return "\n".join(lines) + "\n"


def headline(result: dict[str, Any]) -> str:
    """A compact ratio table for the terminal: off/on of the first call per scenario and N."""
    envs = sorted(result["envs"], key=lambda e: e["n"])
    if not envs:
        return ""
    keys = _keys(envs)
    header = ["scenario"] + [f"N={e['n']}" for e in envs]
    rows = []
    for key in keys:
        row = [next(e["scenarios"][key]["title"] for e in envs if key in e["scenarios"])]
        for e in envs:
            if key not in e["scenarios"]:
                row.append("skipped")
                continue
            s = e["scenarios"][key]["summary"]
            on = s["on"]["call"]["median"]
            off = s["off"]["call"]["median"]
            fl = e["baseline_summary"].get("floor", {}).get("call", {}).get("median")
            cell = f"{off / on:.1f}x" if on else "n/a"
            if on and off / on < 0.95:
                cell += " !"
            if fl:
                cell += f" ({on / fl:.0f}x floor)"
            row.append(cell)
        rows.append(row)
    return "\n".join(_table(header, rows)) + "\n"


def median_of(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
