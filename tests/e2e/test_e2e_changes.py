"""Programs right after the environment changed: the cache on sees it at once.

Every comparison here keeps one record store for the whole test, so that the
records a cache-on run saved before a change are there to be (wrongly) served
after it; right after a change the cache-on runs go first.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

import venvs
from e2e_env import RealEnv, compare, exits, settle, write_tree
from e2e_plugins import EDITABLE, EDITABLE_PYPROJECT, LEGACY, LEGACY_ENTRY_POINTS

#: What each program run here sees of the plugins (``pytest11``, flake8,
#: keyring, and a direct query of every group and of the two distributions).
QUERY_SCRIPT = """\
import importlib.metadata as md
for group in ("imc.e2e.stevedore", "pytest11", "flake8.extension", "keyring.backends"):
    eps = md.entry_points(group=group)
    print(group, [(ep.name, ep.value, ep.dist and ep.dist.name) for ep in eps])
print("scripts", sorted(ep.name for ep in md.entry_points(group="console_scripts")))
for name in ("imc_e2e_late", "imc-legacy", "imc-e2e-editable", "imc-cwd"):
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError as exc:
        print(name, "PackageNotFoundError", exc)
    else:
        print(name, dist.version, [(ep.group, ep.name, ep.value) for ep in dist.entry_points])
