"""The command line: ``python -m importlib_metadata_cache <command>``.

* ``status`` [``--json``]: is the cache active in this interpreter, and why
  not; which providers are patched; each ``sys.path`` entry and its record.
* ``verify`` [``--json``]: compare cached and uncached answers of every public
  API on this environment, in fresh processes; print every difference; exit 1
  on one.
* ``warm`` [``--site``] [ENTRY ...]: save records now (image builds, CI).
* ``clear`` [``--all``] [``--site``]: delete saved records.
* ``bench`` [``--rounds N``]: time common questions with the cache off and on;
  exit 1 if the cache was not active in the cache-on processes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

__all__ = ["main"]


def _print_status(report: dict[str, Any]) -> None:
    print(f"importlib-metadata-cache {report['version']} on Python {report['python']}")
    print(f"  interpreter: {report['executable']}")
    state = "active" if report["active"] else "NOT active"
    print(f"  cache: {state} ({report['reason']})")
    files = report["startup_files"] or ["none found in this interpreter's site dirs"]
    print(f"  startup files: {', '.join(files)}")
    providers = report["providers"] or {"none": "no provider patched yet"}
    for name, where in providers.items():
        print(f"  provider: {name} ({where})")
    print(f"  store: {report['cache_dir'] or 'none (memory only)'}; site set: {report['site_dir']}")
    print("  sys.path entries:")
    for entry in report["entries"]:
        print(f"    {entry['entry'] or repr('')}: {entry['kind']}")
        record = entry.get("record")
        if record is not None:
            print(
                f"      {record['state']}; {record['source']}; "
                f"{record['distributions']} distributions, {record['cached_files']} cached files; "
                f"{record['hits']} hits / {record['misses']} misses in this process"
            )
        saved = entry.get("persisted")
        if saved is not None:
            print(
                f"      persisted in the {saved['store']} store: {saved['size']} bytes, "
                f"written {saved['age_s']} s ago"
            )
        elif entry["kind"] == "directory":
            print("      not persisted")


#: Both sides hash strings alike, so that orders that follow hashing compare.
_HASH_SEED = os.environ.get("PYTHONHASHSEED") or str(int.from_bytes(os.urandom(4), "little"))


def _snapshot_in_subprocess(provider: str, cache: bool) -> Any:
    env = dict(os.environ, IMPORTLIB_METADATA_CACHE="1" if cache else "0")
    env["PYTHONHASHSEED"] = _HASH_SEED
    proc = subprocess.run(
        [sys.executable, "-m", "importlib_metadata_cache", "_snapshot", provider],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"snapshot of {provider} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout)


def _verify(args: argparse.Namespace) -> int:
    import importlib.util

    from . import _snapshot

    providers = ["importlib.metadata"]
    if importlib.util.find_spec("importlib_metadata") is not None:
        providers.append("importlib_metadata")
    failures: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for provider in providers:
        off = _snapshot_in_subprocess(provider, cache=False)
        on = _snapshot_in_subprocess(provider, cache=True)
        counts[provider] = len(off["cold"]["distributions"][1])
        problems = []
        for run in ("cold", "warm"):
            for line in _snapshot.diff(off[run], on[run]):
                problems.append(f"{run}: {line}")
        failures[provider] = problems
    if args.json:
        print(json.dumps({"distributions": counts, "differences": failures}, indent=2))
    else:
        for provider in providers:
            problems = failures[provider]
            verdict = "identical" if not problems else f"{len(problems)} DIFFERENCES"
            print(f"{provider}: {counts[provider]} distributions, cache off vs on: {verdict}")
            for line in problems[:200]:
                print(f"  {line}")
    return 1 if any(failures.values()) else 0


def _snapshot_command(args: argparse.Namespace) -> int:
    """Hidden: print two snapshots (first and repeated query) as JSON."""
    import importlib

    from . import _snapshot

    provider = importlib.import_module(args.provider)
    cold = _snapshot.snapshot(provider)
    warm = _snapshot.snapshot(provider)
    json.dump({"cold": cold, "warm": warm}, sys.stdout)
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # a pipe is block-buffered: its error comes here
        return code
    except BrokenPipeError:  # `status | head`: the reader left; say nothing more
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="importlib-metadata-cache",
        description="A transparent cache in front of importlib.metadata.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("status", help="is the cache active here, and what it holds")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    p = sub.add_parser("verify", help="compare cached and uncached answers; exit 1 on a difference")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    p = sub.add_parser("warm", help="save records now (image builds, CI)")
    p.add_argument("entries", nargs="*", help="sys.path entries (default: all of sys.path)")
    p.add_argument(
        "--site", action="store_true", help="write the environment's read-only set for all users"
    )
    p = sub.add_parser("clear", help="delete this environment's saved records")
    p.add_argument("--all", action="store_true", help="every record of every environment")
    p.add_argument("--site", action="store_true", help="the environment's read-only set")
    p = sub.add_parser("bench", help="time common questions with the cache off and on, here")
    p.add_argument("--rounds", type=int, default=5, help="fresh processes per side (default 5)")
    p.add_argument("--json", action="store_true", help="also print the rows as JSON")
    p = sub.add_parser("_snapshot")
    p.add_argument("provider")
    args = parser.parse_args(argv)
    if args.command == "status":
        from ._status import status

        report = status()
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            _print_status(report)
        return 0
    if args.command == "verify":
        return _verify(args)
    if args.command == "warm":
        from ._warm import warm

        entries = args.entries
        if not entries:
            # sys.path[0] is where this command was run from (the working
            # directory under -m, bin/ for the script): not the environment's.
            first_is_invocation = not (getattr(sys.flags, "safe_path", False) or sys.flags.isolated)
            entries = sys.path[1:] if first_is_invocation else list(sys.path)
            entries = [e for e in entries if isinstance(e, str)]
        results = warm(entries, site=args.site)
        for entry, outcome in results:
            print(f"{entry or repr('')}: {outcome}")
        return 0 if all("not saved" not in outcome for _, outcome in results) else 1
    if args.command == "bench":
        from ._bench import run

        rows = run(rounds=args.rounds)
        if args.json:
            print(json.dumps(rows, indent=2))
        return 0 if all(row["active"] for row in rows) else 1
    if args.command == "clear":
        from ._warm import clear

        where, count = clear(all_records=args.all, site=args.site)
        print(
            f"removed {count} record files from {where}" if where else "no store: nothing to clear"
        )
        return 0
    return _snapshot_command(args)
