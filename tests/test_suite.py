"""Suite files: the schema, expansion into cells, and bad input stopped before anything runs."""

import dataclasses
import json

import pytest
from click.testing import CliRunner
from conftest import TINY_DATA

from bench.cli import cli
from bench.config import RunConfig
from bench.errors import ConfigError
from bench.suite import (
    SUITES_DIR,
    _expand,
    _parse,
    _read,
    _where,
    builtin_suites,
    describe_suites,
    load_suite,
)
from remedies import registry


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


class TestExpansion:
    def test_cells_are_datasets_x_remedies_x_seeds_plus_extra_grids(self, write_suite):
        path = write_suite('remedies = ["none", "beta(beta=0.5)"]\nseeds = [0, 1]',
                           tables="[[extra]]\nremedies = [\"none\"]\nseeds = [7]\nmodel.nz = 1")
        suite = load_suite(path)
        labels = [cell.label for cell in suite.cells]
        assert len(labels) == 5
        assert labels[-1] == "synthetic / none / seed 7"
        assert suite.cells[-1].config.model.nz == 1
        assert {cell.config.model.nz for cell in suite.cells[:-1]} == {2}  # synthetic default
        assert all(cell.sentences == {"train": 160, "valid": 20, "test": 20} for cell in suite.cells)

    def test_settings_apply_from_general_to_specific(self, write_suite):
        path = write_suite(
            'datasets = [{ name = "synthetic", data.synthetic_size = 200, train.epochs = 3 }]\n'
            'remedies = [{ spec = "none", train.epochs = 4, train.lr = 0.5 }]',
            name="order",
        )
        path.write_text(path.read_text().replace(TINY_DATA, ""))
        (cell,) = load_suite(path).cells
        assert (cell.config.train.epochs, cell.config.train.lr) == (4, 0.5)  # remedy entry wins
        (cell,) = load_suite(path, overrides={"train.lr": "0.25"}).cells
        assert cell.config.train.lr == 0.25  # --set wins over the file

    def test_an_extra_grid_overrides_the_entries_it_inherits(self, write_suite):
        path = write_suite('remedies = ["none"]', tables="[[extra]]\nseeds = [1]\ndata.synthetic_size = 100")
        sizes = {cell.config.seed: cell.config.data.synthetic_size for cell in load_suite(path).cells}
        assert sizes == {0: 200, 1: 100}

    def test_a_cell_two_grids_produce_runs_once(self, write_suite):
        path = write_suite('remedies = ["none"]\nseeds = [0, 1]', tables="[[extra]]\nseeds = [1, 2]")
        assert [cell.config.seed for cell in load_suite(path).cells] == [0, 1, 2]

    def test_a_label_names_the_row_group_and_never_changes_a_run_id(self, write_suite):
        extra = '[[extra]]\nremedies = ["none"]\nmodel.nz = 1'
        plain = load_suite(write_suite('remedies = ["none"]', tables=extra, name="plain"))
        named_extra = extra.replace("]]", ']]\nlabel = "scalar latent"')
        named = write_suite('label = "SGD"\nremedies = ["none"]', tables=named_extra, name="named")
        labelled = load_suite(named)
        assert [cell.run_id for cell in labelled.cells] == [cell.run_id for cell in plain.cells]
        assert [cell.row_group for cell in labelled.cells] == ["SGD", "scalar latent"]
        assert [cell.row_group for cell in plain.cells] == [None, None]
        assert "label" not in json.dumps(labelled.cells[0].config.to_dict())

    def test_a_cell_travels_as_a_plain_dict_and_keeps_its_run_id(self, write_suite):
        path = write_suite('remedies = ["dilated-cnn(size=small)", "kl-annealing+word-dropout"]')
        for cell in load_suite(path).cells:
            assert RunConfig.from_dict(json.loads(json.dumps(cell.config.to_dict()))).run_id() == cell.run_id