names = [d.metadata["Name"] for d in md.distributions()]
print(len(names), "distributions", [n for n in names if "imc" in n.lower()])
"""

#: A tiny project for ``pytest --co`` (its header lists the plugins).
PROJECT = {
    "pytest.ini": "[pytest]\naddopts = -p no:randomly\n",
    "test_x.py": "def test_x():\n    pass\n",
    "sample.py": "x = 1\n",
}

#: The programs run after a pip command (pluggy's loop, keyring's
#: ``entry_points(group=...)``, through the backport on 3.10 and 3.11, and
#: every API), and after an edit of a project's entry points (flake8's loop
#: instead of keyring: those projects have flake8 plugins).
QUERIES = [
    "pytest --co",
    "keyring --list-backends",
    f"python -c {shlex.quote(QUERY_SCRIPT)}",
]
LEGACY_QUERIES = ["pytest --co", "flake8 sample.py", f"python -c {shlex.quote(QUERY_SCRIPT)}"]


def test_programs_right_after_pip(real_env: RealEnv, late_wheels: dict[str, Path]) -> None:
    """Install, upgrade and uninstall a plugin between program runs."""
    real_env.needs("pytest", "keyring")
    install = "pip install -q --no-index --no-deps"
    # (before the install is what the uninstall leaves: the second cache-on
    # run starts there, with the records the first one saved)
    commands = [
        f"{install} {late_wheels['1.0']}",
        *QUERIES,
        f"{install} --upgrade {late_wheels['2.0']}",
        *QUERIES,
        "pip uninstall -q -y imc_e2e_late",
        *QUERIES,
    ]
    out = compare(real_env, commands, name="after-pip", files=PROJECT, sort_lines=["keyring"])
    blocks = out.off.split("$ pip ")[1:]
    assert len(blocks) == 3
    for block, version in zip(blocks, ("1.0", "2.0", None), strict=True):
        if version is None:
            assert "imc-e2e-late " not in block
        else:
            assert f"imc-e2e-late {version} is installed" in block  # pytest header
            assert f"imc_e2e_late.backend.Keyring (priority: {version[0]}.5)" in block
    assert set(exits(out.off)) <= {0, 1}


@pytest.fixture
def legacy(real_env: RealEnv) -> Iterator[Path]:
    """``imc-legacy`` as ``setup.py develop`` leaves it: a source tree on a ``.pth``."""
    tree = write_tree(
        real_env.scratch / "legacy-src",
        {**LEGACY, "imc_legacy.egg-info/entry_points.txt": LEGACY_ENTRY_POINTS[0]},
    )
    pth = real_env.venv.site_packages / "easy-install.pth"
    assert not pth.exists()
    pth.write_text(f"{tree}\n", encoding="utf-8")
    try:
        yield tree
    finally:
        pth.unlink()


def test_legacy_egg_info_edited_in_place(real_env: RealEnv, legacy: Path) -> None:
    """``entry_points.txt`` of an ``*.egg-info`` rewritten in place between runs."""
    real_env.needs("pytest", "flake8")
    store = real_env.scratch / "legacy-store"
    entry_points = legacy / "imc_legacy.egg-info" / "entry_points.txt"
    seen = []

    def check(label: str, *, on_first: bool) -> str:
        out = compare(
            real_env,
            LEGACY_QUERIES,
            name=f"legacy-{label}",
            files=PROJECT,
            store=store,
            on_first=on_first,
            settle_extra=[legacy],
        )
        seen.append(out.off)
        return out.off

    first = check("v1", on_first=False)
    assert "imc-legacy 0.1.dev0 plugin" in first
    assert "ILA100 imc-legacy" in first
    assert (store / real_env.record_name).is_file()
    for version, text in enumerate(LEGACY_ENTRY_POINTS[1:], start=2):
        with open(entry_points, "w", encoding="utf-8") as f:  # in place: same inode
            f.write(text)
        after = check(f"v{version}", on_first=True)
        assert f"ILA{version}00 imc-legacy" in after
        assert "imc-legacy 0.1.dev0 plugin" not in after
    settle(real_env, legacy)
    final = check("v3-settled", on_first=False)
    assert final.replace("legacy-v3-settled", "legacy-v3") == seen[-2]
    assert f"legacy{len(LEGACY_ENTRY_POINTS)}" in final


def test_editable_reinstalled(real_env: RealEnv) -> None:
    """``pip install -e .``, edit the entry points, ``pip install -e .`` again.

    The second install replaces the dist-info by one of the same name (same
    version); setuptools' editable finder sits on ``sys.meta_path``.
    """
    real_env.needs("pytest", "flake8", "setuptools")
    tree = write_tree(real_env.scratch / "editable-src", EDITABLE)
    store = real_env.scratch / "editable-store"
    install = ["-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", tree]
    outputs = []
    try:
        for version, pyproject in enumerate(EDITABLE_PYPROJECT, start=1):
            (tree / "pyproject.toml").write_text(pyproject, encoding="utf-8")
            venvs.run(real_env.venv, install, env={"IMPORTLIB_METADATA_CACHE": "1"})
            out = compare(
                real_env,
                LEGACY_QUERIES,
                name=f"editable-v{version}",
                files=PROJECT,
                store=store,
                on_first=version > 1,
            )
            outputs.append(out.off)
    finally:
        venvs.run(real_env.venv, ["-m", "pip", "uninstall", "-y", "imc_e2e_editable"])
    assert "imc-e2e-editable plugin" in outputs[0]
    assert "IED100 imc-e2e-editable" in outputs[0]
    assert "imc-e2e-editable plugin" not in outputs[1]
    assert "IED100" not in outputs[1]
    assert "('editable2', 'imc_e2e_editable:Editable'" in outputs[1]


#: A checkout with an ``*.egg-info`` left at its root (by ``setup.py egg_info``
#: or an old ``pip install -e``): ``python -m`` puts the working directory on
#: ``sys.path`` as an absolute entry, so the cache keeps a record of it.
CHECKOUT = {
    "imc_cwd/__init__.py": "",
    "imc_cwd/plugin.py": "def pytest_report_header(config):\n    return ['imc-cwd plugin']\n",
    "imc_cwd.egg-info/PKG-INFO": "Metadata-Version: 2.1\nName: imc-cwd\nVersion: 0.2\n",
    "imc_cwd.egg-info/entry_points.txt": "[pytest11]\nimc_cwd = imc_cwd.plugin\n",
    "pytest.ini": "[pytest]\naddopts = -p no:randomly\n",
    "test_x.py": "def test_x():\n    pass\n",
}


def test_egg_info_in_the_working_directory(real_env: RealEnv) -> None:
    """``python -m pytest`` in a checkout whose ``*.egg-info`` is rewritten in place."""
    real_env.needs("pytest")
    checkout = write_tree(real_env.scratch / "checkout", CHECKOUT)
    store = real_env.scratch / "checkout-store"
    entry_points = checkout / "imc_cwd.egg-info" / "entry_points.txt"
    queries = ["python -m pytest --co", f"python -c {shlex.quote(QUERY_SCRIPT)}"]
    outputs = []
    for label, text in (("v1", None), ("v2", "[imc.e2e.stevedore]\ncwd = imc_cwd:nothing\n")):
        if text is not None:
            with open(entry_points, "w", encoding="utf-8") as f:  # in place: same inode
                f.write(text)
        out = compare(
            real_env,
            queries,
            name=f"checkout-{label}",
            cwd=checkout,
            store=store,
            on_first=text is not None,
            settle_extra=[checkout],
        )
        outputs.append(out.off)
    assert "imc-cwd plugin" in outputs[0]
    assert "imc-cwd plugin" not in outputs[1]
    assert "('cwd', 'imc_cwd:nothing', 'imc-cwd')" in outputs[1]
