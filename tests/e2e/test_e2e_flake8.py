"""flake8 with four plugins from PyPI: cache off and on agree.

flake8 loops over ``distributions()`` reading ``dist.entry_points``, reads
``dist.metadata`` of the distributions with flake8 entry points, and asks
``distribution("pyflakes")`` and ``distribution("pycodestyle")``.
"""

from __future__ import annotations

import json

import pytest

from e2e_env import FLAKE8_DISTS, RealEnv, compare, exits

SAMPLE = {
    "sample.py": """\
        import os, sys


        def BadName(items=[]):
            return list([item for item in items])
        """,
}

#: One code of each plugin, and of flake8's own checkers.
CODES = ("B006", "C416", "N802", "D103", "D100", "E401", "F401")


@pytest.fixture(autouse=True)
def _installed(real_env: RealEnv) -> None:
    real_env.needs(*FLAKE8_DISTS)


def test_version(real_env: RealEnv) -> None:
    out = compare(real_env, ["flake8 --version"], name="flake8-version")
    assert out.saved
    assert exits(out.off) == [0]
    flat = " ".join(out.off.split())
    for plugin in ("flake8-bugbear", "flake8-comprehensions", "pep8-naming", "flake8-docstrings"):
        assert f"{plugin}: " in flat


def test_bug_report(real_env: RealEnv) -> None:
    out = compare(real_env, ["flake8 --bug-report"], name="flake8-bug-report")
    assert exits(out.off) == [0]
    report = json.loads(out.off.split("\n", 1)[1].rsplit("[exit", 1)[0])
    plugins = {p["plugin"] for p in report["plugins"]}
    assert {"flake8-bugbear", "pep8-naming", "pyflakes", "pycodestyle"} <= plugins


def test_plugin_codes(real_env: RealEnv) -> None:
    out = compare(real_env, ["flake8 sample.py"], name="flake8-run", files=SAMPLE)
    assert exits(out.off) == [1]
    for code in CODES:
        assert f" {code} " in out.off, code


def test_select_and_statistics(real_env: RealEnv) -> None:
    out = compare(
        real_env,
        ["flake8 --select=B,C4,N --statistics --count sample.py"],
        name="flake8-select",
        files=SAMPLE,
    )
    assert exits(out.off) == [1]
    assert "D103" not in out.off
    assert "B006" in out.off
