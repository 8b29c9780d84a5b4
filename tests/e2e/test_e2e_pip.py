"""pip reading and changing the venv it runs in: cache off and on agree.

pip reads every installed distribution's METADATA through
``importlib.metadata`` on Python 3.11+; on 3.10 it uses its vendored
``pkg_resources`` unless ``_PIP_USE_IMPORTLIB_METADATA=1``, which every run
here sets (the default backend there never asks the cache anything). Each
process of an install sequence must see what the one before it did, at once.
"""

from __future__ import annotations

import re
from pathlib import Path

from e2e_env import RealEnv, compare, exits

#: pip's importlib.metadata backend (the default on 3.11+, chosen on 3.10).
IMPORTLIB_BACKEND = {"_PIP_USE_IMPORTLIB_METADATA": "1"}


def test_read_only(real_env: RealEnv) -> None:
    out = compare(
        real_env,
        ["pip list", "pip freeze", "pip show --files imc_e2e_sd_a pytest keyring", "pip check"],
        name="pip-read",
        extra_env=IMPORTLIB_BACKEND,
    )
    assert exits(out.off) == [0, 0, 0, 0]
    assert "No broken requirements found." in out.off
    assert "imc_e2e_sd_a/__init__.py" in out.off


def test_install_then_uninstall(real_env: RealEnv, late_wheels: dict[str, Path]) -> None:
    """``pip install X && pip list``, upgrade, ``pip uninstall -y X && pip list``: one script.

    Each pip process must see what the one before it did.
    """
    wheel1, wheel2 = late_wheels["1.0"], late_wheels["2.0"]
    install = "pip install --no-index --no-deps"
    out = compare(
        real_env,
        [
            f"{install} {wheel1} && pip list",
            f"{install} --upgrade {wheel2} && pip show imc_e2e_late",
            "imc-e2e-late",
            "pip uninstall -y imc_e2e_late && pip list",
            "pip check",
        ],
        name="pip-sequence",
        extra_env=IMPORTLIB_BACKEND,
    )
    assert exits(out.off) == [0, 0, 0, 0, 0]
    for done in ("installed", "installed", "uninstalled"):
        assert re.search(rf"Successfully {done} imc[-_]e2e[-_]late-[12]\.0", out.off)
    assert "\nimc-e2e-late 2.0\n" in out.off  # the console script of 2.0
    listed = out.off.split("$ pip uninstall")
    assert re.search(r"^imc[-_]e2e[-_]late +1\.0$", listed[0], re.MULTILINE)
    assert not re.search(r"^imc[-_]e2e[-_]late ", listed[1], re.MULTILINE)
