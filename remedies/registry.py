"""The one place where remedy names are resolved.

Built-ins are registered with `@register("name")` in their own module under
`remedies/` and imported only when asked for; installed packages add remedies
through the entry-point group `collapse_bench.remedies` (name = "module:Class"),
loaded on first use, so a broken plugin fails only when used, naming itself.
Registration checks the hooks a remedy overrides against the hooks' signatures.

Specs follow the grammar of `bench.syntax` (`name`, `name(key=value,...)`,
`a+b`); parameter values are converted by its `convert`, as `--set` values are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import inspect
import typing
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Any

from bench.errors import ConfigError, closest
from bench.syntax import convert, parse_spec
from remedies.base import HOOKS, Combine, Remedy

ENTRY_POINT_GROUP = "collapse_bench.remedies"

BUILTIN_MODULES: dict[str, str] = {
    "none": "remedies.none",
    "kl-annealing": "remedies.kl_annealing",
    "cyclical": "remedies.cyclical",
    "word-dropout": "remedies.word_dropout",
    "aggressive": "remedies.aggressive",
    "dilated-cnn": "remedies.dilated_cnn",
    "free-bits": "remedies.free_bits",
    "beta": "remedies.beta",
    "bn-vae": "remedies.bn_vae",
    "pretrain-fb": "remedies.pretrain_fb",
    "du-vae": "remedies.du_vae",
    "delta-vae": "remedies.delta_vae",
    "skip-vae": "remedies.skip_vae",
    "bow": "remedies.bow",
    "min-rate": "remedies.min_rate",
    "capacity": "remedies.capacity",
    "vmf": "remedies.vmf",
}

_registered: dict[str, type[Remedy]] = {}


def register(name: str) -> Callable[[type[Remedy]], type[Remedy]]:
    """Class decorator: make a Remedy subclass available under `name`."""

    def decorate(cls: type[Remedy]) -> type[Remedy]:
        if name in _registered and _registered[name] is not cls:
            other = _registered[name]
            raise ConfigError(
                f"remedy name '{name}' registered twice: {other.__module__}.{other.__qualname__} "
                f"and {cls.__module__}.{cls.__qualname__}"
            )
        if not (isinstance(cls, type) and issubclass(cls, Remedy)):
            raise ConfigError(f"@register('{name}'): {cls!r} is not a Remedy subclass")
        _check_methods(name, cls)
        if "__dataclass_fields__" not in vars(cls):  # Remedy is one: ask the class itself
            cls = dataclasses.dataclass(cls)
        cls.name = name
        _registered[name] = cls
        return cls

    return decorate


@contextlib.contextmanager
def registered(name: str, cls: type[Remedy]) -> Iterator[type[Remedy]]:
    """`cls` known as `name` inside the block, as `register` does, and forgotten after it unless it
    was registered before: checks a plugin's class before its package is installed."""
    new = name not in _registered
    cls = register(name)(cls)
    try:
        yield cls
    finally:
        if new:
            _registered.pop(name, None)


def _check_methods(name: str, cls: type[Remedy]) -> None:
    """A public method that is not a hook is almost always a misspelt hook; a hook must take the
    hook's parameters, or the trainer's call would fail mid-run or pass values under the wrong name."""
    allowed = set(HOOKS) | set(dir(Remedy))
    for attr, value in vars(cls).items():
        if callable(value) and not attr.startswith("_") and attr not in allowed:
            hint = closest(attr, list(HOOKS))
            raise ConfigError(
                f"remedy '{name}' ({cls.__module__}): method '{attr}' is not a hook.{hint} "
                "Prefix helpers with '_'."
            )
    for hook in cls.overridden_hooks():
        expected, given = _parameters(getattr(Remedy, hook)), _parameters(getattr(cls, hook))
        if given != expected:
            raise ConfigError(
                f"remedy '{name}' ({cls.__module__}): hook '{hook}' takes ({', '.join(given)}); "
                f"it must take ({', '.join(expected)}), see docs/plugins.md"
            )


