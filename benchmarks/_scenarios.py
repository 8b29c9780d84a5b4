"""What is measured: the scenarios, and the code each child process runs.

Every child is a fresh interpreter of the benchmark venv (so the ``.pth`` is
live) started with ``-c``. A query child times ``import importlib.metadata``,
then calls the scenario's function ``REPEAT`` times in a row and reports every
call's duration: call 1 is "the call" (the first query of a process, what most
programs make), calls 2 and 10 are "the same call again" in that process.

With ``--backport`` the query children ask the ``importlib_metadata``
backport instead (``own``: ``import importlib_metadata as md``), or import it
first and then ask the standard library (``stdlib``: the backport's finder has
replaced the standard one); see ``IMPORTS``. The floor and stevedore baselines
always import ``importlib.metadata`` alone; the objects floor (``objects_code``)
imports what the query children do, since it builds the provider's objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from _envs import COMMON_GROUP, NAMED_DIST, RARE_GROUP

#: Calls per query child: the 1st, 2nd and 10th are reported.
REPEAT = 10


#: ``--backport`` modes: the import line(s) of a query child, binding ``md``.
IMPORTS = {
    "none": "import importlib.metadata as md",
    "own": "import importlib_metadata as md",
    "stdlib": "import importlib_metadata\nimport importlib.metadata as md",
}
BACKPORT_MODES = tuple(IMPORTS)

#: The provider modules a query child of each mode expects the cache to have
#: patched (``active`` in its report).
PROVIDERS = {
    "none": ("importlib.metadata",),
    "own": ("importlib_metadata",),
    "stdlib": ("importlib.metadata", "importlib_metadata"),
}


@dataclass(frozen=True)
class Scenario:
    key: str  # short id, used in JSON
    title: str  # what the tables say
    body: str  # the body of ``def q():`` in the child (indented 4 spaces)
    needs: tuple[str, ...] = ()  # the attributes of ``md`` the body calls


def _body(*lines: str) -> str:
    return "".join(f"    {line}\n" for line in lines)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "ep_rare",
        f"entry_points(group={RARE_GROUP!r})",
        _body(f"return md.entry_points(group={RARE_GROUP!r})"),
        ("entry_points",),
    ),
    Scenario(
        "ep_common",
        f"entry_points(group={COMMON_GROUP!r})",
        _body(f"return md.entry_points(group={COMMON_GROUP!r})"),
        ("entry_points",),
    ),
    Scenario("ep_all", "entry_points()", _body("return md.entry_points()"), ("entry_points",)),
    Scenario(
        "pluggy",
        "pluggy-style loop",
        _body(
            "out = []",
            "for d in md.distributions():",
            "    for ep in d.entry_points:",
            f"        if ep.group == {COMMON_GROUP!r}:",
            "            out.append((ep.name, d.metadata['Name'], d.version))",
            "return out",
        ),
        ("distributions",),
    ),
    Scenario(
        "flake8",
        "flake8-style loop",
        _body(
            "out = []",
            "for d in md.distributions():",
            "    eps = d.entry_points",
            f"    if not any(ep.group == {COMMON_GROUP!r} for ep in eps):",
            "        continue",
            "    meta = d.metadata",
            "    for ep in eps:",
            f"        if ep.group == {COMMON_GROUP!r}:",
            "            out.append((meta['Name'], meta['Version'], ep))",
            "return sorted(out)",
        ),
        ("distributions",),
    ),
    Scenario(
        "version",
        f"version({NAMED_DIST!r})",
        _body(f"return md.version({NAMED_DIST!r})"),
        ("version",),
    ),
    Scenario(
        "dist_metadata",
        f"distribution({NAMED_DIST!r}).metadata['Name']",
        _body(f"return md.distribution({NAMED_DIST!r}).metadata['Name']"),
        ("distribution",),
    ),
    Scenario(
        "pkg_dists",
        "packages_distributions()",
        _body("return md.packages_distributions()"),
        ("packages_distributions",),
    ),
)

BY_KEY = {s.key: s for s in SCENARIOS}

#: The query of the "first run after a pip install" scenario.
COLD_SCENARIO = BY_KEY["ep_common"]

#: The timed part of every child: ``REPEAT`` calls of its ``q()``, each timed.
TIMED = """\
calls = []
for _ in range({repeat}):
    s = time.perf_counter()
    r = q()
    calls.append(time.perf_counter() - s)
