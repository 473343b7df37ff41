"""The contract between the harness and its remedies holds where it is written, used, faked and described.

`remedies.base` writes it: the hooks with their combination rules (`HOOKS`),
and the trainer as hooks see it (`TrainerView`). The trainer and the plugin
kit's stand-in (`bench.kit.ScriptedTrainer`) must offer it, the remedies
(built-in and example plugin) must use nothing else, composition must follow
the declared rules, and docs/plugins.md must say the same.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re
from pathlib import Path
from typing import Generic, Protocol

import pytest
import torch

from bench.kit import ScriptedTrainer
from bench.single_run import plan_run, resolve
from bench.train import Trainer
from remedies import registry
from remedies.base import HOOKS, Combine, Remedy, TrainerView

ROOT = Path(__file__).resolve().parents[1]
REMEDY_SOURCES = [*sorted((ROOT / "remedies").glob("*.py")),
                  *sorted((ROOT / "examples").rglob("*.py"))]
PLUGINS_DOC = ROOT / "docs" / "plugins.md"


def contract() -> dict[str, object]:
    """TrainerView's members: properties and methods, by name."""
    return {name: member for name, member in vars(TrainerView).items()
            if not name.startswith("_") and (callable(member) or isinstance(member, property))}


def parameters(function: object) -> list[str]:
    return [name for name in inspect.signature(function).parameters if name != "self"]


def assert_conforms(trainer: object) -> None:
    assert isinstance(trainer, TrainerView)
    for name, member in contract().items():
        if callable(member):
            assert parameters(getattr(type(trainer), name)) == parameters(member), name


def declared(protocol: type) -> set[str]:
    """Every public name that `protocol` and the protocols it extends declare: methods, properties, and
    plain annotated attributes (which `vars` alone does not show, and `isinstance` still asks for)."""
    return {name for cls in protocol.__mro__ if cls not in (Protocol, Generic, object)
            for name in [*vars(cls), *inspect.get_annotations(cls)] if not name.startswith("_")}


def test_the_contract_is_every_member_trainer_view_declares():
    # contract() is what the other tests check member by member (signatures, remedies' uses, the docs):
    # a member it missed would go unchecked everywhere.
    assert set(contract()) == declared(TrainerView)


def test_the_contract_lists_what_the_builtins_need():
    used = {attribute for path in REMEDY_SOURCES for _, _, attribute in _trainer_uses(path)}
    assert used, "the scan finds no use of the trainer: every check of the remedies' uses would pass"
    assert used <= set(contract()), sorted(used - set(contract()))


def test_the_trainer_conforms():
    run = resolve("synthetic", "none", 0, {"data.synthetic_size": 40, "model.emb": 8, "model.enc_hidden": 8,
                                           "model.dec_hidden": 8, "train.batch_size": 8})
    assert_conforms(Trainer(run.config, plan_run(run).corpus, run.remedy))


def test_the_kits_scripted_trainer_conforms():
    assert_conforms(ScriptedTrainer([]))


def _trainer_uses(path: Path) -> list[tuple[str, int, str]]:
    """(function, line, attribute) of every `trainer.<attribute>` in a function that takes `trainer`."""
    uses = []
    for function in ast.walk(ast.parse(path.read_text())):
        if isinstance(function, ast.FunctionDef) and "trainer" in [a.arg for a in function.args.args]:
            uses += [(function.name, node.lineno, node.attr) for node in ast.walk(function)
                     if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                     and node.value.id == "trainer"]
    return uses


@pytest.mark.parametrize("path", REMEDY_SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_remedies_use_nothing_of_the_trainer_outside_the_contract(path):
    outside = [use for use in _trainer_uses(path) if use[2] not in contract()]
    assert outside == [], f"{path.name}: (function, line, member) outside TrainerView"
    tree = ast.parse(path.read_text())
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef):
            for arg in function.args.args:
                if arg.arg == "trainer":
                    assert ast.unparse(arg.annotation) == "TrainerView", f"{path.name}: {function.name}"
    defines_a_remedy = any(isinstance(node, ast.ClassDef) and "Remedy" in map(ast.unparse, node.bases)
                           for node in ast.walk(tree))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not (defines_a_remedy and "bench.train" in imported)  # the concrete trainer is the harness's


