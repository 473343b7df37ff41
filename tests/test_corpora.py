"""Corpora beyond the built-ins: your own files, Hugging Face datasets, corpus plugins.

Everything here runs on small generated text under `tmp_path` and the
fixtures; the Hugging Face tests read datasets saved to `tmp_path` with
`save_to_disk`, never the network.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_distribution

from bench import store
from bench.cli import cli
from bench.config import DataConfig, build_config
from bench.data import find_dataset, labelled_datasets, load_corpus
from bench.data.builtin import BUILTIN
from bench.data.corpus import Text, complete_splits
from bench.data.spec import PTB_SIZES
from bench.errors import ConfigError
from bench.report import build_report
from bench.suite import load_suite

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "collapse-bench-example-plugin"
TINY = {"train.epochs": 1, "model.nz": 2, "model.emb": 8, "model.enc_hidden": 8, "model.dec_hidden": 8,
        "train.batch_size": 16, "eval.iw_samples": 2, "train.diag_every": 0, "train.threads": 1}
TINY_ARGS = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")] + ["--quiet"]
WORDS = ["the", "food", "was", "service", "staff", "very", "today", "coffee", "here", "and"]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def lines(n: int, seed: int, labelled: bool = False) -> list[str]:
    """`n` short sentences; labelled: `label<TAB>text` with a word that decides the label."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        label = rng.randrange(2)
        words = " ".join([*rng.sample(WORDS, 3), ("bad", "good")[label]])
        out.append(f"{label}\t{words}" if labelled else words)
    return out


