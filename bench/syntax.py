"""What users type, read one way everywhere: remedy specs, and values for typed settings.

The remedy spec grammar (`--remedy`, suite files, the `remedy` of config.json):

    name                          defaults
    name(key=value,key=value)     parameters
    a(...)+b(...)                 composition

`parse_spec` reads the syntax only; it knows no remedy, so the report can
read a stored spec without the remedy (or its plugin) installed. `convert`
turns a text value into a declared type, for `--set` and suite settings and
for remedy parameters alike.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from typing import Any

from bench.errors import ConfigError

_PART = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:\((.*)\))?\s*$")
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


@dataclass(frozen=True)
class SpecPart:
    """One remedy of a spec: its name and its parameters as written (text)."""

    name: str
    params: dict[str, str]


def parse_spec(spec: str) -> list[SpecPart]:
    """`a(k=v)+b` -> [SpecPart("a", {"k": "v"}), SpecPart("b", {})]; ConfigError on bad syntax."""
    if not spec or not spec.strip():
        raise ConfigError("empty remedy spec: give a name such as 'none' or 'kl-annealing'")
    parts = []
    for text in _split_top_level(spec, "+"):
        match = _PART.match(text)
        if not match:
            raise ConfigError(
                f"cannot parse remedy '{text.strip()}' in '{spec}': expected name or name(key=value,...)"
            )
        name, inner = match.group(1), match.group(2)
        params: dict[str, str] = {}
        for item in _split_top_level(inner or "", ","):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"remedy '{name}': expected key=value, got '{item.strip()}'")
            params[key.strip()] = value.strip()
        parts.append(SpecPart(name, params))
    return parts


def _split_top_level(text: str, sep: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == sep and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def format_part(name: str, params: dict[str, Any]) -> str:
    """The canonical text of one remedy: `name(key=value,...)`, keys sorted; `name` without parameters."""
    if not params:
        return name
    inner = ",".join(f"{key}={format_value(value)}" for key, value in sorted(params.items()))
    return f"{name}({inner})"


def format_value(value: Any) -> str:
    """A parameter value as the spec syntax writes it (`true`, `0.5`, `linear`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def convert(value: Any, kind: Any, what: str) -> Any:
    """`value` (text from the command line or a spec, or a TOML value) as the declared type `kind`.

    Booleans are true/false, 1/0 or yes/no; a tuple of ints is comma-separated
    text or a list; a dict of text is a table; an optional value is None for
    `none` or empty text.
    Raises ConfigError "`what`: expected <type>, got <value>".
    """
    origin = typing.get_origin(kind)
    try:
        if origin is dict:
            if not isinstance(value, dict):
                raise ValueError(value)
            return {str(k): str(v) for k, v in value.items()}
        if origin is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(int(item) for item in items if str(item).strip() != "")
        if origin in (typing.Union, types.UnionType):
            inner = next(arg for arg in typing.get_args(kind) if arg is not type(None))
            if value is None or (isinstance(value, str) and value.lower() in ("none", "")):
                return None
            return convert(value, inner, what)
        if kind is bool:
            return _boolean(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        name = getattr(kind, "__name__", str(kind))
        raise ConfigError(f"{what}: expected {name}, got {value!r}") from None


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text not in TRUE + FALSE:
        raise ValueError(value)
    return text in TRUE


def spec_matches(wanted: list[SpecPart], stored: list[SpecPart]) -> bool:
    """Same remedies, in canonical (name) order, and every parameter `wanted` gives has the stored value."""
    if sorted(part.name for part in wanted) != [part.name for part in stored]:
        return False
    given = {part.name: part.params for part in wanted}
    return all(key in part.params and _same(value, part.params[key])
               for part in stored for key, value in given[part.name].items())


def _same(given: str, stored: str) -> bool:
    """`5` and `5.0`, `yes` and `true`: one value as the shared converter reads both."""
    for kind in (float, bool):
        try:
            return convert(given, kind, "") == convert(stored, kind, "")
        except ConfigError:
            continue
    return given == stored
