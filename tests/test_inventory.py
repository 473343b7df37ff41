"""What a store holds and what a suite would do: `run --only`, `run --dry-run`, `list runs`."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TINY_DATA, TINY_TABLES

from bench import store
from bench.cli import cli
from bench.errors import ConfigError
from bench.inventory import run_state
from bench.selection import parse_only
from bench.store import CHECKPOINT
from bench.suite import load_suite

SUITE = f'name = "tiny"\nremedies = ["none", "beta(beta=0.2)"]\nseeds = [0, 1]\n{TINY_DATA}\n{TINY_TABLES}\n'


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A store where `run --only seed=0` trained 2 of the suite's 4 cells; the suite file."""
    root = tmp_path_factory.mktemp("inventory")
    (root / "tiny.toml").write_text(SUITE)
    result = invoke("run", root / "tiny.toml", "--out", root / "out", "--backend", "sequential", "--quiet",
                    "--only", "seed=0")
    assert result.exit_code == 0, result.output
    return root / "out", root / "tiny.toml"


@pytest.fixture
def states(trained: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A copy of the store with one cell in each state: run id -> state."""
    out, suite = trained
    shutil.copytree(out, tmp_path / "out")
    configs = {(cell.config.remedy, cell.config.seed): cell.config for cell in load_suite(suite).cells}
    cells = {key: cfg.run_id() for key, cfg in configs.items()}
    folder = {key: store.run_dir(tmp_path / "out", "tiny", run_id) for key, run_id in cells.items()}
    (folder["none", 0] / store.METRICS).write_text('{"status": "fini')  # cut short
    store.write_json(folder["none", 1] / store.CONFIG, configs["none", 1].to_dict())  # then cut in epoch 1
    (folder["none", 1] / CHECKPOINT).write_bytes(b"a checkpoint")
    return tmp_path / "out", suite, {
        cells["none", 0]: "damaged", cells["none", 1]: "resumable",
        cells["beta(beta=0.2)", 0]: "finished", cells["beta(beta=0.2)", 1]: "new",
    }


def table_states(output: str) -> dict[str, str]:
    """Run id -> state, from the rows of a printed table (columns: ... | run id | state | ...)."""
    lines = [line for line in output.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    return {row[header.index("run id")]: row[header.index("state")] for row in rows}


def tree(folder: Path) -> dict[str, int]:
    return {str(path): path.stat().st_mtime_ns for path in folder.rglob("*")}


def test_only_runs_the_matching_cells_and_the_suite_record_keeps_every_cell(trained):
    out, _ = trained
    runs = [store.read_json(path / store.METRICS) for path in (out / "tiny" / "runs").iterdir()]
    assert sorted((run["remedy"], run["seed"], run["status"]) for run in runs) == [
        ("beta(beta=0.2)", 0, "finished"), ("none", 0, "finished")]
    assert len(store.read_json(out / "tiny" / store.SUITE)["cells"]) == 4


def test_dry_run_lists_each_cell_with_its_state_and_writes_nothing(states):
    out, suite, expected = states
    before = tree(out)
    result = invoke("run", suite, "--out", out, "--dry-run")
    assert result.exit_code == 0, result.output
    assert table_states(result.output) == expected
    assert ("tiny: 4 of 4 cells (1 damaged, 1 resumable, 1 finished, 1 new); `run` would train 3 "
            "(1 from a checkpoint)") in result.output
    assert tree(out) == before
    assert not (out.parent / "fresh").exists()
    assert invoke("run", suite, "--out", out.parent / "fresh", "--dry-run").exit_code == 0
    assert not (out.parent / "fresh").exists()


def test_dry_run_with_filters_shows_their_cells_only(states):
    out, suite, _ = states
    result = invoke("run", suite, "--out", out, "--dry-run", "--only", "remedy=beta", "--only", "seed=1")
    assert result.exit_code == 0, result.output
    assert list(table_states(result.output).values()) == ["new"]
    assert "tiny: 1 of 4 cells (1 new)" in result.output


@pytest.mark.parametrize(("only", "message"), [
    ("remedy=kl-annealing", "--only remedy=kl-annealing matches none of the 4 cells of suite tiny; they have "
                            "datasets synthetic, remedies beta, none and seeds 0, 1"),
    ("seed=zero", "--only seed= expects a seed number or a wildcard pattern of digits, got 'zero'"),
    ("remdy=none", "--only expects KEY=PATTERN with KEY one of dataset, remedy, seed"),
])
def test_a_bad_or_empty_filter_is_one_line_exit_2_and_nothing_written(trained, tmp_path, only, message):
    _, suite = trained
    result = invoke("run", suite, "--out", tmp_path / "out", "--only", only)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"Error: {result.output.strip()[7:]}"]
    assert message in result.output
    assert not (tmp_path / "out").exists()


class TestFilters:
    def test_a_remedy_pattern_matches_the_name_or_the_whole_spec(self):
        spec = "kl-annealing(epochs=2.0,shape=linear)+word-dropout(keep=0.5)"
        assert parse_only(["remedy=kl-annealing+word-dropout"]).matches("ptb", spec, 0)
        assert parse_only(["remedy=kl-annealing*"]).matches("ptb", spec, 0)
        assert parse_only(["remedy=*keep=0.5)"]).matches("ptb", spec, 0)
        assert not parse_only(["remedy=kl-annealing"]).matches("ptb", spec, 0)

    def test_a_spec_as_the_suite_file_spells_it_matches_by_value(self):
        assert parse_only(["remedy=beta(beta=0)"]).matches("ptb", "beta(beta=0.0)", 0)
        assert not parse_only(["remedy=beta(beta=0)"]).matches("ptb", "beta(beta=0.4)", 0)
        spec = "kl-annealing(epochs=5.0,shape=linear,start=0.1)"
        assert parse_only(["remedy=kl-annealing(epochs=5)"]).matches("ptb", spec, 0)
        assert not parse_only(["remedy=kl-annealing(epochs=3)"]).matches("ptb", spec, 0)

    def test_one_key_gives_alternatives_different_keys_must_all_hold(self):
        only = parse_only(["seed=0", "seed=2", "dataset=ptb*"])
        assert [only.matches(dataset, "none", seed) for dataset, seed in
                [("ptb", 0), ("ptb-small", 2), ("ptb", 1), ("synthetic", 0)]] == [True, True, False, False]

    def test_no_filter_keeps_everything(self):
        assert not parse_only([]) and parse_only([]).matches("any", "thing", 7)

    def test_an_unknown_key_suggests_the_closest(self):
        with pytest.raises(ConfigError, match=r"got 'sed=1'\. Did you mean 'seed'"):
            parse_only(["sed=1"])


def test_list_runs_shows_state_and_headline_metrics_and_survives_damage(states):
    out, _, expected = states
    result = invoke("list", "runs", out / "tiny")
    assert result.exit_code == 0, result.output
    found = table_states(result.output)
    assert found == {run_id: state for run_id, state in expected.items() if state != "new"}
    (finished,) = (run_id for run_id, state in expected.items() if state == "finished")
    test = store.read_json(store.run_dir(out, "tiny", finished) / store.METRICS)["test"]
    row = next(line for line in result.output.splitlines() if finished in line)
    assert f"{test['nll']:.2f}" in row and f"{test['mi']:.3f}" in row and "beta(beta=0.2)" in row
    (damaged,) = (run_id for run_id, state in expected.items() if state == "damaged")
    assert f"damaged {damaged}: " in result.output and "metrics.json is damaged" in result.output


def test_list_runs_of_a_results_folder_filtered_as_json(states):
    out, _, expected = states
    result = invoke("list", "runs", out, "--only", "remedy=beta", "--json")
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.output)
    assert (run["suite"], run["state"], run["seed"]) == ("tiny", "finished", 0)
    assert run["remedy"] == "beta(beta=0.2)"
    assert set(run["test"]) == {"nll", "kl", "mi", "au"} and expected[run["run_id"]] == "finished"


def test_list_runs_of_a_folder_without_runs_is_one_line_exit_2(tmp_path):
    result = invoke("list", "runs", tmp_path)
    assert result.exit_code == 2 and result.output.startswith(f"Error: no runs under {tmp_path}")


def test_a_run_another_process_holds_is_running_and_the_test_leaves_no_lock_behind(tmp_path):
    folder = tmp_path / "runs" / "abc"
    assert run_state(folder) == "new" and not folder.exists()
    with store.run_lock(folder):
        assert run_state(folder) == "running"
    assert run_state(folder) == "unfinished"
    with store.run_lock(folder):  # the state's look took no lock that outlives it
        pass