def write(path: Path, content: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(content) + "\n")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A corpus folder: train.txt (60), valid.txt (10), test.txt (10)."""
    for seed, (split, n) in enumerate((("train", 60), ("valid", 10), ("test", 10))):
        write(tmp_path / "corpus" / f"{split}.txt", lines(n, seed))
    return tmp_path / "corpus"


def sizes(corpus) -> dict[str, int]:
    return {split: len(ids) for split, ids in corpus.splits.items()}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ finding


class TestFinding:
    def test_a_folder_records_its_files_their_sha256_and_trains_at_ptb_sizes(self, folder):
        cfg = build_config(str(folder), "none", 0, {})
        files = {split: folder / f"{split}.txt" for split in ("train", "valid", "test")}
        assert cfg.dataset == str(folder)
        assert cfg.data.name == ",".join(f"{split}={path}" for split, path in files.items())
        assert cfg.data.sha256 == {split: sha256(path) for split, path in files.items()}
        assert not cfg.data.labelled
        sizes = (cfg.model.nz, cfg.model.emb, cfg.model.dec_hidden, cfg.train.batch_size, cfg.train.epochs)
        assert sizes == (PTB_SIZES.nz, PTB_SIZES.emb, PTB_SIZES.dec_hidden, PTB_SIZES.batch_size,
                         PTB_SIZES.epochs)

    def test_a_folder_takes_he_et_al_names_and_dev_for_valid(self, tmp_path):
        for name in ("ptb.train.txt", "dev.txt", "ptb.test.txt"):
            write(tmp_path / "ptb" / name, lines(20, 0))
        cfg = build_config("./ptb", "none", 0, {}, base=tmp_path)
        assert cfg.data.name == (f"train={tmp_path}/ptb/ptb.train.txt,valid={tmp_path}/ptb/dev.txt,"
                                 f"test={tmp_path}/ptb/ptb.test.txt")

    def test_relative_paths_start_at_base_and_the_same_content_keeps_the_run_id(self, folder):
        by_base = build_config("corpus", "none", 0, {}, base=folder.parent)
        assert by_base.data.name == build_config(str(folder), "none", 0, {}).data.name
        assert by_base.run_id() == build_config("corpus", "none", 0, {}, base=folder.parent).run_id()

    def test_a_changed_file_is_a_new_run_id_and_the_old_run_refuses_it(self, folder):
        before = build_config(str(folder), "none", 0, {})
        write(folder / "test.txt", lines(10, 99))
        after = build_config(str(folder), "none", 0, {})
        assert after.run_id() != before.run_id()
        assert after.data.sha256["test"] != before.data.sha256["test"]
        with pytest.raises(ConfigError, match=r"test\.txt changed since the run was configured"):
            load_corpus(before.data)

    def test_a_registered_name_wins_over_a_folder_of_the_same_name(self, tmp_path):
        write(tmp_path / "synthetic" / "train.txt", lines(20, 0))
        assert find_dataset("synthetic", tmp_path) is BUILTIN["synthetic"]
        assert find_dataset("./synthetic", tmp_path).description.startswith("your corpus")

    @pytest.mark.parametrize(
        ("reference", "message"),
        [
            ("my/corpus.txt", r"dataset 'my/corpus.txt': no such file or folder"),
            ("empty", r"empty has no train file: expected train\.txt"),
            ("twice", r"2 files for the train split \(a\.train\.txt, train\.txt\)"),
            ("train=a.txt,dev=b.txt", r"expected train=PATH,valid=PATH,test=PATH, got 'dev=b.txt'"),
            ("valid=a.txt", "no train file; give train=PATH"),
            ("train=a.txt,train=a.txt", "train is given twice"),
            ("train=a.txt,test=missing.txt", r"data file not found: .*missing\.txt"),
            ("synthetc", "Did you mean 'synthetic'"),
        ],
    )
    def test_what_cannot_be_a_corpus_is_one_line_naming_it(self, tmp_path, reference, message):
        write(tmp_path / "a.txt", lines(20, 0))
        (tmp_path / "empty").mkdir()
        write(tmp_path / "twice" / "train.txt", lines(5, 0))
        write(tmp_path / "twice" / "a.train.txt", lines(5, 0))
        with pytest.raises(ConfigError, match=message):
            build_config(reference, "none", 0, {}, base=tmp_path)

    def test_recorded_data_settings_cannot_be_set(self, folder):
        with pytest.raises(ConfigError, match=r"data\.sha256 is recorded from the dataset's files"):
            build_config(str(folder), "none", 0, {"data.sha256": "x"})


# ------------------------------------------------------------------ reading


class TestReading:
    def test_a_single_labelled_file_gets_the_yelp_short_split(self, tmp_path):
        """The same sentences as yelp-short's two files (file 0 then file 1), as one label<TAB>text file."""
        (tmp_path / "yelp").mkdir()
        labelled = []
        for label in (0, 1):
            shutil.copy(FIXTURES / f"sentiment.dev.{label}", tmp_path / "yelp")
            text = (FIXTURES / f"sentiment.dev.{label}").read_text()
            labelled += [f"{label}\t{line}" for line in text.splitlines()]
        single = write(tmp_path / "reviews.tsv", labelled)
        for seed in (0, 1):
            yours = load_corpus(build_config(str(single), "none", 0, {"data.split_seed": seed}).data)
            theirs = load_corpus(DataConfig(name="yelp-short", split_seed=seed), data_dir=str(tmp_path))
            assert yours.splits == theirs.splits and yours.labels == theirs.labels
            assert yours.vocab.itos == theirs.vocab.itos
        assert build_config(str(single), "none", 0, {}).data.labelled

    def test_a_missing_test_split_is_the_last_tenth_of_the_shuffled_train(self, folder):
        cfg = build_config(f"train={folder}/train.txt,valid={folder}/valid.txt", "none", 0, {})
        corpus = load_corpus(cfg.data)
        assert sizes(corpus) == {"train": 54, "valid": 10, "test": 6}
        assert corpus.source["split"].startswith("test cut from train: torch.randperm(generator seed 0")
        assert "valid_sha256" in corpus.source and "test_sha256" not in corpus.source

    def test_labels_must_run_through_every_file(self, tmp_path):
        write(tmp_path / "c" / "train.txt", lines(20, 0, labelled=True))
        write(tmp_path / "c" / "test.txt", lines(5, 1))
        cfg = build_config(str(tmp_path / "c"), "none", 0, {})
        with pytest.raises(ConfigError, match=r"test\.txt: line 1 has no TAB; expected 'label<TAB>text'"):
            load_corpus(cfg.data)

    def test_nothing_left_after_the_length_cap_says_the_shortest(self, folder):
        with pytest.raises(ConfigError, match=r"no train sentence has at most data\.max_len=2 words"):
            load_corpus(build_config(str(folder), "none", 0, {"data.max_len": 2}).data)