def test_the_scan_sees_a_use_outside_the_contract(tmp_path):
    source = tmp_path / "bad.py"
    source.write_text("def hook(self, trainer: TrainerView):\n    trainer.model.train()\n")
    assert _trainer_uses(source) == [("hook", 2, "model")]


def test_the_report_reads_files_only():
    for path in (ROOT / "bench" / "report").glob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        modules |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        assert not any(module.split(".")[0] == "remedies" for module in modules), path.name


def _recorder(name: str, hooks: list[str], calls: list[tuple[str, str]]) -> Remedy:
    """A remedy overriding `hooks`: each records its call; a threaded hook hands its first argument on."""

    def make(hook: str):
        def method(self, *args):
            calls.append((name, hook))
            return args[0] if HOOKS[hook] is Combine.THREAD else name
        return method

    cls = type(name, (Remedy,), {hook: make(hook) for hook in hooks})
    cls.name = name
    return cls()


def test_a_composition_answers_every_hook_by_the_rule_it_declares():
    calls: list[tuple[str, str]] = []
    shared = [hook for hook, rule in HOOKS.items() if rule is not Combine.OWNER]
    parts = [_recorder("b-chained", shared, calls), _recorder("a-full", list(HOOKS), calls)]
    composite = registry.compose(parts)
    for hook, rule in HOOKS.items():
        calls.clear()
        args = [object() for _ in parameters(getattr(Remedy, hook))]
        result = getattr(composite, hook)(*args)
        if rule is Combine.OWNER:
            assert (calls, result) == ([("a-full", hook)], "a-full"), hook
        else:
            assert calls == [("a-full", hook), ("b-chained", hook)], hook
            assert result is (args[0] if rule is Combine.THREAD else None), hook


def _table(heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first table under `heading` in docs/plugins.md."""
    lines = PLUGINS_DOC.read_text().split(heading, 1)[1].splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("|"))
    table = list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]


def _named(cell: str) -> tuple[str, tuple[str, ...] | None]:
    """`name(a, *, b=1)` -> ("name", ("a", "b")); `name` -> ("name", None)."""
    match = re.fullmatch(r"`(\w+)(?:\((.*)\))?`", cell)
    assert match, cell
    inner = match.group(2)
    if inner is None:
        return match.group(1), None
    names = (item.split("=")[0].strip() for item in inner.split(","))
    return match.group(1), tuple(name for name in names if name not in ("", "*"))


def test_the_docs_list_the_hooks_with_their_parameters_and_rules():
    rows = {_named(row[0]): row[-1] for row in _table("### The hooks")}
    expected = {(hook, tuple(parameters(getattr(Remedy, hook)))): rule.name.lower()
                for hook, rule in HOOKS.items()}
    assert rows == expected


def test_the_docs_list_the_trainer_as_the_contract_has_it():
    rows = dict(_named(row[0]) for row in _table("### What a hook may use of the trainer"))
    expected = {name: tuple(parameters(member)) if callable(member) else None
                for name, member in contract().items()}
    assert rows == expected


def test_update_hands_back_the_loss_it_took():
    run = resolve("synthetic", "none", 0, {"data.synthetic_size": 40, "model.emb": 8, "model.enc_hidden": 8,
                                           "model.dec_hidden": 8, "train.batch_size": 8})
    trainer = Trainer(run.config, plan_run(run).corpus, run.remedy)
    batch = trainer.train_batches[0].to(trainer.device)
    torch.manual_seed(3)
    expected, _ = trainer.loss_on(batch)
    torch.manual_seed(3)
    taken = trainer.update(batch)
    assert taken.shape == (len(batch),) and not taken.requires_grad
    assert torch.equal(taken, expected.detach())