def _parameters(method: Callable[..., Any]) -> list[str]:
    """The parameter names a hook must take, `self` included; extra ones with defaults are allowed."""
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):  # not introspectable (a C callable): let the call decide
        return ["?"]
    return [p.name for p in signature.parameters.values() if p.default is inspect.Parameter.empty]


def _plugin_entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def names() -> list[str]:
    """All remedy names: built-ins, then installed plugins (nothing is imported)."""
    plugins = [n for n in sorted(_plugin_entry_points()) if n not in BUILTIN_MODULES]
    registered = [n for n in _registered if n not in BUILTIN_MODULES and n not in plugins]
    return list(BUILTIN_MODULES) + plugins + registered


def get(name: str) -> type[Remedy]:
    """The Remedy class registered under `name`, importing it on first use."""
    if name in _registered:
        return _registered[name]
    if name in BUILTIN_MODULES:
        importlib.import_module(BUILTIN_MODULES[name])
    else:
        plugins = _plugin_entry_points()
        if name not in plugins:
            raise ConfigError(
                f"unknown remedy '{name}'.{closest(name, names())} See: collapse-bench list remedies"
            )
        try:
            cls = plugins[name].load()
        except Exception as exc:  # a broken third-party package: name it, say why
            raise ConfigError(
                f"remedy plugin '{name}' ({plugins[name].value}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if name not in _registered:
            register(name)(cls)
    if name not in _registered:
        raise ConfigError(f"module for remedy '{name}' did not register it")
    return _registered[name]


def describe() -> list[dict[str, Any]]:
    """One row per remedy for `collapse-bench list remedies`; a broken plugin says why."""
    rows = []
    for name in names():
        try:
            cls = get(name)
        except ConfigError as exc:
            rows.append({"name": name, "description": f"broken: {exc}", "parameters": {}, "paper": ""})
            continue
        doc = (cls.__doc__ or "").strip().splitlines()
        params = {f.name: _default(f) for f in dataclasses.fields(cls) if f.init}
        rows.append({"name": name, "description": doc[0] if doc else "", "parameters": params,
                     "paper": cls.paper})
    return rows


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def build(name: str, params: dict[str, Any]) -> Remedy:
    """Instantiate one remedy from keyword parameters, checking names and types."""
    cls = get(name)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in params:
        if key not in fields:
            known = ", ".join(fields) or "none"
            raise ConfigError(
                f"remedy '{name}' has no parameter '{key}'.{closest(key, list(fields))} "
                f"Parameters: {known}"
            )
    kinds = typing.get_type_hints(cls)
    values = {key: convert(value, kinds[key], f"remedy '{name}': parameter '{key}'")
              for key, value in params.items()}
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"remedy '{name}': {exc}") from None


def parse(spec: str) -> Remedy:
    """Parse `a(k=v)+b` into one Remedy (a Composite when there is a '+')."""
    return compose([build(part.name, part.params) for part in parse_spec(spec)])


def compose(parts: list[Remedy]) -> Remedy:
    """One remedy from several; a remedy named twice, or two that take over the same hook, is an error."""
    _check_distinct(parts)
    parts = [p for p in parts if p.name != "none"] or parts[:1]
    if len(parts) == 1:
        return parts[0]
    owners: dict[str, str] = {}
    for part in parts:
        for hook in sorted(h for h in part.overridden_hooks() if HOOKS[h] is Combine.OWNER):
            if hook in owners:
                raise ConfigError(
                    f"remedies '{owners[hook]}' and '{part.name}' both take over the "
                    f"'{hook}' hook; they cannot be combined"
                )
            owners[hook] = part.name
    from remedies.composite import Composite

    return Composite(sorted(parts, key=lambda p: p.name))


def _check_distinct(parts: list[Remedy]) -> None:
    """`x+x` is a typo or a misunderstanding: it would silently run as one `x` (or, for a remedy that
    chains its hooks, apply it twice), and its spec would be a run id no one meant."""
    seen: set[str] = set()
    for part in parts:
        if part.name in seen:
            raise ConfigError(f"remedy '{part.name}' is given twice in one composition; give it once")
        seen.add(part.name)
