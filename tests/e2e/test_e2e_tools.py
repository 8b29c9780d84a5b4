"""keyring, stevedore, setuptools, fsspec and sphinx: cache off and on agree."""

from __future__ import annotations

import shlex

from e2e_env import RealEnv, compare, exits

STEVEDORE_SCRIPT = """\
import os, sys
from stevedore import ExtensionManager, NamedExtensionManager

failures = []

def failed(manager, entry_point, exc):
    failures.append((entry_point.name, type(exc).__name__))

for attempt in (1, 2):  # the second one is answered by stevedore's own cache
    mgr = ExtensionManager("imc.e2e.stevedore", on_load_failure_callback=failed)
    print(attempt, mgr.names())
    for ext in mgr:
        print(" ", ext.name, ext.entry_point.value, ext.plugin.__qualname__)
    print("  failures:", failures)
    failures.clear()
named = NamedExtensionManager("imc.e2e.stevedore", names=["gamma", "alpha", "nope"])
print("named:", named.names())
cache = os.path.join(os.environ["XDG_CACHE_HOME"], "python-entrypoints")
print("stevedore cache files:", len(os.listdir(cache)) if os.path.isdir(cache) else 0)
"""

FSSPEC_SCRIPT = """\
import fsspec
from fsspec.registry import known_implementations
print(sorted(fsspec.available_protocols()))
print(known_implementations["imce2e"])
fs = fsspec.filesystem("imce2e")
print(type(fs).__module__, type(fs).__name__)
"""

SETUPTOOLS_PROJECT = {
    "proj/pyproject.toml": """\
        [build-system]
        requires = ["setuptools>=70.1"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "imc-e2e-built"
        version = "0.3"
        description = "Built by the end-to-end suite"
        requires-python = ">=3.10"
        dependencies = ["pytest"]

        [project.entry-points."imc.e2e.stevedore"]
        built = "imc_e2e_built:Built"

        [project.scripts]
        imc-e2e-built = "imc_e2e_built:main"
        """,
    "proj/setup.py": """\
        from setuptools import setup

        setup()
        """,
    "proj/src/imc_e2e_built/__init__.py": """\
        class Built:
            pass


        def main():
            print("built")
        """,
}

SPHINX_PROJECT = {
    "conf.py": 'project = "imc-e2e"\n',
    "index.rst": "imc-e2e\n=======\n\nA page.\n",
}


def test_keyring_backends(real_env: RealEnv) -> None:
    """keyring's ``keyring.backends`` entry points (via the backport on 3.10 and 3.11)."""
    real_env.needs("keyring", "keyrings.alt")
    out = compare(real_env, ["keyring --list-backends"], name="keyring", sort_lines=["keyring"])
    assert out.saved
    assert exits(out.off) == [0]
    assert "keyrings.alt.file.PlaintextKeyring" in out.off


def test_stevedore(real_env: RealEnv) -> None:
    real_env.needs("stevedore")
    out = compare(
        real_env,
        [f"python -c {shlex.quote(STEVEDORE_SCRIPT)}"],
        name="stevedore",
    )
    assert out.saved
    assert exits(out.off) == [0]
    assert "1 ['alpha', 'beta', 'gamma']" in out.off or "1 ['gamma', 'alpha', 'beta']" in out.off
    assert "failures: [('broken', 'ModuleNotFoundError')]" in out.off
    if not str(real_env.venv.python).startswith("/tmp"):
        assert "stevedore cache files: 1" in out.off  # it ran with its cache


def test_setuptools_wheel(real_env: RealEnv) -> None:
    """``pip wheel --no-build-isolation``: setuptools puts its ``_vendor`` on sys.path."""
    real_env.needs("setuptools")
    out = compare(
        real_env,
        [
            "pip wheel --no-deps --no-build-isolation -w dist ./proj",
            "python -m zipfile -l dist/imc_e2e_built-0.3-py3-none-any.whl | cut -c1-40",
            "python -c 'import zipfile, sys; z = zipfile.ZipFile(sys.argv[1]);"
            ' print(z.read("imc_e2e_built-0.3.dist-info/entry_points.txt").decode());'
            ' print(z.read("imc_e2e_built-0.3.dist-info/METADATA").decode())\''
            " dist/imc_e2e_built-0.3-py3-none-any.whl",
        ],
        name="setuptools-wheel",
        files=SETUPTOOLS_PROJECT,
    )
    assert exits(out.off) == [0, 0, 0]
    assert "built = imc_e2e_built:Built" in out.off


def test_setuptools_vendored_path(real_env: RealEnv) -> None:
    """After ``import setuptools``: its vendored distributions are on sys.path."""
    code = (
        "import setuptools, sys, importlib.metadata as md; "
        "print([p.rsplit('/', 2)[-2:] for p in sys.path if '_vendor' in p]); "
        "print(sorted(d.metadata['Name'] for d in md.distributions())); "
        "print(md.version('packaging'), md.version('setuptools')); "
        "print(sorted(ep.name for ep in md.entry_points(group='distutils.commands'))[:8])"
    )
    real_env.needs("setuptools")
    out = compare(real_env, [f"python -c {shlex.quote(code)}"], name="setuptools-vendor")
    assert exits(out.off) == [0]
    assert "['setuptools', '_vendor']" in out.off


def test_fsspec(real_env: RealEnv) -> None:
    """``import fsspec`` registers the ``fsspec.specs`` entry points at import."""
    real_env.needs("fsspec")
    out = compare(real_env, [f"python -c {shlex.quote(FSSPEC_SCRIPT)}"], name="fsspec")
    assert out.saved
    assert exits(out.off) == [0]
    assert "'imce2e'" in out.off
    assert "imc_e2e_misc.fs E2EFileSystem" in out.off


def test_sphinx_help(real_env: RealEnv) -> None:
    real_env.needs("sphinx")
    out = compare(real_env, ["sphinx-build -M help . _build"], name="sphinx-help")
    assert exits(out.off) == [0]
    assert "html" in out.off


def test_sphinx_builder_entry_point(real_env: RealEnv) -> None:
    """A builder found through ``sphinx.builders``."""
    real_env.needs("sphinx")
    out = compare(
        real_env,
        ["sphinx-build -b imce2e . _build/imce2e"],
        name="sphinx-builders",
        files=SPHINX_PROJECT,
    )
    assert out.saved
    assert exits(out.off) == [0]
    assert "build succeeded" in out.off
