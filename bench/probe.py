"""What z knows: a sentiment probe on the posterior means of a stored run.

KL, MI and AU say how much z carries about a sentence, not what. The probe
asks for one thing a reader cares about: a logistic regression reads the
label (sentiment on yelp-short) off the posterior mean E_q[z|x], trained on
the run's own training sentences (the same `data.train_limit`) and scored on
its evaluation split. Two references make the number readable: the same
classifier on bag-of-words features of the same sentences (what the words
give a linear model) and the majority class (what knowing nothing gives).

The main number is balanced accuracy (the mean over labels of the share of
that label's sentences predicted right): about 62% of yelp-short's sentences
carry one label, so plain accuracy puts a z that knows nothing at 0.62, while
balanced accuracy puts it at 1 / number of labels (0.5) whatever the balance.
Plain accuracy is kept beside it.

The means enter in the prior's units, not standardised: a unit whose means
vary by 1e-3 while each posterior spreads over ~1 carries nothing the decoder
can hear, and the L2-regularised classifier cannot lean on it either. So a
collapsed z scores chance, and a z that encodes the label scores above it.
A second probe on whitened means (each unit standardised over the training
sentences) says what is linearly in the means at any scale: where it beats
the raw probe, the label sits in directions too faint for the decoder to use.

scikit-learn is an optional extra (`pip install 'collapse-bench[probe]'`).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import sparse

from bench import store
from bench.data.datasets import Corpus, cached_corpus, labelled_datasets
from bench.errors import ConfigError
from bench.evaluate import encode_all, split_batches
from bench.models import SentenceVAE
from bench.sampling import load_run
from bench.store import PROBE

MAX_ITER = 5000  # lbfgs iterations: far more than posterior means or binary features need
SEED = 0


def require_sklearn() -> str:
    """The installed scikit-learn version; a ConfigError naming the extra when it is missing."""
    try:
        import sklearn
    except ImportError:
        raise ConfigError(
            "the probe needs scikit-learn, which is not installed: pip install 'collapse-bench[probe]'"
        ) from None
    return sklearn.__version__


def posterior_means(model: SentenceVAE, sentences: list[list[int]]) -> np.ndarray:
    """E_q[z|x] of each sentence, in the given order, [N, nz] float64 (the mean, not a sample:
    a sample's noise would hide what the encoder knows)."""
    mu, _ = encode_all(model, split_batches(sentences), torch.device("cpu"))
    return mu.double().numpy()


def _logistic() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=MAX_ITER, random_state=SEED)


@dataclass(frozen=True)
class Scores:
    """A classifier's test scores: accuracy, and balanced accuracy (the mean of the per-label recalls,
    1 / number of labels for any constant answer, so a majority class of 62% does not read as skill)."""

    accuracy: float
    balanced: float


def scores(test_y: Sequence[int], predicted: Sequence[int]) -> Scores:
    """Accuracy and balanced accuracy over the labels the test sentences carry (sklearn's definition,
    written out so a test split with one label gives that label's recall instead of a warning)."""
    truth, guess = np.asarray(test_y), np.asarray(predicted)
    recalls = [float(np.mean(guess[truth == label] == label)) for label in np.unique(truth)]
    return Scores(float(np.mean(truth == guess)), float(np.mean(recalls)))


def probe_scores(train_x: Any, train_y: Sequence[int], test_x: Any, test_y: Sequence[int]) -> Scores:
    """Test scores of an L2 logistic regression on the features as given, fitted on the train pairs.

    The posterior means go in unstandardised, in the prior's units: rescaling
    would amplify the residual wobble of a collapsed encoder into a signal z
    does not carry (a sample of z would drown it in noise). `whitened` is the
    probe that does rescale, reported beside this one.
    """
    classifier = _logistic()
    classifier.fit(train_x, train_y)
    return scores(test_y, classifier.predict(test_x))


