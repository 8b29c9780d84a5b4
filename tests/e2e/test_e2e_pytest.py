"""pytest with twelve plugins from PyPI and one of ours: cache off and on agree.

pluggy loops over ``distributions()`` reading every ``dist.entry_points``
(twice per process, and once more per ``-p NAME``); pytest reads
``dist.files`` (RECORD) of each plugin distribution to mark its modules for
assertion rewriting, and ``dist.version`` for the header.
"""

from __future__ import annotations

import re

import pytest

from e2e_env import PYTEST_DISTS, PYTEST_PLUGINS, RealEnv, compare, exits

#: A small project using the plugins (``--randomly-seed`` pins pytest-randomly).
PROJECT = {
    "pytest.ini": """\
        [pytest]
        addopts = --randomly-seed=12345
        pythonpath = .
        asyncio_default_fixture_loop_scope = function
        timeout = 120
        env =
            IMC_E2E_FROM_INI=yes
        """,
    "e2epkg/__init__.py": """\
        def double(x):
            return 2 * x


        def unused():
            return None
        """,
    "tests/test_basic.py": """\
        import asyncio
        import os

        import pytest

        import e2epkg


        def test_double():
            assert e2epkg.double(2) == 4


        def test_env_from_ini():
            assert os.environ["IMC_E2E_FROM_INI"] == "yes"


        def test_mocker(mocker):
            fake = mocker.patch("e2epkg.double", return_value=5)
            assert e2epkg.double(1) == 5
            fake.assert_called_once_with(1)


        @pytest.mark.asyncio
        async def test_async():
            await asyncio.sleep(0)


        @pytest.mark.timeout(60)
        def test_with_timeout():
            pass


        @pytest.mark.flaky(reruns=2)
        def test_flaky():
            # the working directory is rebuilt before every run
            marker = os.path.join(os.path.dirname(__file__), "flaky-marker")
            if not os.path.exists(marker):
                with open(marker, "w") as f:
                    f.write("failed once")
                raise AssertionError("fails on the first try")


        def test_benchmark(benchmark):
            assert benchmark(sum, [1, 2]) == 3


        def test_plugin_fixture(imc_check):
            imc_check([1, 2], [1, 2])
        """,
    "tests/test_rewrite.py": """\
        def test_rewritten_in_plugin(imc_check):
            imc_check([1, 2, 3], [1, 2, 4])
        """,
}


@pytest.fixture(autouse=True)
def _installed(real_env: RealEnv) -> None:
    real_env.needs(*PYTEST_DISTS)


def _plugins_line(output: str) -> list[str]:
    lines = [line for line in output.splitlines() if line.startswith("plugins: ")]
    assert lines, output
    return [re.sub(r"-[^-]+$", "", p) for p in lines[0][len("plugins: ") :].split(", ")]


def test_header_and_collection(real_env: RealEnv) -> None:
    """The "plugins:" line, every plugin's header lines, the verbose tree."""
    out = compare(real_env, ["pytest --co -v"], name="pytest-co-v", files=PROJECT)
    assert out.saved
    assert exits(out.off) == [0]
    assert sorted(_plugins_line(out.off)) == sorted(PYTEST_PLUGINS)
    assert "Using --randomly-seed=12345" in out.off
    assert "imc-e2e-pytest 1.0: pytest11 = [" in out.off
    assert "metadata: {" in out.off  # pytest-metadata's Packages and Plugins
    assert "9 tests collected" in out.off


def test_collect_quiet(real_env: RealEnv) -> None:
    out = compare(real_env, ["pytest --co -q"], name="pytest-co-q", files=PROJECT)
    assert out.saved
    assert exits(out.off) == [0]
    assert "tests/test_basic.py::test_double" in out.off


def test_version_lists_plugin_distributions(real_env: RealEnv) -> None:
    """``pytest -VV``: each plugin's distribution, version and location."""
    out = compare(real_env, ["pytest -VV"], name="pytest-VV", files=PROJECT)
    assert exits(out.off) == [0]
    assert "registered third-party plugins:" in out.off
    assert "imc_e2e_pytest-1.0" in out.off


def test_blocked_plugins(real_env: RealEnv) -> None:
    """``-p no:NAME``: blocked before the entry points are loaded."""
    out = compare(
        real_env,
        ["pytest --co -p no:randomly -p no:xdist -p no:cov -p no:imc_e2e -o addopts="],
        name="pytest-no",
        files=PROJECT,
    )
    # the plugin fixture is gone: collection still works (--co does not set up)
    assert exits(out.off) == [0]
    plugins = _plugins_line(out.off)
    # (xdist stays: its second entry point, xdist.looponfail, is not blocked)
    assert not {"randomly", "cov", "imc_e2e_pytest"} & set(plugins)
    assert {"mock", "xdist"} <= set(plugins)


def test_named_plugins_without_autoload(real_env: RealEnv) -> None:
    """``-p NAME`` with autoload off: pluggy looks each name up in the entry points."""
    out = compare(
        real_env,
        ["pytest --co -p randomly -p xdist -p pytest_mock -p imc_e2e"],
        name="pytest-p",
        files=PROJECT,
        extra_env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert exits(out.off) == [0]
    assert sorted(_plugins_line(out.off)) == ["imc_e2e_pytest", "mock", "randomly", "xdist"]


def test_xdist_cov_html(real_env: RealEnv) -> None:
    """A real run: two xdist workers (each a fresh process), coverage, an HTML report."""
    out = compare(
        real_env,
        [
            "pytest -n 2 -p no:randomly -p no:benchmark -o addopts= -k 'not benchmark'"
            " --cov=e2epkg --cov-report=term-missing --html=report.html --self-contained-html"
            " tests/test_basic.py"
        ],
        name="pytest-xdist",
        files=PROJECT,
        # the workers report in the order they finish: sort the progress line
        also=[(re.compile(r"^[.RFEsxX]+(?= +\[100%\]$)", re.M), lambda m: "".join(sorted(m[0])))],
    )
    assert exits(out.off) == [0]
    assert "created: 2/2 workers" in out.off
    assert "7 passed" in out.off
    assert "1 rerun" in out.off
    assert re.search(r"e2epkg/__init__\.py\s+4\s+1\s+75%\s+6", out.off), out.off


def test_assertion_rewritten_inside_plugin(real_env: RealEnv) -> None:
    """The plugin's own ``assert`` is rewritten: found through its RECORD."""
    out = compare(
        real_env,
        ["pytest -p no:randomly -o addopts= tests/test_rewrite.py"],
        name="pytest-rewrite",
        files=PROJECT,
    )
    assert exits(out.off) == [1]
    assert "At index 2 diff: 3 != 4" in out.off
