"""The plugins the end-to-end suite installs: tiny wheels written by hand.

Each puts entry points in a group that a real program reads: ``pytest11``
(with an ``assert`` that pytest must rewrite), ``imc.e2e.stevedore`` (three
distributions, one of them broken), ``fsspec.specs``, ``sphinx.builders``;
``imc_e2e_late`` 1.0 and 2.0 (``pytest11``, ``flake8.extension``,
``keyring.backends``, a console script) are installed and removed by the
tests. ``LEGACY`` is a project in the layout ``setup.py develop`` leaves: a
source tree with ``imc_legacy.egg-info`` beside the package, put on
``sys.path`` by a ``.pth`` file.
"""

from __future__ import annotations

from pathlib import Path

from venvs import fake_wheel

PYTEST_PLUGIN = '''\
"""A pytest plugin installed from a wheel (``pytest11``); its asserts are rewritten."""

import importlib.metadata as md

import pytest


def pytest_report_header(config):
    names = sorted(ep.name for ep in md.entry_points(group="pytest11"))
    return [f"imc-e2e-pytest {md.version('imc_e2e_pytest')}: pytest11 = {names}"]


def check_equal(left, right):
    # Rewritten by pytest only if it found this module through the
    # distribution's RECORD (``dist.files``): then a failure explains itself.
    assert left == right


@pytest.fixture
def imc_check():
    return check_equal
'''

STEVEDORE_PLUGIN = '''\
class {cls}:
    """A stevedore plugin."""
'''

FLAKE8_CHECKER = '''\
class Checker:
    """A flake8 plugin: one error on line 1 of every file."""

    name = "{name}"
    version = "{version}"

    def __init__(self, tree):
        self.tree = tree

    def run(self):
        yield 1, 0, "{code} {name} {version} was here", type(self)
'''

KEYRING_BACKEND = '''\
from keyring.backend import KeyringBackend


class Keyring(KeyringBackend):
    """A keyring backend that keeps nothing."""

    priority = {priority}

    def get_password(self, service, username):
        return None

    def set_password(self, service, username, password):
        raise NotImplementedError

    def delete_password(self, service, username):
        raise NotImplementedError
'''

FSSPEC_IMPL = """\
from fsspec.implementations.memory import MemoryFileSystem


class E2EFileSystem(MemoryFileSystem):
    protocol = "imce2e"
"""

SPHINX_BUILDER = """\
from sphinx.builders.dummy import DummyBuilder


class E2EBuilder(DummyBuilder):
    name = "imce2e"


def setup(app):
    app.add_builder(E2EBuilder)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
"""

PYTEST_LATE = """\
def pytest_report_header(config):
    return ["imc-e2e-late {version} is installed"]
"""


def plugin_wheels(directory: Path) -> dict[str, Path]:
    """The hand-written plugin wheels: the installed ones, and ``late`` 1.0/2.0.

    ``late-1.0`` and ``late-2.0`` are not installed by the fixture: the tests
    install, upgrade and uninstall them between runs.
    """
    wheels = {
        "pytest": fake_wheel(
            directory,
            "imc_e2e_pytest",
            "1.0",
            "[pytest11]\nimc_e2e = imc_e2e_pytest.plugin\n",
            modules={"imc_e2e_pytest/plugin.py": PYTEST_PLUGIN},
        ),
        "stevedore-a": fake_wheel(
            directory,
            "imc_e2e_sd_a",
            "1.0",
            "[imc.e2e.stevedore]\nalpha = imc_e2e_sd_a:Alpha\nbeta = imc_e2e_sd_a:Beta\n\n"
            "[imc.e2e.other]\nalpha = imc_e2e_sd_a:Alpha\n",
            modules={
                "imc_e2e_sd_a/__init__.py": STEVEDORE_PLUGIN.format(cls="Alpha")
                + STEVEDORE_PLUGIN.format(cls="Beta")
            },
        ),
        "stevedore-b": fake_wheel(
            directory,
            "imc_e2e_sd_b",
            "1.0",
            "[imc.e2e.stevedore]\ngamma = imc_e2e_sd_b:Gamma\n",
            modules={"imc_e2e_sd_b/__init__.py": STEVEDORE_PLUGIN.format(cls="Gamma")},
        ),
        "stevedore-broken": fake_wheel(
            directory,
            "imc_e2e_sd_broken",
            "1.0",
            "[imc.e2e.stevedore]\nbroken = imc_e2e_sd_broken.missing:Thing\n",
        ),
        "misc": fake_wheel(
            directory,
            "imc_e2e_misc",
            "1.0",
            "[fsspec.specs]\nimce2e = imc_e2e_misc.fs:E2EFileSystem\n\n"
            "[sphinx.builders]\nimce2e = imc_e2e_misc.sphinx_builder\n",
            modules={
                "imc_e2e_misc/fs.py": FSSPEC_IMPL,
                "imc_e2e_misc/sphinx_builder.py": SPHINX_BUILDER,
            },
        ),
    }
    for version, priority in (("1.0", "1.5"), ("2.0", "2.5")):
        wheels[f"late-{version}"] = fake_wheel(
            directory / f"late-{version}",
            "imc_e2e_late",
            version,
            "[pytest11]\nimc_e2e_late = imc_e2e_late.pytest_plugin\n\n"
            "[flake8.extension]\nIML = imc_e2e_late.checker:Checker\n\n"
            "[keyring.backends]\nimc_e2e_late = imc_e2e_late.backend\n\n"
            "[imc.e2e.stevedore]\n"
            + ("late = imc_e2e_late:Late\n" if version == "1.0" else "")
            + "\n[console_scripts]\nimc-e2e-late = imc_e2e_late:main\n",
            modules={
                "imc_e2e_late/__init__.py": STEVEDORE_PLUGIN.format(cls="Late")
                + f"\n\ndef main():\n    print('imc-e2e-late {version}')\n",
                "imc_e2e_late/pytest_plugin.py": PYTEST_LATE.format(version=version),
                "imc_e2e_late/checker.py": FLAKE8_CHECKER.format(
                    name="imc-e2e-late", version=version, code="IML100"
                ),
                "imc_e2e_late/backend.py": KEYRING_BACKEND.format(priority=priority),
            },
        )
    return wheels


