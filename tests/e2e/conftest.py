"""Fixtures of the end-to-end suite: one shared venv of real programs per session.

Run by the ``pyXY-e2e`` tox envs (``IMC_E2E=1``). The session builds this
project's wheel (or takes tox's, ``TOX_PACKAGE``, or ``IMC_TEST_WHEEL``),
creates a venv beside pytest's ``--basetemp`` and installs ``REQUIREMENTS``
from PyPI into it (pip's cache makes later sessions fast). Tests that change
the venv put it back before they end.

Keep ``--basetemp`` out of ``/tmp``: stevedore disables its own cache for
interpreters under ``/tmp``, and the stevedore test then cannot check that it
ran with it (tox passes ``--basetemp={env_tmp_dir}/e2e``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import e2e_env
import venvs

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def _tox_wheel() -> Path | None:
    packages = [p for p in os.environ.get("TOX_PACKAGE", "").split(os.pathsep) if p]
    if len(packages) == 1 and packages[0].endswith(".whl") and os.path.isfile(packages[0]):
        return Path(packages[0])
    return None


@pytest.fixture(scope="session")
def our_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not os.environ.get("IMC_TEST_WHEEL"):
        tox_wheel = _tox_wheel()
        if tox_wheel is not None:
            return tox_wheel
    return venvs.our_wheel(tmp_path_factory)


@pytest.fixture(scope="session")
def real_env(tmp_path_factory: pytest.TempPathFactory, our_wheel: Path) -> e2e_env.RealEnv:
    return e2e_env.create_real_env(tmp_path_factory.mktemp("real"), our_wheel)


@pytest.fixture
def late_wheels(real_env: e2e_env.RealEnv) -> Iterator[dict[str, Path]]:
    """``imc_e2e_late`` 1.0 and 2.0; uninstalled again whatever the test did."""
    yield {v: real_env.wheels[f"late-{v}"] for v in ("1.0", "2.0")}
    venvs.run(real_env.venv, ["-m", "pip", "uninstall", "-y", "imc_e2e_late"])
