"""Built-in suites: each parses and expands without data, the paper suites carry their controls, and
`list suites` shows each suite's paper, claim, cost and distinct cells.

Expansion resolves every cell's config but loads no corpus (as `test_suite.py` does for built-ins),
so these tests read no data folder.
"""

import json
from collections import Counter

import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.suite import SUITES_DIR, TEXT_KEYS, _expand, _parse, _read, _where, builtin_suites, describe_suite
from remedies import registry

PAPER_SUITES = [name for name in builtin_suites()
                if name.split("-")[0] in ("bowman2016", "yang2017", "fu2019", "li2019", "zhu2020")]
AUTOENCODER = "beta(beta=0.0)"
DECIDING_SEEDS = 10  # docs/protocol.md, "Seeds, fixed up front"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def expanded(name: str) -> list:
    """The suite's cells as `load_suite` makes them, before any corpus is loaded."""
    path = SUITES_DIR / f"{name}.toml"
    where = _where(path)
    _, _, grids = _parse(_read(path, where), where, name, SUITES_DIR)
    return [run.config for run, _ in _expand(grids, {}, where, SUITES_DIR)]


def test_every_paper_has_its_suite_at_two_sizes():
    assert sorted(PAPER_SUITES) == sorted(f"{paper}{size}" for paper in
                                          ("bowman2016", "yang2017", "fu2019", "li2019", "zhu2020")
                                          for size in ("", "-full"))


@pytest.mark.parametrize("name", builtin_suites())
def test_a_built_in_suite_expands_and_says_what_it_tests_and_costs(name):
    configs = expanded(name)
    row = describe_suite(SUITES_DIR / f"{name}.toml")
    assert row["cells"] == len(configs) == len({config.run_id() for config in configs})
    assert all(row[key] for key in TEXT_KEYS), {key: row[key] for key in TEXT_KEYS}


@pytest.mark.parametrize("name", PAPER_SUITES)
def test_a_paper_suite_has_its_controls_at_ten_seeds(name):
    """The autoencoder control, and `none` at every init a cell uses, each with the deciding seeds."""
    configs = expanded(name)
    seeds = Counter((config.dataset, config.model.init, config.remedy) for config in configs)
    for dataset, init in {(config.dataset, config.model.init) for config in configs}:
        assert seeds[(dataset, init, "none")] >= DECIDING_SEEDS, (dataset, init)
    for dataset in {config.dataset for config in configs}:
        assert any(seeds[(dataset, init, AUTOENCODER)] >= DECIDING_SEEDS for init in
                   {config.model.init for config in configs}), dataset
    assert {registry.parse(config.remedy).name for config in configs} > {"none", "beta"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("paper = 3", "paper must be a string (the paper it reproduces), got 3"),
        ('claim = ["escapes"]', "claim must be a string"),
        ("cost = 1.5", "cost must be a string"),
        ("description = false", "description must be a string"),
    ],
)
def test_a_text_key_that_is_not_a_string_is_one_line_exit_2(write_suite, tmp_path, line, message):
    path = write_suite(f'{line}\nremedies = ["none"]')
    result = invoke("run", str(path), "--out", str(tmp_path / "results"), "--dry-run")
    assert result.exit_code == 2, result.output
    assert f"{path.name}: {message}" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_the_listing_counts_a_cell_two_grids_share_once(write_suite, tmp_path, monkeypatch):
    texts = 'paper = "Doe et al. 2020"\nclaim = "the plain VAE collapses"\ncost = "1 s on 1 core (measured)"'
    write_suite(texts + '\nremedies = ["none", "beta(beta=0)"]\nseeds = [0, 1]',
                tables='[[extra]]\nremedies = ["none"]\nseeds = [0, 1, 2]')  # none 0, 1 twice: 5 cells
    monkeypatch.setattr("bench.suite.SUITES_DIR", tmp_path)
    result = invoke("list", "suites")
    assert result.exit_code == 0, result.output
    for line in ("paper: Doe et al. 2020", "claim: the plain VAE collapses", "cost: 1 s on 1 core (measured)",
                 "5 cells on synthetic"):
        assert line in result.output
    (row,) = json.loads(invoke("list", "suites", "--json").output)
    assert (row["cells"], row["paper"], row["claim"], row["cost"]) == (
        5, "Doe et al. 2020", "the plain VAE collapses", "1 s on 1 core (measured)")


def test_a_suite_without_the_texts_lists_without_those_lines(write_suite, tmp_path, monkeypatch):
    write_suite('remedies = ["none"]')
    monkeypatch.setattr("bench.suite.SUITES_DIR", tmp_path)
    result = invoke("list", "suites")
    assert "1 cell on synthetic" in result.output
    assert not any(f"{key}:" in result.output for key in ("paper", "claim", "cost"))
    (row,) = json.loads(invoke("list", "suites", "--json").output)
    assert (row["paper"], row["claim"], row["cost"]) == ("", "", "")
