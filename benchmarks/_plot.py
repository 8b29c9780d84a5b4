"""Plot call time against N (log-log): cache off, on, the floors and stevedore.

Run by ``run.py`` with an interpreter that has matplotlib:
``python _plot.py RESULT.json OUT.png``. Two panels: ``entry_points(group=rare)``
(stevedore: ``get_group_all('rare.group')``) and the pluggy-style loop
(stevedore: ``get_group_all('common.group')``, the answer pluggy's loop looks
for; and the loop's objects floor). Markers are medians; bars span the
interquartile range (Q1 to Q3).
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PANELS = (
    ("ep_rare", "stevedore_rare"),
    ("pluggy", "stevedore_common"),
)


def _series(envs: list, pick) -> tuple[list, list, list, list]:
    xs, ys, lo, hi = [], [], [], []
    for e in envs:
        s = pick(e)
        if not s or not s.get("n"):
            continue
        m = s["median"] * 1e3
        q1, q3 = s.get("q1", s["median"]) * 1e3, s.get("q3", s["median"]) * 1e3
        xs.append(e["n"])
        ys.append(m)
        lo.append(max(m - q1, 0.0))
        hi.append(max(q3 - m, 0.0))
    return xs, ys, lo, hi


def main(src: str, dst: str) -> None:
    with open(src) as f:
        result = json.load(f)
    envs = sorted(result["envs"], key=lambda e: e["n"])
    meta = result["meta"]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(12, 5))
    for ax, (key, stevedore) in zip(axes, PANELS, strict=False):
        if not envs or key not in envs[0]["scenarios"]:
            ax.set_visible(False)
            continue
        title = envs[0]["scenarios"][key]["title"]
        lines = (
            (
                "cache off",
                "tab:red",
                "o",
                lambda e, key=key: e["scenarios"][key]["summary"]["off"]["call"],
            ),
            (
                "cache on",
                "tab:green",
                "s",
                lambda e, key=key: e["scenarios"][key]["summary"]["on"]["call"],
            ),
            (
                "floor",
                "tab:gray",
                "^",
                lambda e: e["baseline_summary"].get("floor", {}).get("call"),
            ),
            (
                f"stevedore warm ({stevedore.split('_')[1]})",
                "tab:blue",
                "D",
                lambda e, sv=stevedore: e["baseline_summary"].get(sv, {}).get("call"),
            ),
            (
                "objects floor",
                "tab:purple",
                "v",
                lambda e, key=key: e["baseline_summary"].get(f"objects_{key}", {}).get("call"),
            ),
        )
        for label, color, marker, pick in lines:
            xs, ys, lo, hi = _series(envs, pick)
            if xs:
                ax.errorbar(
                    xs, ys, yerr=[lo, hi], label=label, color=color, marker=marker, capsize=3
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N synthetic distributions")
        ax.set_ylabel("first call in a fresh process (ms)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    backport = (meta.get("backport") or {}).get("mode", "none")
    suffix = f"\n{meta['backport']['label']}" if backport != "none" else ""
    fig.suptitle(
        f"importlib-metadata-cache, {meta['python_label']} ({meta['python_version']}), "
        f"{meta['date']}, {meta['mode']}: medians, IQR bars{suffix}"
    )
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