# ------------------------------------------------------------ the command line


def test_train_on_a_folder_records_which_files_it_read(folder, tmp_path):
    result = invoke("train", "--dataset", str(folder), "--out", str(tmp_path / "out"), *TINY_ARGS)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "out" / "train" / "runs").iterdir()
    config = json.loads((run / store.CONFIG).read_text())
    assert config["dataset"] == str(folder)
    assert config["data"]["sha256"]["train"] == sha256(folder / "train.txt")
    data = json.loads((run / store.METRICS).read_text())["data"]
    assert data["train_path"] == str(folder / "train.txt")


def test_a_file_that_is_not_utf8_exits_2_naming_the_line_and_writes_nothing(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"good line\n\xff bad line\n")
    result = invoke("train", "--dataset", str(tmp_path / "bad.txt"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path}/bad.txt: line 2 is not valid UTF-8 (byte 0xff at column 1); re-encode the file "
        "as UTF-8"]
    assert not (tmp_path / "out").exists()


def test_a_suite_reads_corpus_paths_from_its_own_folder(folder, tmp_path, monkeypatch):
    suite = tmp_path / "suites" / "mine.toml"
    suite.parent.mkdir()
    suite.write_text('datasets = ["../corpus"]\nremedies = ["none"]\n')
    monkeypatch.chdir(tmp_path / "suites")
    (cell,) = load_suite(suite).cells
    assert cell.config.dataset == "../corpus"
    assert cell.config.data.name.startswith(f"train={folder}/train.txt,")
    assert cell.sentences == {"train": 60, "valid": 10, "test": 10}


def test_the_probe_reads_the_labels_of_a_corpus_of_your_own(tmp_path):
    pytest.importorskip("sklearn")
    corpus = write(tmp_path / "reviews.tsv", lines(100, 0, labelled=True))
    out = tmp_path / "out"
    assert invoke("train", "--dataset", str(corpus), "--out", str(out), *TINY_ARGS).exit_code == 0
    result = invoke("probe", str(out / "train"), "--quiet")
    assert result.exit_code == 0, result.output
    assert "probed 1 of 1 labelled runs" in result.output
    (probe,) = (out / "train" / "runs").glob("*/probe.json")
    assert json.loads(probe.read_text())["bow_accuracy"] == 1.0  # one word decides the label


def test_list_datasets_shows_sizes_and_the_forms_of_your_own(monkeypatch):
    result = invoke("list", "datasets")
    assert result.exit_code == 0
    assert "sizes: nz 2, emb 50, hidden 50/50, batch 16, epochs 50" in result.output
    own = result.output.split("Your own corpus")[1]
    assert "sizes: nz 32, emb 256, hidden 256/256, batch 32, epochs 100" in own
    assert "train=PATH,valid=PATH,test=PATH" in own and "hf:NAME[:CONFIG]" in own
    rows = json.loads(invoke("list", "datasets", "--json").output)
    assert rows[0]["sizes"] == {"nz": 2, "emb": 50, "enc_hidden": 50, "dec_hidden": 50, "batch_size": 16,
                                "epochs": 50}