"""

QUERY_CHILD = (
    """\
import sys, time
_PROVIDERS = {providers!r}
t0 = time.perf_counter()
{imports}
t1 = time.perf_counter()
def q():
{body}
"""
    + TIMED
    + """\
{report}
"""
)

#: Run after the timings: is the cache live (every provider of ``_PROVIDERS``
#: patched), did this run leave records to save, and a fingerprint of the
#: answer to compare cache off and on.
REPORT = """\
import json
_st = sys.modules.get('importlib_metadata_cache._startup')
_pa = sys.modules.get('importlib_metadata_cache._patch')
_re = sys.modules.get('importlib_metadata_cache._record')
if isinstance(r, str):
    fp = r
elif isinstance(r, dict):
    fp = 'dict:%d:%d' % (len(r), sum(len(v) for v in r.values()))
else:
    try:
        fp = 'len:%d' % len(r)
    except TypeError:
        fp = repr(type(r))
json.dump({'import': t1 - t0, 'calls': calls, 'fp': fp,
           'active': bool(_st is not None and _st.is_active() and _pa is not None
                          and all(p in _pa.patched for p in _PROVIDERS)),
           'dirty': sorted(_re._dirty) if _re is not None else [],
           **globals().get('EXTRA', {})}, sys.stdout)
"""

#: The physical floor of a warm persisted cache: stat every sys.path entry,
#: read one ~40 KB file, decode it (marshal, a dict of blobs) and look one key up.
FLOOR_BODY = _body(
    "for p in sys.path:",
    "    try:",
    "        os.stat(p)",
    "    except OSError:",
    "        pass",
    "with open(FLOOR_FILE, 'rb') as f:",
    "    d = marshal.loads(f.read())",
    f"return d[{COMMON_GROUP!r}]",
)

FLOOR_CHILD = (
    """\
import sys, time, os, marshal
_PROVIDERS = ('importlib.metadata',)
FLOOR_FILE = {floor_file!r}
t0 = time.perf_counter()
import importlib.metadata as md
t1 = time.perf_counter()
def q():
{body}
"""
    + TIMED
    + """\
{report}
"""
)

#: stevedore's warm cache (our cache off in these children): its public
#: ``get_group_all``, which hashes sys.path (a stat of every entry and a glob of
#: every ``*.dist-info/entry_points.txt``), reads its JSON file and builds the
#: ``EntryPoint`` objects. ``import stevedore._cache`` is timed apart ("import").
STEVEDORE_CHILD = (
    """\
import sys, time
_PROVIDERS = ('importlib.metadata',)
t0 = time.perf_counter()
import importlib.metadata as md
import stevedore._cache as sc
t1 = time.perf_counter()
def q():
    return sc.get_group_all({group!r})
"""
    + TIMED
    + """\
{report}
"""
)


#: The files the native code reads of each distribution, logged during a
#: setup (``_read_files``, after ``del _reads[:]`` and the native calls):
#: ``PD.read_text`` wrapped until ``_unlog_reads()``. The fresh floor stats
#: each of them (see ``FRESH_STATS``).
READS_SETUP = """\
_reads = []
_own_read = 'read_text' in vars(PD)
_native_read = PD.read_text
def _logged_read(self, filename):
    _reads.append(filename)
    return _native_read(self, filename)
PD.read_text = _logged_read
def _unlog_reads():
    if _own_read:
        PD.read_text = _native_read
    else:
        del PD.read_text
def _read_files(path):
    base = str(path)
    return tuple(os.path.join(base, f) if f else base for f in dict.fromkeys(_reads))
"""


#: What the objects floors share (``PD`` bound first): ``PathDistribution``
#: made without the abstract-method scan of ``DeprecatedNonAbstract`` (3.12+)
#: for exactly that class, as the cache's ``_members.fast_new`` does, and
#: ``_maker(parent, child, path)``: what makes the path of a child of
#: ``parent`` as ``Path.iterdir()`` (and the cache) does, where it gives the
#: native path.
PATHS_SETUP = """\
_dna = getattr(sys.modules[PD.__module__], 'DeprecatedNonAbstract', None)
if _dna is not None and _dna in PD.__mro__:
    _native_new = PD.__new__
    def _fast_new(cls, *args, **kwargs):
        if cls is PD:
            return object.__new__(cls)
        return _native_new(cls, *args, **kwargs)
    PD.__new__ = staticmethod(_fast_new)
