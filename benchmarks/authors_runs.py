"""Running an authors' script from outside its files, and reading two that read their own data files.

benchmarks/side_by_side.py starts every authors' script through `launch`
(benchmarks/authors_launch.py in the child). He et al.'s and Li et al.'s
scripts read a config module that side_by_side.py writes; Fu et al.'s
language-model script (haofuml/cyclical_annealing) and timbmg/Sentence-VAE
read data files of their own. For those two, the adapters here write the
files from the sentences and vocabulary the harness loads for ptb-small
(length cap, `--train-limit`, words outside the training vocabulary as
`<unk>`), so both sides train and score the same sentences, run the script,
and read the per-epoch validation and test KL and negative ELBO it prints.
Neither prints MI or active units.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.data.datasets import load_corpus
from bench.data.vocab import SPECIALS, UNK
from bench.settings import DataConfig

LAUNCH = Path(__file__).with_name("authors_launch.py")
NUMBER = r"([-\d.e+]+)"
Row = dict[str, float]


def launch(repo: Path, argv: Sequence[str], *, patches: Sequence[str] = (), stubs: Sequence[str] = (),
           seed: int | None = None, stop: Callable[[list[str]], bool] | None = None) -> Iterator[str]:
    """Yield the output lines of `argv` (a script and its arguments, run in `repo` on one CPU thread);
    kill it once `stop(lines so far)` holds. Any other failure raises with the output's tail."""
    options = [*(f"--patch={name}" for name in patches), *(f"--stub={name}" for name in stubs),
               *([f"--seed={seed}"] if seed is not None else [])]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"}
    with subprocess.Popen([sys.executable, "-u", str(LAUNCH), *options, *argv], cwd=repo, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            yield line
            if stop is not None and stop(lines):
                proc.kill()
                break
        code = proc.wait()
        if code not in (0, -9):
            raise RuntimeError(f"{argv[0]} failed ({code}):\n{''.join(lines[-20:])}")


def harness_sentences(args: argparse.Namespace) -> tuple[list[str], dict[str, list[list[int]]]]:
    """ptb-small as the harness loads it at `--train-limit`: its vocabulary and each split's word ids."""
    corpus = load_corpus(DataConfig(name="ptb-small", train_limit=args.train_limit), args.data_dir)
    return corpus.vocab.itos, corpus.splits


def best_epoch_test(validation: list[Row], tests: list[Row]) -> Row:
    """The test row of the first epoch with the lowest validation loss: the checkpoint the harness (and Fu
    et al.'s script) keeps; Sentence-VAE saves every epoch and selects none."""
    if not validation or len(tests) != len(validation):
        raise ValueError(f"{len(validation)} validation and {len(tests)} test evaluations in the log")
    best = min(range(len(validation)), key=lambda epoch: validation[epoch]["loss"])
    return tests[best]


# ---------------------------------------------------------------- Fu et al. 2019 (haofuml/cyclical_annealing)

FU_SCRIPT = "language_model/train_text_cyc_ptb.py"
FU_EVAL = re.compile(rf"VAE NLL: {NUMBER}, VAE REC: {NUMBER}, VAE KL: {NUMBER}")
FU_BATCHES = re.compile(r"Train data: (\d+) batches")


def fu_data(folder: Path, args: argparse.Namespace, seed: int) -> dict[str, Path]:
    """Their hdf5 batches (as .npz: authors_launch.py's h5py stand-in) made by their own preprocess_text.py
    from the harness's sentences, at `--batch`: one length a batch, their batch order shuffled per epoch."""
    itos, splits = harness_sentences(args)
    folder.mkdir()
    for split, sentences in splits.items():
        text = "".join(" ".join(itos[i] for i in sentence) + "\n" for sentence in sentences)
        (folder / f"{split}.txt").write_text(text, encoding="utf-8")
    argv = ["preprocess_text.py", "--trainfile", str(folder / "train.txt"), "--valfile",
            str(folder / "valid.txt"), "--testfile", str(folder / "test.txt"),
            "--batchsize", str(args.batch), "--outputfile", str(folder / "ptb")]
    list(launch(folder.parent, argv, patches=("h5py-npz",), seed=seed))  # it shuffles within a length
    return {name: folder / f"ptb-{name}.hdf5" for name in ("train", "val", "test")}  # --{name}_file


def run_fu(repo: Path, authors_args: Sequence[str], seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One seed of their language-model script at the asked sizes; it stops after `--epochs` by itself."""
    folder = repo / "language_model"
    data = fu_data(folder / "cbside", args, seed)
    sizes = [f"--{part}" for part in ("enc_word_dim", "enc_h_dim", "dec_word_dim", "dec_h_dim")]
    argv = ["train_text_cyc_ptb.py", *(item for split, path in data.items()
                                       for item in (f"--{split}_file", str(path))),
            "--latent_dim", str(args.nz), *(item for flag in sizes for item in (flag, str(args.hidden))),
            "--num_epochs", str(args.epochs), "--seed", str(seed), "--slurm", "1",
            "--checkpoint_dir", str(repo / "exp"), "--log_dir", str(repo / "log"), *authors_args]
    return parse_fu(list(launch(folder, argv, patches=("cuda-calls", "pytorch-0.3", "h5py-npz"), seed=seed)))


def parse_fu(lines: list[str]) -> dict[str, Any]:
    """Each epoch's validation and test evaluation (`VAE NLL` is rec + KL per sentence, one z sample, in
    evaluation mode), the test at the best validation epoch, and their batches an epoch."""
    evaluations: dict[str, list[Row]] = {"validation": [], "test": []}
    mode, steps = None, None
    for line in lines:
        if "Checking validation perf" in line:
            mode = "validation"
        elif "Checking test perf" in line:
            mode = "test"
        elif (match := FU_BATCHES.search(line)) is not None:
            steps = int(match.group(1))
        elif (match := FU_EVAL.search(line)) is not None and mode is not None:
            nll, rec, kl = map(float, match.groups())
            evaluations[mode].append({"loss": nll, "kl": kl, "rec": rec})
            mode = None
    validation = evaluations["validation"]
    return {"validation": validation, "test": best_epoch_test(validation, evaluations["test"]),
            "steps_per_epoch": steps}


# ---------------------------------------------------------------- timbmg/Sentence-VAE (Bowman et al. 2016)

SENTENCE_VAE_SCRIPT = "train.py"
SENTENCE_VAE_BATCH = re.compile(rf"^(TRAIN|VALID|TEST) Batch (\d+)/(\d+), Loss +{NUMBER}, "
                                rf"NLL-Loss +{NUMBER}, KL-Loss +{NUMBER}, KL-Weight +{NUMBER}")
SENTENCE_VAE_EPOCH = re.compile(r"^(TRAIN|VALID|TEST) Epoch (\d+)/(\d+), Mean ELBO")
THEIR_SPECIALS = ("<pad>", "<unk>", "<sos>", "<eos>")  # ids 0-3 of ptb.py's vocabulary


def write_sentence_vae_data(folder: Path, itos: list[str], splits: dict[str, list[list[int]]]) -> int:
    """ptb.{train,valid,test}.json and ptb.vocab.json as their ptb.py writes them, from the harness's
    words and vocabulary (their own tokenizer, nltk's TweetTokenizer, splits `'s` and would make other
    sentences); returns the padded length, one more than the longest sentence (its `<sos>` or `<eos>`)."""
    words = itos[len(SPECIALS):]  # the harness's ids past its specials keep their number in theirs
    w2i = {word: i for i, word in enumerate([*THEIR_SPECIALS, *words])}
    folder.mkdir()
    i2w = {str(i): word for word, i in w2i.items()}
    (folder / "ptb.vocab.json").write_text(json.dumps({"w2i": w2i, "i2w": i2w}))
    length = 1 + max(len(sentence) for sentences in splits.values() for sentence in sentences)
    pad, unk, sos, eos = (w2i[special] for special in THEIR_SPECIALS)
    for split, sentences in splits.items():
        data = {}
        for n, sentence in enumerate(sentences):
            ids = [unk if i == UNK else i for i in sentence]
            padding = [pad] * (length - len(ids) - 1)
            data[str(n)] = {"input": [sos, *ids, *padding], "target": [*ids, eos, *padding],
                            "length": len(ids) + 1}
        (folder / f"ptb.{split}.json").write_text(json.dumps(data))
    return length


def run_sentence_vae(repo: Path, authors_args: Sequence[str], seed: int,
                     args: argparse.Namespace) -> dict[str, Any]:
    """One seed of their train.py at the asked sizes, seeded from outside (it seeds nothing itself)."""
    itos, splits = harness_sentences(args)
    length = write_sentence_vae_data(repo / "cbside", itos, splits)
    argv = [SENTENCE_VAE_SCRIPT, "--data_dir", str(repo / "cbside"), "--max_sequence_length", str(length),
            "--test", "--epochs", str(args.epochs), "--batch_size", str(args.batch),
            "--embedding_size", str(args.hidden), "--hidden_size", str(args.hidden),
            "--latent_size", str(args.nz), "--print_every", "1", "--save_model_path", str(repo / "bin"),
            *authors_args]
    lines = list(launch(repo, argv, patches=("no-loader-workers", "eval-words-kept"),
                        stubs=("nltk.tokenize", "tensorboardX"), seed=seed))
    return parse_sentence_vae(lines, {"VALID": len(splits["valid"]), "TEST": len(splits["test"])}, args.batch)


def parse_sentence_vae(lines: list[str], sentences: dict[str, int], batch: int) -> dict[str, Any]:
    """Per-epoch validation and test rec, KL and rec + KL per sentence from their per-batch lines (printed
    at --print_every 1: per-sentence means of one batch, every batch full but the split's last), the test
    at the best validation epoch, and their batches an epoch."""
    evaluations: dict[str, list[Row]] = {"VALID": [], "TEST": []}
    pending: list[tuple[float, float]] = []
    steps = None
    for line in lines:
        if (match := SENTENCE_VAE_BATCH.match(line)) is not None:
            split, _, last = match.group(1), match.group(2), int(match.group(3))
            if split == "TRAIN":
                steps = last + 1
            else:
                pending.append((float(match.group(5)), float(match.group(6))))
        elif (match := SENTENCE_VAE_EPOCH.match(line)) is not None and match.group(1) in evaluations:
            evaluations[match.group(1)].append(epoch_means(pending, sentences[match.group(1)], batch))
            pending = []
    validation = evaluations["VALID"]
    return {"validation": validation, "test": best_epoch_test(validation, evaluations["TEST"]),
            "steps_per_epoch": steps}


def epoch_means(batches: list[tuple[float, float]], sentences: int, batch: int) -> Row:
    """Per-sentence rec and KL over a split from its batches' per-sentence means (their DataLoader's
    batches, unshuffled: all `batch` sentences but the last)."""
    if len(batches) != math.ceil(sentences / batch):
        raise ValueError(f"{len(batches)} batches in the log for {sentences} sentences in batches of {batch}")
    weights = [batch] * (len(batches) - 1) + [sentences - batch * (len(batches) - 1)]
    rec = sum(w * nll for w, (nll, _) in zip(weights, batches, strict=True)) / sentences
    kl = sum(w * kl for w, (_, kl) in zip(weights, batches, strict=True)) / sentences
    return {"loss": rec + kl, "kl": kl, "rec": rec}


ADAPTERS: dict[str, Callable[[Path, Sequence[str], int, argparse.Namespace], dict[str, Any]]] = {
    FU_SCRIPT: run_fu,
    SENTENCE_VAE_SCRIPT: run_sentence_vae,
}