class TestBuiltInSuites:
    def test_every_built_in_suite_parses(self):
        rows = describe_suites()
        assert {row["name"] for row in rows} == set(builtin_suites())
        shipped = {"demo", "ptb-small", "yelp-short", "yelp-short-pytorch-init", "he2019", "bowman2016"}
        assert shipped <= set(builtin_suites())
        assert not [row for row in rows if row["description"].startswith("broken")]

    def test_demo_runs_every_built_in_remedy_and_the_posterior_mean_cells(self):
        suite = load_suite("demo")
        names = {registry.parse(cell.config.remedy).name for cell in suite.cells}
        assert names == set(registry.BUILTIN_MODULES)
        scalar = [cell for cell in suite.cells if cell.config.model.nz == 1]
        assert {registry.parse(cell.config.remedy).name for cell in scalar} == {"none", "aggressive"}
        assert all(cell.config.data.synthetic_nz == 1 and cell.config.train.snapshot_every for cell in scalar)
        assert {cell.config.data.synthetic_size for cell in scalar} == {2000}  # the extra's size wins
        schedules = [cell for cell in suite.cells if cell.config.model.init == "pytorch"]
        assert {registry.parse(cell.config.remedy).name for cell in schedules} == {
            "none", "kl-annealing", "cyclical", "word-dropout", "vmf"}
        lag = [cell for cell in suite.cells if cell.config.train.gap_sentences]
        assert {registry.parse(cell.config.remedy).name for cell in lag} == {"none", "aggressive"}
        assert len(lag) == 2 * 3 and {cell.config.train.gap_sentences for cell in lag} == {100}
        assert len(suite.cells) == 17 * 3 + 2 + 5 * 3 + 2 * 3

    def test_every_grid_of_a_built_in_suite_has_a_label_that_leaves_run_ids_alone(self):
        for name in builtin_suites():
            path = SUITES_DIR / f"{name}.toml"
            _, _, grids = _parse(_read(path, _where(path)), name, name, SUITES_DIR)
            assert all(grid.label for grid in grids), name
            unlabelled = [dataclasses.replace(grid, label=None) for grid in grids]
            ids = [cfg.run_id() for cfg, _ in _expand(grids, {}, name, SUITES_DIR)]
            assert ids == [cfg.run_id() for cfg, _ in _expand(unlabelled, {}, name, SUITES_DIR)]

    def test_list_suites(self):
        result = invoke("list", "suites")
        assert result.exit_code == 0
        for name in builtin_suites():
            assert name in result.output
        rows = json.loads(invoke("list", "suites", "--json").output)
        assert next(row for row in rows if row["name"] == "demo")["cells"] == 74


TOP = 'remedies = ["none"]'


@pytest.mark.parametrize(
    ("top", "tables", "message"),
    [
        ('remedie = ["none"]', "", "unknown key 'remedie'. Did you mean 'remedies'"),
        (TOP, "[trian]\nepochs = 1", "unknown key 'trian'. Did you mean 'train'"),
        (TOP, "[[extra]]\nseed = [1]", "extra[0]: unknown key 'seed'. Did you mean 'seeds'"),
        (TOP, "[[extra]]\ntrain.epoch = 1", "unknown setting 'train.epoch'. Did you mean 'train.epochs'"),
        ('remedies = [{ spec = "none", model.nzz = 3 }]', "", "remedies[0]: unknown setting 'model.nzz'"),
        (TOP, '[model]\nnz = "two"', "model.nz: expected int, got 'two'"),
        (TOP, "[model]\nnz = 0", "model.nz must be >= 1"),
        ('remedies = ["none", "cyclcal"]', "", "remedies[1]: unknown remedy 'cyclcal'. Did you mean"),
        ('remedies = ["word-dropout(keep=2)"]', "", "keep"),
        ('remedies = ["none"]\nseeds = []', "", "seeds must be a non-empty list"),
        ('remedies = "none"', "", "'remedies' must be a non-empty list"),
        ('name = "a/b"\nremedies = ["none"]', "", "name must be letters"),
        (TOP, "[train\nepochs = 1", "bad TOML"),
        ("label = 3\n" + TOP, "", "label must be a non-empty string"),
        (TOP, '[[extra]]\nlabel = " "', "extra[0]: label must be a non-empty string"),
    ],
)
def test_bad_suite_is_one_line_exit_2_and_writes_nothing(write_suite, tmp_path, top, tables, message):
    path = write_suite(top, tables)
    if top.startswith("name"):
        path.write_text(path.read_text().replace('name = "tiny"\n', "", 1))
    out = tmp_path / "results"
    result = invoke("run", str(path), "--out", str(out), "--backend", "sequential")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert path.name in result.output  # where
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_unknown_dataset_is_named_with_a_suggestion(write_suite):
    path = write_suite(TOP)
    path.write_text(path.read_text().replace('name = "synthetic"', 'name = "synthtic"'))
    with pytest.raises(ConfigError, match=r"datasets\[0\]: unknown dataset 'synthtic'\. Did you mean 'synth"):
        load_suite(path)


def test_a_dataset_that_does_not_load_stops_the_suite_before_it_starts(write_suite, tmp_path):
    path = write_suite('remedies = ["none"]\ndatasets = ["ptb-small"]')
    path.write_text(path.read_text().replace(TINY_DATA, ""))
    empty = tmp_path / "data"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"tiny.toml, dataset 'ptb-small': .*ptb"):
        load_suite(path, data_dir=str(empty))


def test_non_utf8_file_names_the_line(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes(b'name = "x"\n# caf\xe9\nremedies = ["none"]\n')
    with pytest.raises(ConfigError, match="line 2 is not UTF-8"):
        load_suite(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dmo"], "unknown suite 'dmo'. Did you mean 'demo'"),
        (["missing.toml"], "suite file missing.toml not found"),
        (["demo", "--set", "train.epoch=3"], "--set: unknown setting 'train.epoch'"),
        (["demo", "--backend", "loky", "--scheduler-address", "tcp://x:1"], "needs --backend dask"),
    ],
)
def test_bad_command_line_is_exit_2(tmp_path, args, message):
    out = tmp_path / "results"
    result = invoke("run", *args, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()