_PATH = type(pathlib.Path())
_makers = {}
def _maker(parent, child, path):
    make = _makers.get(parent)
    if make is None:
        make = getattr(_PATH(parent), '_make_child_relpath', None)
        try:
            made = make(child) if make is not None else None
            if type(made) is not _PATH or str(made) != str(path) or made.parts != path.parts:
                make = None
        except Exception:
            make = None
        make = _makers[parent] = make or functools.partial(_PATH, parent)
    return make
"""


#: The objects floor of the per-distribution loops: what an exact answer must
#: build, with no file I/O and no check at all. The setup (untimed, cache off)
#: lists the distributions natively and keeps, per distribution, how to make
#: its path (the parent's ``_make_child_relpath``, as ``Path.iterdir()`` and the
#: cache do, where it gives the native path; else ``pathlib.Path(root, child)``),
#: its entry points as (name, value, group) and, for those the loop matches, the
#: parsed ``METADATA`` (``PKG-INFO`` for an ``*.egg-info``). The classes are the
#: native objects' own (the provider's ``PathDistribution``, ``EntryPoints``,
#: ``EntryPoint`` and ``Message``; with the backport imported, its). Where
#: ``PathDistribution`` inherits ``DeprecatedNonAbstract`` (3.12+), its
#: ``__new__`` skips the abstract-method scan for exactly that class, as the
#: cache's ``_members.fast_new`` does.
OBJECTS_SETUP = (
    """\
import email, functools, os, pathlib
_dists = list(md.distributions())
PD = type(_dists[0])
"""
    + READS_SETUP
    + """\
"""
    + PATHS_SETUP
    + """\
DATA = []
EPS = EP = MSG = None
for _d in _dists:
    _path = vars(_d).get('_path')
    if type(_d) is not PD or type(_path) is not _PATH:
        raise SystemExit('objects floor: not a plain PathDistribution: %r' % (_d,))
    _parent, _child = os.path.split(str(_path))
    _make = _maker(_parent, _child, _path)
    if str(_make(_child)) != str(_path):
        raise SystemExit('objects floor: cannot rebuild the path %r' % (_path,))
    del _reads[:]
    _eps = _d.entry_points
    EPS = type(_eps)
    _triples = tuple((ep.name, ep.value, ep.group) for ep in _eps)
    EP = type(next(iter(_eps))) if _triples else EP
    _match = any(g == GROUP for _, _, g in _triples)
    if _match:
        MSG = type(_d.metadata)
    _files = _read_files(_path)
    _parsed = None
    if _match:
        _text = _d.read_text('METADATA') or _d.read_text('PKG-INFO') or _d.read_text('')
        _parsed = email.message_from_string(_text)
    DATA.append((_make, _child, _triples, _parsed, _files))
_unlog_reads()
del _dists, _d, _eps
def _copy(parsed):
    # a fresh message, as the cache's MemoisedEmail.message_from_string returns
    copy = parsed.__class__.__new__(parsed.__class__)
    vars(copy).update(vars(parsed))
    copy._headers = list(parsed._headers)
    copy.defects = list(parsed.defects)
    return copy
