"""The package's floors are one-way: no module imports, even lazily or for type hints, one that
imports it back, file by file or folder by folder (a subpackage such as `remedies` or `bench/data`
counts as one). A circle is how a lower floor (remedies, data) ends up needing a higher one (the
trainer, the run's config) to be imported or tested."""

from __future__ import annotations

import ast
from collections.abc import Callable
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("bench.commands", "bench.data", "bench.kit", "bench.models", "bench.report", "remedies")


def modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the package (a package by its own name)."""
    found = {}
    for path in [*ROOT.glob("bench/**/*.py"), *ROOT.glob("remedies/**/*.py")]:
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports() -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its code."""
    known = modules()

    def owner(name: str) -> str | None:  # `bench.data.vocab.UNK` -> `bench.data.vocab`
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in known.items():
        named = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                named |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                named |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        # a package's face hands its own modules on: those arrows stay inside it
        graph[module] = {target for name in named if (target := owner(name)) and target != module
                         and not (path.name == "__init__.py" and target.startswith(f"{module}."))}
    return graph


def folder(module: str) -> str:
    return next((name for name in FOLDERS if module == name or module.startswith(f"{name}.")), module)


def by_folder(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    rooms: dict[str, set[str]] = {}
    for module, targets in graph.items():
        room = folder(module)
        rooms.setdefault(room, set()).update(folder(target) for target in targets if folder(target) != room)
    return rooms


@pytest.mark.parametrize("grouping", [lambda graph: graph, by_folder], ids=["modules", "folders"])
def test_no_import_circle(grouping: Callable[[dict[str, set[str]]], dict[str, set[str]]]):
    try:
        TopologicalSorter(grouping(imports())).prepare()
    except CycleError as err:
        pytest.fail(f"import circle: {' -> '.join(err.args[1])}")


def test_the_check_sees_a_circle():
    upward = {"remedies.kit": {"bench.train"}, "bench.train": {"remedies.base"}}
    with pytest.raises(CycleError):
        TopologicalSorter(by_folder(upward)).prepare()
