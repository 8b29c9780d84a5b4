"""Running the children: fresh processes, cache off and on interleaved.

The same scheme as ``importlib_metadata_cache._bench.measure`` (one warm-up
run with the cache on, then rounds alternating off and on), with these
differences: the child is the benchmark venv's interpreter; the rounds are the
outer loop (round 1 of every scenario, then round 2 of every scenario, ...) so
that each scenario's samples are spread over the whole run and see the same
machine load as the others; within a round the off/on order alternates
(off-on, on-off, ...) so that neither side always runs second; and the
baselines (floor, stevedore, and the objects floor of each per-distribution
loop measured: ``OBJECTS``) run in every round too.

``Runner.backport`` is the ``--backport`` mode of the query children (the
scenarios and the first query after a pip install); a scenario whose functions
the provider of that mode lacks is skipped, with a note in the result.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _envs
import _scenarios
from _envs import Env

#: The scenarios with an objects floor (``_scenarios.OBJECTS_FLOORS``): the
#: baseline ``objects_<key>`` runs when the scenario does.
OBJECTS = tuple(_scenarios.OBJECTS_FLOORS)
#: The scenarios with a fresh floor (``_scenarios.FRESH_BODIES``): ``fresh_<key>``.
FRESH = tuple(_scenarios.FRESH_BODIES)
#: The prefixes of the per-scenario floors' baseline keys.
FLOORS = ("objects_", "fresh_")


def stats(values: Sequence[float]) -> dict[str, float]:
    """Median and interquartile range (``statistics.quantiles``, exclusive method)."""
    vals = [v for v in values if v is not None]
    if not vals:
        nan = float("nan")
        return {"median": nan, "iqr": nan, "q1": nan, "q3": nan, "n": 0}
    if len(vals) < 2:
        return {"median": vals[0], "iqr": 0.0, "q1": vals[0], "q3": vals[0], "n": 1}
    q = statistics.quantiles(vals, n=4)
    return {
        "median": statistics.median(vals),
        "iqr": q[2] - q[0],
        "q1": q[0],
        "q3": q[2],
        "n": len(vals),
    }


@dataclass
class Runner:
    out: Path
    rounds: int
    startup_rounds: int
    verbose: bool = False
    backport: str = "none"  # a key of _scenarios.IMPORTS
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store = self.out / "cache" / "imc-store"  # created 0700 by the cache itself
        self.xdg = self.out / "cache" / "xdg"  # stevedore's cache lives under it
        self.cwd = self.out / "cache" / "cwd"  # an empty working directory for children
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.xdg.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ children

    def environ(self, cache: bool) -> dict[str, str]:
        return _envs.clean_env(
            IMPORTLIB_METADATA_CACHE="1" if cache else "0",
            IMPORTLIB_METADATA_CACHE_DIR=str(self.store),
            XDG_CACHE_HOME=str(self.xdg),
        )

    def child(self, env: Env, code: str, cache: bool) -> dict[str, Any]:
        environ = self.environ(cache)
        start = time.perf_counter()
        proc = subprocess.run(
            [str(env.python), "-c", code],
            env=environ,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"benchmark child failed in {env.root}:\n{proc.stderr}")
        if code == _scenarios.STARTUP_CODE:
            return {"wall": wall, "process": wall}
        result: dict[str, Any] = json.loads(proc.stdout)
        calls = result["calls"]
        result["call"] = calls[0]
        result["second"] = calls[1] if len(calls) > 1 else None
        result["tenth"] = calls[9] if len(calls) > 9 else None
        result["wall"] = wall
        # The process as if it made one call: the wall time less calls 2..10.
        result["process"] = wall - sum(calls[1:])
        result["cache"] = cache
        return result

    def check(self, where: str, sample: dict[str, Any], cache: bool | None) -> None:
        if cache is None or "active" not in sample:
            return
        if sample["active"] != cache:
            self.warn(
                f"{where}: cache {'on' if cache else 'off'} requested but the child "
                f"reports active={sample['active']}"
            )

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            print(f"  WARNING: {message}", flush=True)

    # ------------------------------------------------------------------ one env

    def measure_env(
        self,
        env: Env,
        floor_file: Path,
        scenarios: Sequence[_scenarios.Scenario],
        progress: Callable[[str], None] = print,
    ) -> dict[str, Any]:
        waited = _envs.wait_until_settled(env, (self.cwd,))
        if waited:
            progress(f"  waited {waited:.1f} s for the settle window")
        result: dict[str, Any] = {
            "n": env.n,
            "venv": str(env.root),
            "distributions": self._count(env),
            "scenarios": {},
            "baselines": {},
            "skipped": {},
        }
        missing = self._missing_api(env, scenarios)
        for key, attrs in missing.items():
            note = f"{self.backport} mode: md lacks {', '.join(attrs)}"
            result["skipped"][key] = note
            progress(f"  skipping {key}: {note}")
        scenarios = [s for s in scenarios if s.key not in missing]
        codes = {s.key: _scenarios.query_code(s, backport=self.backport) for s in scenarios}
        for s in scenarios:
            result["scenarios"][s.key] = {"title": s.title, "off": [], "on": []}
        baselines = {
            "floor": (_scenarios.floor_code(str(floor_file)), False),
            "stevedore_common": (_scenarios.stevedore_code(_envs.COMMON_GROUP), False),
            "stevedore_rare": (_scenarios.stevedore_code(_envs.RARE_GROUP), False),
        }
        stevedore_ok = not str(env.python).startswith("/tmp")
        if not stevedore_ok:
            self.warn(
                "stevedore disables its cache for interpreters under /tmp: the "
                "stevedore baseline is skipped (use an --out outside /tmp)"
            )
            baselines = {k: v for k, v in baselines.items() if not k.startswith("stevedore")}
        # The objects floor of each per-distribution loop measured, with the
        # query children's imports (it builds the provider's objects).
        # And the fresh floor (the objects floor plus a stat of every file
        # read): the best an exact cache that sees every change could do.
        for s in scenarios:
            if s.key in OBJECTS:
                baselines[f"objects_{s.key}"] = (
                    _scenarios.objects_code(s, backport=self.backport),
                    False,
                )
            if s.key in FRESH:
                baselines[f"fresh_{s.key}"] = (
                    _scenarios.fresh_code(s, backport=self.backport),
                    False,
                )

        # Warm-up: every cache-on arm once (records saved), each baseline once
        # (stevedore writes its cache file); none of these is kept. An objects
        # floor whose child fails (a distribution it cannot rebuild) is skipped.
        t0 = time.perf_counter()
        for s in scenarios:
            sample = self.child(env, codes[s.key], True)
            self.check(f"N={env.n} {s.key} warm-up", sample, True)
        for key, (code, cache) in list(baselines.items()):
            try:
                self.child(env, code, cache)
            except RuntimeError as exc:
                if not key.startswith(FLOORS):
                    raise
                note = str(exc).strip().splitlines()[-1]
                result["skipped"][key] = f"the {key.partition('_')[0]} floor failed: {note}"
                self.warn(f"N={env.n} {key} skipped: {note}")
                del baselines[key]
        for key in baselines:
            result["baselines"][key] = []
        progress(f"  warm-up done in {time.perf_counter() - t0:.1f} s")

        for r in range(self.rounds):
            t0 = time.perf_counter()
            for i, s in enumerate(scenarios):
                code = codes[s.key]
                order = (False, True) if (r + i) % 2 == 0 else (True, False)
                for cache in order:
                    sample = self.child(env, code, cache)
                    self.check(f"N={env.n} {s.key}", sample, cache)
                    result["scenarios"][s.key]["on" if cache else "off"].append(sample)
            for key, (code, cache) in baselines.items():
                result["baselines"][key].append(self.child(env, code, cache))
            progress(f"  round {r + 1}/{self.rounds} in {time.perf_counter() - t0:.1f} s")

        for s in scenarios:
            arm = result["scenarios"][s.key]
            fps_off = {x["fp"] for x in arm["off"]}
            fps_on = {x["fp"] for x in arm["on"]}
            if fps_off != fps_on:
                self.warn(
                    f"N={env.n} {s.key}: answers differ off {sorted(fps_off)} "
                    f"vs on {sorted(fps_on)}"
                )
            for floor in FLOORS:
                samples = result["baselines"].get(f"{floor}{s.key}")
                if not samples:
                    continue
                name = floor.rstrip("_")
                fps_floor = {x["fp"] for x in samples}
                if fps_floor != fps_off:
                    self.warn(
                        f"N={env.n} {s.key}: the {name} floor answers "
                        f"{sorted(fps_floor)}, the scenario {sorted(fps_off)}"
                    )
                inexact = sum(1 for x in samples if not x.get("exact"))
                if inexact:
                    self.warn(
                        f"N={env.n} {s.key}: {inexact}/{len(samples)} {name} floor "
                        "answers differ from the native ones in the same child"
                    )
            dirty = sum(1 for x in arm["on"] if x.get("dirty"))
            if dirty:
                self.warn(
                    f"N={env.n} {s.key}: {dirty}/{len(arm['on'])} warm cache-on runs "
                    "still had records to save at exit (the warm-up did not settle them)"
                )
        return result

    def _missing_api(
        self, env: Env, scenarios: Sequence[_scenarios.Scenario]
    ) -> dict[str, list[str]]:
        """``{scenario key: attributes its provider lacks}``, for those that lack any."""
        proc = subprocess.run(
            [str(env.python), "-c", _scenarios.missing_api_code(scenarios, self.backport)],
            env=self.environ(False),
            cwd=self.cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"the API probe failed in {env.root}:\n{proc.stderr}")
        found: dict[str, list[str]] = json.loads(proc.stdout)
        return {key: attrs for key, attrs in found.items() if attrs}

    def _count(self, env: Env) -> int:
        code = (
            "import importlib.metadata as md, sys; "
            "sys.stdout.write(str(len(list(md.distributions()))))"
        )
        proc = subprocess.run(
            [str(env.python), "-c", code],
            env=self.environ(False),
            cwd=self.cwd,
            capture_output=True,
            text=True,
            check=True,
        )
        return int(proc.stdout)

    # ------------------------------------------------------------------ startup

    def measure_startup(self, env: Env) -> dict[str, Any]:
        """``python -c pass``: with the .pth (on), with the off switch, without the .pth."""
        variants = ("on", "off", "no_pth")
        probes = {}
        for variant in variants:
            probes[variant] = self._probe(env, variant)
        expected = {"on": "1 1", "off": "1 0", "no_pth": "0 0"}
        for variant, got in probes.items():
            if got != expected[variant]:
                self.warn(
                    f"N={env.n} startup {variant}: probe says {got!r} "
                    f"(startup module imported, hook installed), expected "
                    f"{expected[variant]!r}"
                )
        samples: dict[str, list[float]] = {v: [] for v in variants}
        for r in range(self.startup_rounds):
            order = variants if r % 2 == 0 else tuple(reversed(variants))
            for variant in order:
                samples[variant].append(self._startup_once(env, variant))
        n = self.startup_rounds
        paired = {
            "on/no_pth": [samples["on"][i] / samples["no_pth"][i] for i in range(n)],
            "off/no_pth": [samples["off"][i] / samples["no_pth"][i] for i in range(n)],
            "on/off": [samples["on"][i] / samples["off"][i] for i in range(n)],
        }
        return {"samples": samples, "paired": paired, "probes": probes}

    def _with_pth_hidden(self, env: Env, func: Callable[[], Any]) -> Any:
        disabled = env.site / _envs.PTH_DISABLED
        os.replace(env.pth, disabled)
        try:
            return func()
        finally:
            os.replace(disabled, env.pth)

    def _startup_once(self, env: Env, variant: str) -> float:
        if variant == "no_pth":
            return self._with_pth_hidden(
                env, lambda: self.child(env, _scenarios.STARTUP_CODE, False)["wall"]
            )
        return self.child(env, _scenarios.STARTUP_CODE, variant == "on")["wall"]

    def _probe(self, env: Env, variant: str) -> str:
        def run() -> str:
            proc = subprocess.run(
                [str(env.python), "-c", _scenarios.STARTUP_PROBE],
                env=self.environ(variant == "on"),
                cwd=self.cwd,
                capture_output=True,
                text=True,
                check=True,
            )
            return proc.stdout.strip()

        return self._with_pth_hidden(env, run) if variant == "no_pth" else run()

    # ------------------------------------------------------------------ after pip install

    def measure_after_install(self, env: Env, extra_wheel: Path) -> dict[str, Any]:
        """The first query after ``pip install`` of a tiny wheel, against an uncached run.

        Per round: install; at once a cache-on run ("unsettled": the directory
        changed within the settle window, the cache must not trust it); a
        cache-off run; wait out the settle window; a cache-on run ("cold": the
        first to trust the new listing, it rebuilds the entry's record and
        index and saves them), another ("warm again") and a cache-off run;
        uninstall. Empty (with a warning) if the provider lacks the query.
        """
        missing = self._missing_api(env, [_scenarios.COLD_SCENARIO])
        if missing:
            self.warn(
                f"N={env.n} after pip install skipped: {self.backport} mode: md lacks "
                + ", ".join(missing[_scenarios.COLD_SCENARIO.key])
            )
            return {}
        code = _scenarios.query_code(_scenarios.COLD_SCENARIO, backport=self.backport)
        keys = ("off", "on_unsettled", "on_cold", "on_warm", "off_settled")
        out: dict[str, Any] = {k: [] for k in keys}
        out["title"] = _scenarios.COLD_SCENARIO.title
        pip_env = self.environ(True)  # pip runs as it would: in the venv, cache on
        for r in range(self.rounds):
            t0 = time.perf_counter()
            _envs.pip_install_extra(env, extra_wheel, pip_env)
            try:
                out["on_unsettled"].append(self.child(env, code, True))
                out["off"].append(self.child(env, code, False))
                _envs.wait_until_settled(env, (self.cwd,))
                out["on_cold"].append(self.child(env, code, True))
                out["on_warm"].append(self.child(env, code, True))
                out["off_settled"].append(self.child(env, code, False))
            finally:
                _envs.pip_uninstall_extra(env, pip_env)
            if self.verbose:
                print(f"  after-install round {r + 1} in {time.perf_counter() - t0:.1f} s")
        fps = {k: {x["fp"] for x in out[k]} for k in keys}
        if len({frozenset(v) for v in fps.values()}) != 1:
            self.warn(f"N={env.n} after pip install: answers differ: {fps}")
        for k in ("on_unsettled", "on_cold", "on_warm"):
            for x in out[k]:
                self.check(f"N={env.n} after-install {k}", x, True)
        return out