"""
)

#: The loops of the objects floor: the scenario's loop over ``DATA`` instead of
#: ``md.distributions()``, with ``PathDistribution(path)`` for the
#: distribution, fresh ``EntryPoint`` objects ``_for`` it in an ``EntryPoints``
#: for ``d.entry_points``, and a fresh copy of the parsed message in the
#: provider's ``Message`` for each ``d.metadata``. ``d.version`` is a ``str``:
#: it is read from the message just built (no second message).
OBJECTS_BODIES = {
    "pluggy": _body(
        "out = []",
        "for make, child, triples, parsed, _files in DATA:",
        "    d = PD(make(child))",
        "    for ep in EPS(EP(name=n, value=v, group=g)._for(d) for n, v, g in triples):",
        f"        if ep.group == {COMMON_GROUP!r}:",
        "            m = MSG(_copy(parsed))",
        "            out.append((ep.name, m['Name'], m['Version']))",
        "return out",
    ),
    "flake8": _body(
        "out = []",
        "for make, child, triples, parsed, _files in DATA:",
        "    d = PD(make(child))",
        "    eps = EPS(EP(name=n, value=v, group=g)._for(d) for n, v, g in triples)",
        f"    if not any(ep.group == {COMMON_GROUP!r} for ep in eps):",
        "        continue",
        "    meta = MSG(_copy(parsed))",
        "    for ep in eps:",
        f"        if ep.group == {COMMON_GROUP!r}:",
        "            out.append((meta['Name'], meta['Version'], ep))",
        "return sorted(out)",
    ),
}

#: The objects floor of ``entry_points(group=...)``: its answer rebuilt from
#: memory alone (a ``PathDistribution`` per distribution in it, a fresh
#: ``EntryPoint`` ``_for`` it per entry point, in an ``EntryPoints``), from
#: the native answer taken in the setup.
GROUP_SETUP = (
    """\
import functools, os, pathlib
_answer = md.entry_points(group=GROUP)
EPS = type(_answer)
EP = type(next(iter(_answer)))
PD = type(next(iter(_answer)).dist)
"""
    + PATHS_SETUP
    + """\
DATA = []
for _ep in _answer:
    _path = vars(_ep.dist).get('_path')
    if type(_ep.dist) is not PD or type(_path) is not _PATH:
        raise SystemExit('objects floor: not a plain PathDistribution: %r' % (_ep.dist,))
    _parent, _child = os.path.split(str(_path))
    DATA.append((_maker(_parent, _child, _path), _child, _ep.name, _ep.value, _ep.group))
del _answer, _ep
"""
)

GROUP_BODY = _body(
    "out = []",
    "dists = {}",
    "for make, child, name, value, group in DATA:",
    "    d = dists.get((make, child))",
    "    if d is None:",
    "        d = dists[(make, child)] = PD(make(child))",
    "    out.append(EP(name=name, value=value, group=group)._for(d))",
    "return EPS(out)",
)

#: Every objects floor: (setup, body) per scenario key.
OBJECTS_FLOORS = {
    **{key: (OBJECTS_SETUP, body) for key, body in OBJECTS_BODIES.items()},
    "ep_common": (GROUP_SETUP, GROUP_BODY),
}


#: The fresh floor: what an exact answer must at least do to be sure it is
#: still the answer, with no cache layer of any kind: the objects floor, plus
#: one ``stat`` of every file the native code reads for it (logged in the
#: setup: ``READS_SETUP``) — whatever a cache keeps, a file rewritten in
#: place changes nothing else on the disk that a cheaper check could see.
#: Neither the reads nor, on 3.12+, the existence checks of the files a
#: ``RECORD`` lists (``packages_distributions()``) are counted: a lower bound.
FRESH_STATS = (
    "    for f in files:",
    "        try:",
    "            stat(f)",
    "        except OSError:",
    "            pass",
)


def _fresh(body: str) -> str:
    """An objects floor ``body`` that stats the files of each distribution first."""
    lines = body.splitlines(keepends=True)
    head = lines.index("    for make, child, triples, parsed, _files in DATA:\n")
    lines[head] = lines[head].replace("_files", "files")
    return "".join(lines[: head + 1]) + _body(*FRESH_STATS) + "".join(lines[head + 1 :])


#: ``packages_distributions()`` from memory: per distribution, the files the
#: native code reads for it, its top-level names (in the order the native
#: code iterates them, in this process) and its ``Name``.
PACKAGES_SETUP = (
    """\
import collections, os
_dists = list(md.distributions())
PD = type(_dists[0])
"""
    + READS_SETUP
    + """\
_declared = getattr(md, '_top_level_declared', None)
_inferred = getattr(md, '_top_level_inferred', None)
DATA = []
for _d in _dists:
    if type(_d) is not PD:
        raise SystemExit('fresh floor: not a plain PathDistribution: %r' % (_d,))
    del _reads[:]
    if _declared is None:
        _pkgs = tuple((_d.read_text('top_level.txt') or '').split())
    else:
        _pkgs = tuple(_declared(_d) or _inferred(_d))
    _name = _d.metadata['Name'] if _pkgs else None
    DATA.append((_read_files(vars(_d)['_path']), _pkgs, _name))
