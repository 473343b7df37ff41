"""Several remedies acting as one (`a+b`): each hook combined by the rule it declares (`Combine`).

The methods are made from `HOOKS`, so a hook added to `Remedy` with its
`@hook(...)` rule is composed without an edit here. The registry has
already refused two parts that override one `OWNER` hook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from remedies.base import HOOKS, Combine, Remedy


class Composite(Remedy):
    def __init__(self, parts: list[Remedy]) -> None:
        self.members = parts
        self.name = "+".join(part.name for part in parts)
        self.owner = {
            name: next((p for p in parts if name in p.overridden_hooks()), Remedy())
            for name, rule in HOOKS.items() if rule is Combine.OWNER
        }

    def spec(self) -> str:
        return "+".join(part.spec() for part in self.members)

    def params(self) -> dict[str, Any]:
        return {part.name: part.params() for part in self.members}

    def parts(self) -> list[Remedy]:
        return list(self.members)

    def overridden_hooks(self) -> set[str]:  # type: ignore[override]
        return set().union(*(part.overridden_hooks() for part in self.members))

    def state_dict(self) -> dict[str, Any]:
        return {part.name: part.state_dict() for part in self.members}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for part in self.members:
            part.load_state_dict(state.get(part.name, {}))


def _combined(name: str, rule: Combine) -> Callable[..., Any]:
    """The composite's `name` hook, answering by `rule`."""

    def owner(self: Composite, *args: Any) -> Any:
        return getattr(self.owner[name], name)(*args)

    def each(self: Composite, *args: Any) -> None:
        for part in self.members:
            getattr(part, name)(*args)

    def thread(self: Composite, first: Any, *rest: Any) -> Any:
        for part in self.members:
            first = getattr(part, name)(first, *rest)
        return first

    method = {Combine.OWNER: owner, Combine.EACH: each, Combine.THREAD: thread}[rule]
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"{getattr(Remedy, name).__doc__}\n\nComposed: {rule.value}."
    return method


for _name, _rule in HOOKS.items():
    setattr(Composite, _name, _combined(_name, _rule))
