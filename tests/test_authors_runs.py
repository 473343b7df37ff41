"""benchmarks/authors_runs.py and authors_launch.py without any authors' checkout: reading what Fu et al.'s
and Sentence-VAE's scripts print (fixtures in their formats), writing Sentence-VAE's data files, and
starting a script from outside its files."""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import benchmark_script

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def authors_runs() -> Iterator[ModuleType]:
    yield from benchmark_script("authors_runs")


@pytest.fixture(scope="module")
def authors_launch() -> Iterator[ModuleType]:
    yield from benchmark_script("authors_launch")


def test_fu_et_al_rows_per_epoch_and_the_test_of_the_best_validation_epoch(authors_runs: ModuleType) -> None:
    """Their `VAE NLL` is rec + KL; epoch 2's validation is worse, so the test kept is epoch 1's (their
    checkpoint), not the last one printed; the tabular dumps between are not read."""
    parsed = authors_runs.parse_fu((FIXTURES / "cyclical_ptb.log").read_text().splitlines())
    assert parsed["validation"] == [{"loss": 130.5, "kl": 0.2, "rec": 130.3},
                                    {"loss": 131.0, "kl": 1.5, "rec": 129.5}]
    assert parsed["test"] == {"loss": 130.4, "kl": 0.25, "rec": 130.15}
    assert parsed["steps_per_epoch"] == 91


def test_sentence_vae_epoch_means_weigh_the_short_last_batch(authors_runs: ModuleType) -> None:
    """10 sentences in batches of 4: the per-batch means count 4, 4 and 2 sentences; TRAIN rows are not
    evaluations, their count gives the steps an epoch."""
    parsed = authors_runs.parse_sentence_vae((FIXTURES / "sentence_vae.log").read_text().splitlines(),
                                             {"VALID": 10, "TEST": 10}, batch=4)
    first = parsed["validation"][0]
    assert (first["rec"], first["kl"]) == pytest.approx((138.8, 2.0))
    assert first["loss"] == pytest.approx(140.8)
    assert parsed["validation"][1] == pytest.approx({"loss": 150.0, "kl": 0.0, "rec": 150.0})
    assert parsed["test"] == pytest.approx({"loss": 141.8, "kl": 2.0, "rec": 139.8})  # epoch 1 is the best
    assert parsed["steps_per_epoch"] == 3


def test_a_log_whose_batches_do_not_cover_the_split_is_refused(authors_runs: ModuleType) -> None:
    """A truncated log (or another batch size) would otherwise weigh the batches wrongly."""
    with pytest.raises(ValueError, match="3 batches in the log for 13 sentences in batches of 4"):
        authors_runs.parse_sentence_vae((FIXTURES / "sentence_vae.log").read_text().splitlines(),
                                        {"VALID": 13, "TEST": 13}, batch=4)


def test_a_log_with_unequal_validation_and_test_counts_is_refused(authors_runs: ModuleType) -> None:
    lines = (FIXTURES / "cyclical_ptb.log").read_text().splitlines()
    with pytest.raises(ValueError, match="2 validation and 1 test"):
        authors_runs.parse_fu(lines[:-1])


def test_sentence_vae_data_holds_the_harness_sentences_in_their_format(
        authors_runs: ModuleType, tmp_path: Path) -> None:
    """Harness ids past the specials keep their number; the harness's <unk> (3) becomes theirs (1); inputs
    start with <sos>, targets end with <eos>, both padded to one more than the longest sentence."""
    itos = ["<pad>", "<s>", "</s>", "<unk>", "the", "cat"]
    splits = {"train": [[4, 5]], "valid": [[4, 3, 5]], "test": [[5]]}
    length = authors_runs.write_sentence_vae_data(tmp_path / "data", itos, splits)
    assert length == 4
    vocab = json.loads((tmp_path / "data" / "ptb.vocab.json").read_text())
    assert vocab["w2i"] == {"<pad>": 0, "<unk>": 1, "<sos>": 2, "<eos>": 3, "the": 4, "cat": 5}
    assert vocab["i2w"]["5"] == "cat"
    valid = json.loads((tmp_path / "data" / "ptb.valid.json").read_text())
    assert valid == {"0": {"input": [2, 4, 1, 5], "target": [4, 1, 5, 3], "length": 4}}
    test = json.loads((tmp_path / "data" / "ptb.test.json").read_text())
    assert test["0"] == {"input": [2, 5, 0, 0], "target": [5, 3, 0, 0], "length": 2}


def test_the_h5py_stand_in_reads_back_what_their_preprocessing_writes(
        authors_launch: ModuleType, tmp_path: Path) -> None:
    """Fu et al.'s preprocess_text.py assigns whole arrays and closes; data.py reads them by name."""
    path = str(tmp_path / "ptb-train.hdf5")
    written = authors_launch.NpzFile(path, "w")
    written["source"] = np.arange(6).reshape(2, 3)
    written["vocab_size"] = np.array([42])
    assert len(written["source"]) == 2
    written.close()
    read = authors_launch.NpzFile(path, "r")
    assert read["source"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert read["vocab_size"][0] == 42


def test_a_stub_imports_and_says_what_it_is_when_used(authors_launch: ModuleType) -> None:
    module = authors_launch.stub("tensorboardX")
    writer = module.SummaryWriter
    with pytest.raises(RuntimeError, match=r"tensorboardX\.SummaryWriter is a stub"):
        writer("logs")
    with pytest.raises(AttributeError):
        _ = module.__path__


def test_launch_runs_a_script_seeded_with_stubs_and_stops_it_when_asked(
        authors_runs: ModuleType, tmp_path: Path) -> None:
    """The script imports a package that is not installed (stubbed), a module of its own folder, and
    draws from torch: the same seed gives the same draw. A stop after the first line ends it early."""
    (tmp_path / "helper.py").write_text("VALUE = 'theirs'\n")
    (tmp_path / "script.py").write_text(textwrap.dedent("""
        import sys, time, torch
        from collapse_bench_absent.sub import Anything
        import helper
        print(helper.VALUE, sys.argv[1:], torch.rand(1).item(), flush=True)
        if "--wait" in sys.argv:
            time.sleep(60)
    """))
    def run(*extra: str) -> list[str]:
        return list(authors_runs.launch(tmp_path, ["script.py", *extra], stubs=("collapse_bench_absent.sub",),
                                        seed=3, stop=lambda lines: len(lines) == 1))
    first, again = run("--x"), run("--wait")
    assert first[0].split()[:2] == ["theirs", "['--x']"]
    assert first[0].split()[-1] == again[0].split()[-1]  # the same seed, the same draw
    assert not math.isnan(float(first[0].split()[-1]))


def test_a_failing_script_raises_with_its_output(authors_runs: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("print('before'); raise SystemExit(3)\n")
    with pytest.raises(RuntimeError, match=r"broken.py failed \(3\):\nbefore"):
        list(authors_runs.launch(tmp_path, ["broken.py"]))