_unlog_reads()
del _dists, _d
stat = os.stat
"""
)

FRESH_BODIES = {
    **{key: _fresh(body) for key, body in OBJECTS_BODIES.items()},
    "pkg_dists": _body(
        "out = collections.defaultdict(list)",
        "for files, pkgs, name in DATA:",
        *FRESH_STATS,
        "    for pkg in pkgs:",
        "        out[pkg].append(name)",
        "return dict(out)",
    ),
}

FRESH_SETUPS = {
    **{key: OBJECTS_SETUP + "stat = os.stat\n" for key in OBJECTS_BODIES},
    "pkg_dists": PACKAGES_SETUP,
}

#: The objects floor child: the imports of the query children (timed apart,
#: "import"), the setup (untimed), ``REPEAT`` calls of the loop, then the
#: scenario's own loop once, natively, to check the answer is the same
#: (``exact`` in its report).
OBJECTS_CHILD = (
    """\
import sys, time
_PROVIDERS = {providers!r}
GROUP = {group!r}
t0 = time.perf_counter()
{imports}
t1 = time.perf_counter()
{setup}
def q():
{body}
"""
    + TIMED
    + """\
def native():
{native}
EXTRA = {{'exact': r == native()}}
{report}
"""
)


def query_code(scenario: Scenario, repeat: int = REPEAT, backport: str = "none") -> str:
    """The child of ``scenario``; ``backport`` is a ``--backport`` mode (``IMPORTS``)."""
    return QUERY_CHILD.format(
        body=scenario.body,
        repeat=repeat,
        report=REPORT,
        imports=IMPORTS[backport],
        providers=PROVIDERS[backport],
    )


def missing_api_code(scenarios: Sequence[Scenario], backport: str = "none") -> str:
    """A child printing, as JSON, ``{key: [missing attributes of md]}`` per scenario."""
    needs = {s.key: list(s.needs) for s in scenarios}
    return (
        f"import json, sys\n{IMPORTS[backport]}\n"
        f"json.dump({{k: [a for a in v if not hasattr(md, a)] for k, v in {needs!r}.items()}}, "
        "sys.stdout)\n"
    )


def floor_code(floor_file: str, repeat: int = REPEAT) -> str:
    return FLOOR_CHILD.format(body=FLOOR_BODY, floor_file=floor_file, repeat=repeat, report=REPORT)


def stevedore_code(group: str, repeat: int = REPEAT) -> str:
    return STEVEDORE_CHILD.format(group=group, repeat=repeat, report=REPORT)


def objects_code(scenario: Scenario, repeat: int = REPEAT, backport: str = "none") -> str:
    """The objects floor child of ``scenario`` (a key of ``OBJECTS_FLOORS``)."""
    setup, body = OBJECTS_FLOORS[scenario.key]
    return OBJECTS_CHILD.format(
        providers=PROVIDERS[backport],
        group=COMMON_GROUP,
        imports=IMPORTS[backport],
        setup=setup,
        body=body,
        repeat=repeat,
        native=scenario.body,
        report=REPORT,
    )


def fresh_code(scenario: Scenario, repeat: int = REPEAT, backport: str = "none") -> str:
    """The fresh floor child of ``scenario`` (a key of ``FRESH_BODIES``)."""
    return OBJECTS_CHILD.format(
        providers=PROVIDERS[backport],
        group=COMMON_GROUP,
        imports=IMPORTS[backport],
        setup=FRESH_SETUPS[scenario.key],
        body=FRESH_BODIES[scenario.key],
        repeat=repeat,
        native=scenario.body,
        report=REPORT,
    )


#: The startup variants of ``python -c pass``.
STARTUP_CODE = "pass"
STARTUP_PROBE = (
    "import sys; print(int('importlib_metadata_cache._startup' in sys.modules), "
    "int(getattr(sys.modules.get('importlib_metadata_cache._startup'), '_finder', None)"
    " is not None))"
)