def whitened(train_x: np.ndarray, test_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets with each unit standardised by its mean and SD over the training sentences (a unit that
    never varies is only centred)."""
    mean, spread = train_x.mean(axis=0), train_x.std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    return (train_x - mean) / spread, (test_x - mean) / spread


def bag_of_words(sentences: list[list[int]], vocab_size: int) -> sparse.csr_matrix:
    """Binary word-presence features [N, vocab_size] over the vocabulary ids."""
    present = [sorted(set(sentence)) for sentence in sentences]
    rows = np.repeat(np.arange(len(present)), [len(ids) for ids in present])
    columns = np.fromiter((i for ids in present for i in ids), dtype=np.int64, count=len(rows))
    return sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(sentences), vocab_size))


def bow_scores(
    train: list[list[int]],
    train_y: Sequence[int],
    test: list[list[int]],
    test_y: Sequence[int],
    vocab_size: int,
) -> Scores:
    """Test scores of the same logistic regression on bag-of-words features: the words' own signal."""
    return probe_scores(bag_of_words(train, vocab_size), train_y, bag_of_words(test, vocab_size), test_y)


def chance_scores(train_y: Sequence[int], test_y: Sequence[int]) -> Scores:
    """Test scores of always answering the most frequent training label."""
    majority = Counter(train_y).most_common(1)[0][0]
    return scores(test_y, [majority] * len(test_y))


@dataclass(frozen=True)
class _Labelled:
    """A labelled corpus's two splits and the references on them, which every run of it shares."""

    train: list[list[int]]
    train_y: list[int]
    test: list[list[int]]
    test_y: list[int]
    vocab_size: int
    bow: Scores
    chance: Scores


@functools.lru_cache(maxsize=2)
def _labelled(corpus: Corpus, split: str) -> _Labelled:
    """A labelled corpus's splits and references, once per corpus (`cached_corpus` gives every run
    of one data config the same object)."""
    if corpus.labels is None:
        raise ConfigError(
            f"dataset '{corpus.name}' has no labels to probe for; the probe needs a labelled dataset: "
            + ", ".join(labelled_datasets()) + ", or a corpus of your own with label<TAB>text lines"
        )
    train, test = corpus.splits["train"], corpus.splits[split]
    train_y, test_y = corpus.labels["train"], corpus.labels[split]
    if len(set(train_y)) < 2:
        raise ConfigError(f"{corpus.name}: every training sentence has the same label; nothing to probe")
    bow = bow_scores(train, train_y, test, test_y, len(corpus.vocab))
    return _Labelled(train, train_y, test, test_y, len(corpus.vocab), bow, chance_scores(train_y, test_y))


def probe_run(run_dir: Path, data_dir: str | None = None) -> dict[str, Any]:
    """Probe the stored run `run_dir`, write `probe.json` into it atomically, and return its content."""
    version = require_sklearn()
    run_dir = Path(run_dir)
    run = load_run(run_dir, data_dir)
    cfg = run.cfg
    labelled = _labelled(cached_corpus(cfg.data, data_dir), cfg.eval.split)
    train_x, test_x = posterior_means(run.model, labelled.train), posterior_means(run.model, labelled.test)
    raw = probe_scores(train_x, labelled.train_y, test_x, labelled.test_y)
    white_train, white_test = whitened(train_x, test_x)
    white = probe_scores(white_train, labelled.train_y, white_test, labelled.test_y)
    result = {
        "run_id": run_dir.name,
        "dataset": cfg.dataset,
        "remedy": cfg.remedy,
        "seed": cfg.seed,
        "probe_balanced_accuracy": raw.balanced,
        "whitened_balanced_accuracy": white.balanced,
        "bow_balanced_accuracy": labelled.bow.balanced,
        "chance_balanced_accuracy": labelled.chance.balanced,
        "probe_accuracy": raw.accuracy,
        "whitened_accuracy": white.accuracy,
        "bow_accuracy": labelled.bow.accuracy,
        "chance_accuracy": labelled.chance.accuracy,
        "n_train": len(labelled.train),
        "n_test": len(labelled.test),
        "train_split": "train",
        "test_split": cfg.eval.split,
        "n_classes": len(set(labelled.train_y)),
        "score": "balanced accuracy (scikit-learn balanced_accuracy_score: the mean of the per-label "
        "recalls, 1 / number of labels for a constant answer) is the main number; accuracy beside it",
        "features": f"posterior mean E_q[z|x], {cfg.model.nz} dimensions, in prior units (not standardised)",
        "whitened_features": "the same means, each unit standardised by its mean and SD over the training "
        "sentences",
        "bow_features": f"binary word presence over the {labelled.vocab_size} vocabulary ids",
        "chance": "majority class of the train split",
        "classifier": f"scikit-learn {version} LogisticRegression (L2, C=1, lbfgs, max_iter={MAX_ITER}, "
        f"random_state={SEED})",
    }
    store.write_json(run_dir / PROBE, result)
    return result


def _has_labels(config: dict[str, Any], labelled_names: list[str]) -> bool:
    """A named dataset's spec says whether it has labels; a corpus of your own recorded it."""
    return config.get("dataset") in labelled_names or bool(config.get("data", {}).get("labelled"))


@dataclass
class Targets:
    """The runs of a suite folder the probe command would probe, and why the others are left."""

    todo: list[Path]
    runs: int  # run folders with a config.json
    labelled: int  # of those, runs of a labelled dataset
    done: int  # labelled runs that already have a probe.json that reads whole
    unfinished: int  # labelled runs without a finished model (running, failed, interrupted)
    damaged: list[str]  # one line per run skipped because a file of it does not read whole
    reprobe: list[str]  # one line per run whose probe.json does not read whole: it is probed again


def find_targets(results_dir: Path) -> Targets:
    """The finished, labelled, not yet probed runs under `results_dir`/runs; ConfigError when there is
    nothing a probe could ever apply to (no folder, no runs, no labelled runs)."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ConfigError(
            f"{results_dir} does not exist; give a suite folder such as results/yelp-short "
            "(the one holding runs/<run-id>/)"
        )
    folders = sorted(p for p in (results_dir / "runs").glob("*") if (p / store.CONFIG).is_file())
    if not folders:
        raise ConfigError(
            f"no runs under {results_dir / 'runs'}: give a suite folder such as results/yelp-short "
            "(the one holding runs/<run-id>/), after `collapse-bench run yelp-short`"
        )
    names = labelled_datasets()  # chosen from the config: the data of unlabelled runs is never loaded
    damaged: list[str] = []
    labelled = []
    for folder in folders:
        try:
            if _has_labels(store.read_json(folder / store.CONFIG), names):
                labelled.append(folder)
        except store.Damaged as exc:
            damaged.append(f"run {folder.name} skipped: {exc}")
    if not labelled:
        raise ConfigError(
            f"none of the {len(folders)} runs under {results_dir / 'runs'} uses a labelled dataset "
            f"({', '.join(names)}, or a corpus of your own with label<TAB>text lines); the probe "
            "predicts each sentence's label"
        )
    probes = {p: _probe_damage(p) for p in labelled if (p / PROBE).exists()}
    done = [p for p, why in probes.items() if why is None]
    status = {p: store.run_status(p) for p in labelled if p not in done}
    damaged += [f"run {p.name} skipped: {store.damage(p)}" for p, state in status.items()
                if state == store.DAMAGED]
    todo = [p for p, state in status.items() if state == "finished"]
    reprobe = [f"run {p.name} probed again: {probes[p]}" for p in todo if p in probes]
    unfinished = sum(state not in ("finished", store.DAMAGED) for state in status.values())
    return Targets(todo, len(folders), len(labelled), len(done), unfinished, damaged, reprobe)


def _probe_damage(folder: Path) -> str | None:
    """Why the run's probe.json cannot be trusted (cut short, corrupted), None when it reads whole."""
    try:
        store.read_json(folder / PROBE)
    except store.Damaged as exc:
        return str(exc)
    return None
