"""The sections of a run's config (data, model, train, eval): every setting, its default, its meaning.

They stand below `bench.config`, which assembles them into a `RunConfig`
and takes a dataset's defaults from `bench.data`: so `bench.data` reads its
section, `DataConfig`, from here without a circle. `bench.config` keeps
every name importable from it as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_AS_DEFAULT = object()  # `earlier` not given: runs stored before the setting existed had its default


def setting(default: Any, meaning: str, *, added: bool = False, earlier: Any = _AS_DEFAULT) -> Any:
    """A config field with its default and what it means: `collapse-bench config show` prints both,
    so the meaning is written once, here, beside the value it explains.

    `added`: a setting added after run ids were first stored. config.json and the run id hold it only
    where it differs from `earlier`, what those stored runs did (default: the setting's default), so
    they keep their run ids, and a config.json without it reads back as `earlier`. A new default that
    differs from `earlier` gives new runs new ids: they compute something else.
    """
    earlier = default if earlier is _AS_DEFAULT else earlier
    return field(default=default, metadata={"meaning": meaning, "added": added, "earlier": earlier})


@dataclass
class DataConfig:
    """Which corpus, and how it is cut into sentences and a vocabulary."""

    name: str = setting("synthetic", "the corpus read; set by --dataset (your own corpus: its files, "
                                     "train=PATH,...)")
    max_len: int = setting(100, "sentences with more tokens are dropped, not truncated")
    vocab_size: int = setting(20000, "cap on the vocabulary built from train, specials included")
    split_seed: int = setting(0, "seed of the shuffle for corpora without a fixed split (yelp-short, one "
                                 "file of your own) and "
                                 "of the eval.max_sentences subset")
    train_limit: int = setting(0, "keep the first N training sentences after the length cap (0: all)")
    synthetic_size: int = setting(20000, "synthetic: sentences in train+valid+test (split 80/10/10)")
    synthetic_nz: int = setting(2, "synthetic: latent size of the generator; 1 for the posterior-mean plot")
    synthetic_vocab: int = setting(1000, "synthetic: the generator's vocabulary size")
    synthetic_length: int = setting(10, "synthetic: tokens per generated sentence")
    text_column: str = setting("text", "hf: datasets: the column holding the sentences", added=True)
    label_column: str = setting("label", "hf: datasets: the column of integer labels, used when the dataset "
                                         "has it (empty: none)", added=True)
    sha256: dict[str, str] = field(default_factory=dict, metadata={  # a dict: `setting` takes immutables
        "meaning": "your own corpus: sha256 of each split's data as read; recorded from the files, so "
                   "changed data is a new run id", "added": True, "earlier": {}})
    labelled: bool = setting(False, "your own corpus: its sentences carry labels (label<TAB>text), the "
                                    "probe's target; recorded from the files", added=True)


# How the model's weights start: see bench/models/init.py for why it matters.
INIT_SCHEMES = ("reference", "pytorch", "pytorch-encoder")
BATCHING = ("padded", "by-length")  # how training sentences are cut into batches
PRECISIONS = ("fp32", "bf16")  # of training steps and of the final evaluation (autocast)
BN_SCALES = ("fixed", "rms")  # how the scale of BatchNorm on the encoder mean is kept (BN-VAE, DU-VAE)
POSTERIORS = ("gaussian", "vmf")  # the family of q(z|x) (bench/metrics.py, bench/vmf.py)


@dataclass
class ModelConfig:
    """Sizes of the sentence VAE (He et al. 2019 reference architecture)."""

    nz: int = setting(32, "latent size: units of z")
    emb: int = setting(256, "word embedding size, in the encoder and the decoder")
    enc_hidden: int = setting(256, "hidden size of the LSTM encoder")
    dec_hidden: int = setting(256, "hidden size of the LSTM decoder")
    dropout_in: float = setting(0.5, "embedding dropout on decoder inputs (not word dropout)")
    dropout_out: float = setting(0.5, "dropout on decoder outputs")
    decoder: str = setting("lstm", '"lstm" or "cnn" (dilated CNN, Yang et al. 2017)')
    cnn_dilations: tuple[int, ...] = setting((1, 2, 4), "dilation of each residual block of the CNN decoder")
    cnn_channels: int = setting(256, "channels of the CNN decoder")
    bn_gamma: float = setting(0.0, "> 0: BatchNorm on the encoder mean with this scale (BN-VAE; bn_scale)")
    # The posterior families of DU-VAE and delta-VAE (bench/models/posterior.py).
    bn_scale: str = setting("fixed", '"fixed": the BatchNorm scale stays at bn_gamma (BN-VAE); "rms": it '
                                     'learns, and each pass rescales it to root mean square bn_gamma over '
                                     'the units (DU-VAE)', added=True)
    var_floor: float = setting(0.0, "added to every posterior variance: e^logvar + floor (DU-VAE: alpha / "
                                    "(2 pi e), where a unit's entropy is 0)", added=True)
    var_dropout: float = setting(0.0, "training only: each posterior variance above var_floor is dropped "
                                      "with this rate, the kept ones scaled by 1 / (1 - rate) (DU-VAE)",
                                 added=True)
    var_gate: bool = setting(False, "var_floor and var_dropout act only while the training KL weight is 1 "
                                    "(DU-VAE's code: not during its warm-up, in training or validation)",
                             added=True)
    delta_kl: float = setting(0.0, "> 0: delta-VAE's posterior (Razavi et al. 2019): sigma bounded and mu "
                                   "set from it so that every unit's KL is >= this many nats", added=True)
    posterior: str = setting("gaussian", '"gaussian" (q(z|x) = N(mu, diag sigma^2), prior N(0, I)) or "vmf" '
                                         '(von Mises-Fisher on the unit sphere with fixed concentration '
                                         'vmf_kappa, prior uniform on it; Xu & Durrett 2018)', added=True)
    vmf_kappa: float = setting(80.0, "the vMF posterior's fixed concentration kappa (their code's PTB "
                                     "setting: 80); its KL to the uniform prior is a constant", added=True)
    vmf_draws: int = setting(1, "training only: the decoder reads the mean of this many vMF draws "
                                "(Xu & Durrett's code: 3, which remedy vmf sets); 1: one draw, the ELBO's",
                             added=True)
    init: str = setting("reference", '"reference" (He et al.: U(-0.01, 0.01)), "pytorch" (per-layer '
                                     'defaults), or "pytorch-encoder" (BN-VAE\'s code: PyTorch defaults in '
                                     'the encoder, reference in the decoder)')
    dec_skip: bool = setting(False, "the LSTM decoder's output layer reads [h_t; z], not h_t alone "
                                    "(Skip-VAE, Dieng et al. 2019)", added=True)
    bow_hidden: int = setting(0, "> 0: a bag-of-words head on z (this many tanh units) whose NLL of the "
                                 "sentence's words joins the training loss; part of the decoder half "
                                 "(Zhao et al. 2017)", added=True)


@dataclass
class TrainConfig:
    """The optimisation protocol; defaults follow He et al.'s code."""

    optimizer: str = setting("sgd", '"sgd" (reference: two SGD optimisers, lr 1.0) or "adam"')
    lr: float = setting(1.0, "learning rate of the encoder's and the decoder's optimiser")
    momentum: float = setting(0.0, "SGD momentum")
    clip: float = setting(5.0, "clip on the gradient norm of the whole model")
    batch_size: int = setting(32, "sentences per training batch")
    batching: str = setting("by-length", '"by-length" (He et al.\'s and Li et al.\'s loaders: a batch '
                                         'holds sentences of one length, at most batch_size) or "padded" '
                                         '(sorted by length, cut every batch_size sentences, padding '
                                         'masked: fewer, fuller batches an epoch)',
                            added=True, earlier="padded")
    epochs: int = setting(100, "most epochs; training ends earlier after train.max_decays lr decays")
    decay_after_epoch: int = setting(15, "lr halving only from this epoch on")
    decay_patience: int = setting(2, "epochs without validation improvement before halving")
    lr_decay: float = setting(0.5, "factor on the lr at each decay (the best weights are reloaded)")
    max_decays: int = setting(5, "lr decays after which training stops")
    diag_every: int = setting(50, "steps between MI/AU on the fixed validation batch (0: never)")
    diag_batch: int = setting(500, "sentences in that fixed validation batch")
    snapshot_every: int = setting(0, "steps between posterior-mean snapshots (nz = 1; 0: never)")
    precision: str = setting("fp32", '"fp32" or "bf16" (autocast) for the training steps')
    device: str = setting("cpu", '"cpu" or "cuda" (or "cuda:N"); same as --device')
    threads: int = setting(0, "torch threads; 0: torch's default, or cores / jobs in a suite")
    # The amortisation gap (bench/amortisation.py): measured, never trained on, so training is the same.
    min_batch: int = setting(1, "training batches with fewer sentences are skipped (DU-VAE's code: 16)",
                             added=True)
    gap_sentences: int = setting(0, "amortisation gap (Cremer et al. 2018) at each epoch end on this many "
                                    "validation sentences, a fixed seeded subset; 0: off", added=True)
    gap_steps: int = setting(100, "Adam steps on each of those sentences' own q(z|x), from the encoder's "
                                  "output, decoder fixed", added=True)
    gap_samples: int = setting(1, "z samples per sentence in each of those steps, and in the two ELBOs "
                                  "compared (the same draws for both)", added=True)
    gap_lr: float = setting(0.01, "learning rate of those Adam steps (Cremer et al.: 1e-3, run to "
                                  "convergence)", added=True)

    @property
    def by_length(self) -> bool:
        """Batches of one sentence length each (training, and He et al.'s per-batch MI)."""
        return self.batching == "by-length"


@dataclass
class EvalConfig:
    """How the final metrics are estimated."""

    split: str = setting("test", 'split the final metrics are computed on: "test" or "valid"')
    iw_samples: int = setting(500, "k for the importance-weighted NLL")
    iw_chunk: int = setting(100, "samples drawn per chunk (the reference draws 100 at a time)")
    iw_tokens: int = setting(2048, "sentence x sample x position cells per decoder call (the "
                                   "output layer then runs on cache-sized blocks of them)")
    mi_estimator: str = setting("whole", '"whole" (aggregate posterior over the split) or "batch" (He)')
    mi_batch: int = setting(32, "batch size of the per-batch MI estimator")
    au_threshold: float = setting(0.01, "a unit is active when Var_x E_q[z_u|x] is at least this")
    max_sentences: int = setting(0, "score a seeded random subset of N sentences of the split (0: all)")
    precision: str = setting("fp32", '"bf16": autocast for the final metrics (pays with AMX or a GPU)')
