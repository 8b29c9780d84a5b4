"""The differential oracle: everything the public API answers, as plain data.

``snapshot(provider)`` calls every public function of a provider
(``importlib.metadata`` or ``importlib_metadata``) and every member of every
distribution and entry point it returns, and records the values, their order,
their types, ``ep.dist``, exceptions and warnings as JSON-able data. Two
snapshots taken with the cache off and on must be equal; ``verify`` and the
test suite compare them. Object identities and default ``repr``\\ s (which
carry addresses) are never recorded.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["diff", "snapshot"]

#: Files read through ``Distribution.read_text`` for every distribution.
READ_TEXT_FILES = (
    "METADATA",
    "PKG-INFO",
    "entry_points.txt",
    "top_level.txt",
    "",
    "RECORD",
    "INSTALLER",
    "direct_url.json",
    "requires.txt",
    "SOURCES.txt",
)

#: Names that exist nowhere, or are edge cases of the name handling.
EXTRA_NAMES = ("", "does-not-exist-imc", "Does_Not.Exist-imc")


def _type(value: object) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def capture(func: Callable[[], Any], describe: Callable[[Any], Any] = lambda v: v) -> Any:
    """``func()`` described, with its exception and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: Any = ["ok", describe(func())]
        except Exception as exc:
            result = ["raised", _type(exc), str(exc)]
    # ResourceWarning comes from garbage collection (an unclosed zip of an earlier
    # call, say) at whatever moment it runs, not from the call itself.
    result.append(
        sorted(
            {
                f"{_type(w.message)}: {w.message}"
                for w in caught
                if w.category is not ResourceWarning
            }
        )
    )
    return result


def _path(value: Any) -> Any:
    """A path's type, string and, for a ``pathlib`` one, its parts (made from
    a state of its own, set apart from the string by a fast path's maker)."""
    if value is None:
        return None
    parts = getattr(value, "parts", None)
    return [_type(value), str(value), None if parts is None else list(parts)]


def describe_ep(ep: Any) -> Any:
    dist = getattr(ep, "dist", None)
    return [
        _type(ep),
        ep.name,
        ep.value,
        ep.group,
        capture(lambda: ep.module),
        capture(lambda: ep.attr),
        capture(lambda: list(ep.extras)),
        None if dist is None else [_type(dist), _path(getattr(dist, "_path", None))],
    ]


def describe_eps(eps: Any) -> Any:
    if isinstance(eps, dict):  # SelectableGroups (3.10, 3.11)
        return [_type(eps), sorted((g, describe_eps(v)) for g, v in dict.items(eps))]
    return [_type(eps), [describe_ep(ep) for ep in eps]]


def _message(msg: Any) -> Any:
    if msg is None:
        return None
    # A value that is not a str (an ``email.header.Header`` for a value with
    # lone surrogates) compares equal to its text: its type is recorded too.
    items = capture(
        lambda: [[k, v] if type(v) is str else [k, _type(v), str(v)] for k, v in msg.items()]
    )
    payload = capture(lambda: msg.get_payload())
    return [_type(msg), items, payload]


def _files(files: Any) -> Any:
    if files is None:
        return None
    return [_type(files)] + [
        [_type(f), str(f), None if f.hash is None else [f.hash.mode, f.hash.value], f.size]
        for f in files
    ]


def describe_dist(dist: Any) -> Any:
    out = {
        "type": _type(dist),
        "path": _path(getattr(dist, "_path", None)),
        "metadata": capture(lambda: dist.metadata, _message),
        "name": capture(lambda: dist.name),
        "version": capture(lambda: dist.version),
        "normalized_name": capture(lambda: dist._normalized_name),
        "entry_points": capture(lambda: dist.entry_points, describe_eps),
        "files": capture(lambda: dist.files, _files),
        "requires": capture(lambda: dist.requires),
        "read_text": {f: capture(functools.partial(dist.read_text, f)) for f in READ_TEXT_FILES},
    }
    if hasattr(type(dist), "origin"):
        out["origin"] = capture(lambda: dist.origin, lambda o: None if o is None else repr(vars(o)))
    return out


def _names(dists: Iterable[Any]) -> list[str]:
    names: dict[str, None] = dict.fromkeys(EXTRA_NAMES)
    for dist in dists:
        for attr in ("_normalized_name", "name"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    value = getattr(dist, attr)
                except Exception:
                    continue
            if isinstance(value, str):
                names[value] = None
                names[value.upper()] = None
                names[value.replace("_", "-")] = None
        path = getattr(dist, "_path", None)
        stem = getattr(path, "name", "") or ""
        names[stem.partition("-")[0]] = None
    return list(names)


def _entry_points_of(provider: Any, name: str) -> Any:
    return provider.distribution(name).entry_points


def snapshot(provider: Any, *, per_name: bool = True) -> dict[str, Any]:
    """Everything ``provider`` answers about the current ``sys.path``."""
    out: dict[str, Any] = {}
    found = capture(lambda: list(provider.distributions()))
    dists = found[1] if found[0] == "ok" else []
    out["distributions"] = [found[0], [describe_dist(d) for d in dists], found[-1]]
    out["entry_points()"] = capture(provider.entry_points, describe_eps)
    groups: dict[str, None] = {}
    ep_names: dict[str, None] = {}
    for dist in dists:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                for ep in dist.entry_points:
                    groups[ep.group] = None
                    ep_names[ep.name] = None
            except Exception:
                pass
    groups["no-such-group-imc"] = None
    out["entry_points(group)"] = {
        g: capture(functools.partial(provider.entry_points, group=g), describe_eps) for g in groups
    }
    out["entry_points(name)"] = {
        n: capture(functools.partial(provider.entry_points, name=n), describe_eps) for n in ep_names
    }
    out["packages_distributions()"] = capture(
        # In order: the keys' order follows string hashing (the same in one
        # process, or in processes with the same PYTHONHASHSEED).
        provider.packages_distributions,
        lambda m: [_type(m), [[k, _type(v), v] for k, v in m.items()]],
    )
    if per_name:
        per: dict[str, Any] = {}
        for name in _names(dists):
            per[name] = {
                "version": capture(functools.partial(provider.version, name)),
                "metadata": capture(functools.partial(provider.metadata, name), _message),
                "distribution": capture(
                    functools.partial(provider.distribution, name),
                    lambda d: [_type(d), _path(getattr(d, "_path", None))],
                ),
                "files": capture(functools.partial(provider.files, name), _files),
                "requires": capture(functools.partial(provider.requires, name)),
                "entry_points": capture(
                    functools.partial(_entry_points_of, provider, name), describe_eps
                ),
            }
        out["per_name"] = per
    return out


def diff(left: Any, right: Any, where: str = "") -> list[str]:
    """Human-readable differences between two snapshots (empty if equal)."""
    if type(left) is not type(right):
        return [f"{where or '<root>'}: {left!r} != {right!r}"]
    if isinstance(left, dict):
        out: list[str] = []
        for key in dict.fromkeys([*left, *right]):
            if key not in left or key not in right:
                out.append(f"{where}/{key}: only in {'right' if key not in left else 'left'}")
            else:
                out.extend(diff(left[key], right[key], f"{where}/{key}"))
        return out
    if isinstance(left, list):
        if len(left) != len(right):
            return [f"{where}: length {len(left)} != {len(right)}: {left!r} != {right!r}"]
        out = []
        for i, (a, b) in enumerate(zip(left, right, strict=False)):
            out.extend(diff(a, b, f"{where}[{i}]"))
        return out
    return [] if left == right else [f"{where}: {left!r} != {right!r}"]
