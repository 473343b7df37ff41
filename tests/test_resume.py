"""Interrupted work resumes: same metrics as an uninterrupted run, and nothing redone or lost."""

import signal
import subprocess
import sys

import pytest
import torch
from conftest import stop_in_epoch

from bench import store
from bench.single_run import CHECKPOINT, execute, plan_run
from bench.suite import load_suite


def test_a_run_interrupted_at_an_epoch_end_resumes_to_the_same_metrics(write_suite, tmp_path, monkeypatch):
    # Word dropout and annealing draw from the trainer's generator and schedule by step:
    # both must continue exactly where the checkpoint left them.
    path = write_suite('remedies = ["kl-annealing(epochs=2)+word-dropout(keep=0.5)"]',
                       tables="[[extra]]\ntrain.epochs = 3\ntrain.diag_every = 4")
    cell = load_suite(path).cells[-1]
    plan = plan_run(cell.run)
    whole = execute(plan, tmp_path / "whole", "tiny")

    resume_training = stop_in_epoch(monkeypatch, 2)  # as Ctrl-C: not recorded as a failure
    with pytest.raises(KeyboardInterrupt):
        execute(plan_run(cell.run), tmp_path / "cut", "tiny")
    folder = store.run_dir(tmp_path / "cut", "tiny", cell.run_id)
    assert (folder / CHECKPOINT).exists() and store.run_status(folder) is None
    assert store.load_torch(folder / CHECKPOINT)["epoch"] == 2
    resume_training()
    resumed = execute(plan_run(cell.run), tmp_path / "cut", "tiny")

    assert resumed["status"] == whole["status"] == "finished"
    assert resumed["test"] == whole["test"]
    assert resumed["validation"] == whole["validation"]
    assert not (folder / CHECKPOINT).exists()
    first = store.run_dir(tmp_path / "whole", "tiny", cell.run_id)
    assert store.read_table(folder, store.CURVE).equals(store.read_table(first, store.CURVE))
    weights = [store.load_torch(f / store.MODEL) for f in (first, folder)]
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


# `run`, killed (SIGKILL: no cleanup, as the OOM killer) when its cell number argv[1] (counted from 1)
# reaches epoch argv[2], after the checkpoint of the epoch before: a known point, whatever the speed.
KILLED_RUN = """
import os, signal, sys
from bench.cli import main
from bench.train import Trainer

victim, epoch = int(sys.argv[1]), int(sys.argv[2])
sys.argv[1:3] = []
trainers, init, run_epoch = [], Trainer.__init__, Trainer.run_epoch

def counted(self, *args, **kwargs):
    trainers.append(self)
    init(self, *args, **kwargs)

def dying(self, progress=None):
    if len(trainers) == victim and self.epoch == epoch:
        os.kill(os.getpid(), signal.SIGKILL)
    run_epoch(self, progress)

Trainer.__init__, Trainer.run_epoch = counted, dying
main()
"""


def test_a_suite_killed_mid_way_finishes_every_cell_exactly_once(write_suite, tmp_path):
    path = write_suite('remedies = ["none", "beta(beta=0.5)"]\nseeds = [0, 1]',
                       tables="[[extra]]\ntrain.epochs = 3")
    suite = load_suite(path)
    folders = [store.run_dir(tmp_path, "tiny", cell.run_id) for cell in suite.cells]
    arguments = ["run", str(path), "--out", str(tmp_path), "--backend", "sequential", "--quiet"]

    def finished():
        return [f for f in folders if store.run_status(f) == "finished"]

    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, "3", "2", *arguments], capture_output=True,
                            text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    finished_before = finished()
    assert len(finished_before) == 2
    (cut,) = [f for f in folders if (f / CHECKPOINT).exists()]
    assert store.run_status(cut) is None and store.load_torch(cut / CHECKPOINT)["epoch"] == 2
    before = {f: ((f / store.METRICS).stat().st_mtime_ns, (f / store.METRICS).read_bytes())
              for f in finished_before}

    rerun = subprocess.run([sys.executable, "-m", "bench.cli", *arguments], capture_output=True, text=True,
                           timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(folders)} finished ({len(folders) - 2} now, 2 already done)" in rerun.stdout
    assert all(store.run_status(f) == "finished" for f in folders), "no cell lost"
    assert store.read_json(cut / store.METRICS)["resumed_from_epoch"] == 2
    assert sorted((tmp_path / "tiny" / "runs").iterdir()) == sorted(folders), "no stray run folder"
    for folder, (mtime, content) in before.items():  # never redone
        assert (folder / store.METRICS).stat().st_mtime_ns == mtime
        assert (folder / store.METRICS).read_bytes() == content
    assert not [f for f in folders if (f / CHECKPOINT).exists()]