# -------------------------------------------------------- the legacy project

LEGACY_CHECKERS = "\n\n".join(
    FLAKE8_CHECKER.format(name="imc-legacy", version="0.1.dev0", code=f"ILA{n}00").replace(
        "class Checker:", f"class Checker{letter}:"
    )
    for n, letter in ((1, "A"), (2, "B"), (3, "C"))
)

#: The source tree; ``imc_legacy.egg-info/entry_points.txt`` is ``LEGACY_ENTRY_POINTS[0]``.
LEGACY = {
    "imc_legacy/__init__.py": "class Legacy:\n    pass\n",
    "imc_legacy/pytest_plugin.py": (
        "def pytest_report_header(config):\n    return ['imc-legacy 0.1.dev0 plugin']\n"
    ),
    "imc_legacy/checker.py": LEGACY_CHECKERS,
    "imc_legacy.egg-info/PKG-INFO": (
        "Metadata-Version: 2.1\nName: imc-legacy\nVersion: 0.1.dev0\n"
        "Summary: A project installed with setup.py develop\n"
    ),
    "imc_legacy.egg-info/top_level.txt": "imc_legacy\n",
    "imc_legacy.egg-info/SOURCES.txt": (
        "setup.py\nimc_legacy/__init__.py\nimc_legacy/checker.py\n"
        "imc_legacy/pytest_plugin.py\nimc_legacy.egg-info/PKG-INFO\n"
    ),
}

#: What ``setup.py develop`` rewrites in place, one version after the other:
#: the second drops the pytest plugin and points the flake8 plugin elsewhere;
#: the third has exactly the size of the second (only the stamp's times and
#: the bytes change).
LEGACY_ENTRY_POINTS = (
    "[pytest11]\nimc_legacy = imc_legacy.pytest_plugin\n\n"
    "[flake8.extension]\nILA = imc_legacy.checker:CheckerA\n\n"
    "[imc.e2e.stevedore]\nlegacy = imc_legacy:Legacy\n",
    "[flake8.extension]\nILA = imc_legacy.checker:CheckerB\n\n"
    "[imc.e2e.stevedore]\nlegacy = imc_legacy:Legacy\nlegacy2 = imc_legacy:Legacy\n",
    "[flake8.extension]\nILA = imc_legacy.checker:CheckerC\n\n"
    "[imc.e2e.stevedore]\nlegacy = imc_legacy:Legacy\nlegacy3 = imc_legacy:Legacy\n",
)
assert len(LEGACY_ENTRY_POINTS[1]) == len(LEGACY_ENTRY_POINTS[2])


# ---------------------------------------------------- the editable project

#: ``pip install -e`` of this flat-layout project installs a dist-info, a
#: ``.pth`` and setuptools' editable finder (on ``sys.meta_path``).
EDITABLE = {
    "imc_e2e_editable/__init__.py": "class Editable:\n    pass\n",
    "imc_e2e_editable/plugin.py": (
        "def pytest_report_header(config):\n    return ['imc-e2e-editable plugin']\n"
    ),
    "imc_e2e_editable/checker.py": FLAKE8_CHECKER.format(
        name="imc-e2e-editable", version="0.1", code="IED100"
    ),
}

#: Its ``pyproject.toml``, as the developer edits it between two ``pip install -e``.
EDITABLE_PYPROJECT = (
    """\
[build-system]
requires = ["setuptools>=70.1"]
build-backend = "setuptools.build_meta"

[project]
name = "imc-e2e-editable"
version = "0.1"

[project.entry-points.pytest11]
imc_editable = "imc_e2e_editable.plugin"

[project.entry-points."flake8.extension"]
IED = "imc_e2e_editable.checker:Checker"

[project.entry-points."imc.e2e.stevedore"]
editable = "imc_e2e_editable:Editable"
""",
    """\
[build-system]
requires = ["setuptools>=70.1"]
build-backend = "setuptools.build_meta"

[project]
name = "imc-e2e-editable"
version = "0.1"

[project.entry-points."imc.e2e.stevedore"]
editable = "imc_e2e_editable:Editable"
editable2 = "imc_e2e_editable:Editable"
""",
)