# --------------------------------------------------------------- plugins


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The example package as if pip-installed, plus two broken corpus plugins; nothing leaves the test."""
    pyproject = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    site = tmp_path / "site"
    write_distribution(site, pyproject["project"]["name"], pyproject["project"]["entry-points"])
    (site / "cb_broken_corpus.py").write_text('NOT_A_SPEC = "text"\n')
    (site / "cb_failing_corpus.py").write_text('raise ImportError("needs a licence file")\n')
    write_distribution(site, "cb-broken-corpus", {"collapse_bench.datasets": {
        "not-a-spec": "cb_broken_corpus:NOT_A_SPEC", "failing": "cb_failing_corpus:SPEC"}})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    yield
    for module in ("collapse_bench_example_plugin", "collapse_bench_example_plugin.counting",
                   "cb_broken_corpus", "cb_failing_corpus"):
        sys.modules.pop(module, None)


@pytest.mark.usefixtures("installed")
class TestPlugins:
    def test_a_plugin_corpus_is_listed_with_its_sizes_labels_and_package(self):
        result = invoke("list", "datasets")
        assert result.exit_code == 0
        listed = result.output.splitlines()
        row = next(i for i, line in enumerate(listed) if line.startswith("counting "))
        assert "number words counting up or down" in listed[row]
        sizes = "sizes: nz 8, emb 32, hidden 64/64, batch 32, epochs 20; labelled"
        assert listed[row + 2].strip() == f"{sizes}; plugin: collapse_bench_example_plugin.counting:COUNTING"
        assert "counting" in labelled_datasets()

    def test_broken_plugins_are_listed_as_broken_and_fail_only_when_named(self, tmp_path):
        output = invoke("list", "datasets").output
        assert "failing" in output and "ImportError: needs a licence file" in output
        assert "is a str, not a bench.data.spec.DatasetSpec" in output
        result = invoke("train", "--dataset", "failing", "--out", str(tmp_path / "out"))
        assert result.exit_code == 2
        assert "dataset plugin 'failing' (cb_failing_corpus:SPEC) failed to load" in result.output
        assert not (tmp_path / "out").exists()
        assert invoke("train", "--dataset", "synthetic", "--set", "data.synthetic_size=40",
                      "--out", str(tmp_path / "out"), *TINY_ARGS).exit_code == 0

    def test_a_plugin_corpus_trains_at_its_sizes_on_the_harness_split(self, tmp_path):
        cfg = build_config("counting", "none", 0, {})
        assert (cfg.model.nz, cfg.model.enc_hidden, cfg.train.epochs) == (8, 64, 20)
        corpus = load_corpus(cfg.data)
        assert sizes(corpus) == {
            "train": 1600, "valid": 200, "test": 200}
        assert corpus.source["origin"].startswith("counting: generated")
        result = invoke("train", "--dataset", "counting", "--set", "data.train_limit=100",
                        "--out", str(tmp_path / "out"), *TINY_ARGS)
        assert result.exit_code == 0, result.output


# ------------------------------------------------------------ Hugging Face


def test_hf_without_the_library_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # `import datasets` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'collapse-bench\[hf\]'"):
        find_dataset("hf:imdb")


class TestHuggingFace:
    @pytest.fixture
    def saved(self, tmp_path) -> Path:
        """A DatasetDict with train, validation and test, columns sentence and label, saved to disk."""
        datasets = pytest.importorskip("datasets")

        def split(n: int, seed: int):
            rows = [line.split("\t") for line in lines(n, seed, labelled=True)]
            return datasets.Dataset.from_dict({"sentence": [text for _, text in rows],
                                               "label": [int(label) for label, _ in rows]})

        datasets.DatasetDict({"train": split(60, 0), "validation": split(10, 1), "test": split(10, 2)}
                             ).save_to_disk(tmp_path / "saved")
        return tmp_path / "saved"

    def test_a_saved_dataset_reads_its_splits_labels_and_column(self, saved):
        cfg = build_config(f"hf:{saved}", "none", 0, {"data.text_column": "sentence"})
        assert cfg.data.name == f"hf:{saved}" and cfg.data.labelled
        assert set(cfg.data.sha256) == {"train", "valid", "test"}
        corpus = load_corpus(cfg.data)
        assert sizes(corpus) == {"train": 60, "valid": 10, "test": 10}
        assert corpus.source["splits"] == "train=train, valid=validation, test=test"
        first = lines(60, 0, labelled=True)[0].split("\t")
        assert corpus.vocab.decode(corpus.splits["train"][0]) == first[1].split()
        assert corpus.labels["train"][0] == int(first[0])

    def test_the_text_column_must_exist_and_labels_be_integers(self, saved):
        with pytest.raises(ConfigError, match=r"no column 'text' \(it has sentence, label\); choose one with "
                                              r"--set data.text_column=NAME"):
            build_config(f"hf:{saved}", "none", 0, {})
        text = {"data.text_column": "sentence"}
        with pytest.raises(ConfigError, match=r"column 'sentence' of split train holds str, not integer"):
            build_config(f"hf:{saved}", "none", 0, {**text, "data.label_column": "sentence"})
        unlabelled = build_config(f"hf:{saved}", "none", 0, {**text, "data.label_column": ""})
        assert not unlabelled.data.labelled and load_corpus(unlabelled.data).labels is None

    @pytest.mark.parametrize(("reference", "message"), [
        ("hf:", "hf: needs a dataset"), ("hf:./nowhere", r"hf:\./nowhere: no such folder")])
    def test_a_reference_to_nothing_is_one_line(self, tmp_path, reference, message):
        pytest.importorskip("datasets")
        with pytest.raises(ConfigError, match=message):
            find_dataset(reference, tmp_path)

    def test_one_split_is_cut_80_10_10_and_relative_paths_start_at_base(self, tmp_path):
        datasets = pytest.importorskip("datasets")
        datasets.Dataset.from_dict({"text": lines(100, 0)}).save_to_disk(tmp_path / "one")
        cfg = build_config("hf:one", "none", 0, {}, base=tmp_path)
        assert cfg.data.name == f"hf:{tmp_path}/one"
        corpus = load_corpus(cfg.data)
        assert sizes(corpus) == {"train": 80, "valid": 10, "test": 10}

    def test_train_from_the_command_line(self, saved, tmp_path):
        result = invoke("train", "--dataset", f"hf:{saved}", "--set", "data.text_column=sentence",
                        "--out", str(tmp_path / "out"), *TINY_ARGS)
        assert result.exit_code == 0, result.output
        (metrics,) = (tmp_path / "out").glob("train/runs/*/metrics.json")
        data = json.loads(metrics.read_text())["data"]
        assert data["origin"] == f"Hugging Face datasets: hf:{saved}"
        assert data["columns"] == "text sentence, label label"


def test_the_report_says_which_data_each_row_group_read(folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    digests = []
    for seed in (99, 98):  # the test file changes between the two runs: two runs, two row groups
        write(folder / "test.txt", lines(10, seed))
        digests.append(sha256(folder / "test.txt")[:12])
        result = invoke("train", "--dataset", "corpus", "--out", str(out), *TINY_ARGS)
        assert result.exit_code == 0, result.output
    text = (build_report(out / "train", tmp_path / "report").out / "report.md").read_text()
    data = text.split("## Data")[1].split("## Summary")[0]
    rows = [line for line in data.splitlines() if line.startswith("| corpus")]
    assert len(rows) == 2
    for row, digest in zip(sorted(rows, key=lambda row: digests[0] not in row), digests, strict=True):
        assert f"your corpus; train {folder}/train.txt (sha256 {sha256(folder / 'train.txt')[:12]})" in row
        assert f"test {folder}/test.txt (sha256 {digest})" in row


def test_a_reader_must_name_its_splits_as_the_harness_does():
    with pytest.raises(ConfigError, match="optionally valid and test, got train, dev"):
        complete_splits(Text({"train": [["a"]], "dev": [["b"]]}), seed=0)
