"""Which kind of collapse a run shows, said in words with the numbers behind it; pure functions over numbers.

`collapse-bench diagnose RUN` and the report's Diagnosis section ask the same questions of a run and
get their answers here; gathering the numbers (metrics.json, the curve, the stored model) is theirs.
The kinds, decided in this order by `classify`:

1. **inference lag**: the run does not escape (the escape rule of `bench.report.escape`, which the
   caller applies: this module reads numbers only, and bench.report reads this module), yet the
   last epoch's amortisation gap (`bench.amortisation`) is at least `LAG_NATS`: the decoder would use
   a better z, and the encoder does not give it (He et al. 2019's lagging inference network);
2. **posterior collapse**: KL at or below the MI null threshold. MI never exceeds the KL (I(x; z) is
   the mean KL(q(z|x) || p(z)) minus KL(q(z) || p(z))), so such a KL cannot hold what the escape rule
   asks of z: every q(z|x) is, as near as matters, the prior;
3. **KL without information**: KL above the threshold, but MI at or below it (or no active unit):
   the posteriors left the prior the same way for every sentence, so z cannot tell sentences apart;
4. **partial collapse**: the run escapes with some units active and the rest at the prior;
5. **healthy**: the run escapes with every unit active.
"""

from __future__ import annotations

import math
import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.syntax import parse_spec

INFERENCE_LAG = "inference lag"
POSTERIOR_COLLAPSE = "posterior collapse"
KL_WITHOUT_INFORMATION = "KL without information"
PARTIAL = "partial collapse"
HEALTHY = "healthy"
KINDS = (INFERENCE_LAG, POSTERIOR_COLLAPSE, KL_WITHOUT_INFORMATION, PARTIAL, HEALTHY)

# Nats per sentence. With the default train.gap_* settings on 50 validation sentences, stored yelp-short
# runs (PyTorch init) measured: collapsed ones 0.086 (none) and 0.095 (beta 0.4), whose decoders barely
# read z; a dilated CNN spending KL without information 0.41; escaped ones 0.24 (aggressive + annealing)
# and 1.83 (BN-VAE). The line sits above what a decoder that barely reads z leaves.
LAG_NATS = 0.2
UNIT_KL_FLOOR = 0.01  # nats: a unit below it is, for the per-unit listing, at the prior
SHOWN = 3  # input -> posterior decode pairs printed

MEANINGS = {
    INFERENCE_LAG: "z carries nothing the escape rule detects, but optimising each sentence's q(z|x) with "
                   "the decoder fixed gains ELBO: the encoder lags behind a decoder that would use z",
    POSTERIOR_COLLAPSE: "every q(z|x) is the prior (KL at or below the MI null threshold): z carries "
                        "nothing and the decoder writes without it",
    KL_WITHOUT_INFORMATION: "the posteriors left the prior (KL above the threshold) the same way for every "
                            "sentence: MI at or below the null, so z cannot tell sentences apart",
    PARTIAL: "z is used (MI above the null, AU >= 1), by some units; the others sit at the prior",
    HEALTHY: "z is used (MI above the null) and every unit is active",
}

# What to try next, per kind: remedies of this harness (`collapse-bench list remedies`) and why.
REMEDIES: dict[str, tuple[tuple[str, str], ...]] = {
    INFERENCE_LAG: (
        ("aggressive", "trains the encoder alone until it catches up before each decoder step: He et al. "
                       "2019's answer to exactly this lag"),
        ("aggressive+kl-annealing", "the same with a KL warm-up, He et al.'s main row"),
        ("pretrain-fb", "an encoder pretrained as an autoencoder starts ahead of the decoder "
                        "(Li et al. 2019)"),
    ),
    POSTERIOR_COLLAPSE: (
        ("aggressive+kl-annealing", "He et al.'s main row: the encoder catches up before the decoder learns "
                                    "to ignore z"),
        ("bn-vae", "BatchNorm with a fixed scale on the encoder mean keeps the KL from reaching 0 "
                   "(Zhu et al. 2020)"),
        ("pretrain-fb", "autoencoder pretraining, then free bits (Li et al. 2019)"),
        ("cyclical", "the KL weight warmed up again and again (Fu et al. 2019)"),
        ("dilated-cnn(size=small)", "a decoder too weak to model the sentence without z (Yang et al. 2017)"),
    ),
    KL_WITHOUT_INFORMATION: (
        ("aggressive", "an encoder trained until it catches up puts information, not just distance from "
                       "the prior, into q(z|x)"),
        ("pretrain-fb", "an encoder pretrained as an autoencoder spends the KL it is allowed on the "
                        "sentence (Li et al. 2019)"),
    ),
    PARTIAL: (
        ("free-bits", "the first lambda nats of each unit are free, so more units are worth using "
                      "(Kingma et al. 2016)"),
        ("bn-vae", "bounds every unit's KL from below (Zhu et al. 2020)"),
    ),
    HEALTHY: (),
}


@dataclass(frozen=True)
class Samples:
    """Greedy decodes of a stored model: from z ~ p(z), and from E_q[z|x] of some test sentences."""

    prior: tuple[str, ...]
    inputs: tuple[str, ...]  # the test sentences
    posterior: tuple[str, ...]  # each one decoded from its own posterior mean
    prior_agreement: float  # mean share of word positions where a prior decode equals the input
    posterior_agreement: float  # the same for the posterior decodes
    prior_name: str = "N(0, I)"  # p(z) in words (the model family's `prior_name`)

    @property
    def same_whatever_z(self) -> bool:
        """Every decode, from the prior or the posterior, is one sentence: the decoder ignores z."""
        return len({*self.prior, *self.posterior}) == 1


@dataclass(frozen=True)
class Evidence:
    """The numbers a diagnosis rests on. Test metrics are on `n_sentences` sentences of the test split."""

    remedy: str
    nz: int
    n_sentences: int
    kl: float
    mi: float
    au: float
    threshold: float  # the MI null threshold at (n_sentences, nz): bench.report.escape.mi_null_threshold
    escaped: bool  # the escape rule (bench.report.escape.escapes) on mi, au and threshold
    control: bool = False  # the run is the autoencoder control, beta(beta=0): KL weight 0
    au_threshold: float = 0.01  # the run's eval.au_threshold: the variance that makes a unit active
    init: str = "reference"
    kl_per_unit: tuple[float, ...] | None = None
    gap: float | None = None  # the last epoch's amortisation gap, nats per sentence; None: not measured
    gap_sentences: int = 0
    onset: int | None = None  # bench.diagnosis.collapse_onset of the run's curve
    curve_points: int = 0  # MI measurements on the curve (0: train.diag_every was 0)
    curve_sentences: int = 0  # sentences of the fixed validation batch the curve's MI is taken on
    curve_threshold: float | None = None  # the null threshold at (curve_sentences, nz)
    samples: Samples | None = None


@dataclass(frozen=True)
class Diagnosis:
    """A kind, the sentence that says it, the numbers, answers to likely questions, and what to try."""

    kind: str
    summary: str
    numbers: list[str]
    notes: list[str] = field(default_factory=list)
    remedies: list[tuple[str, str]] = field(default_factory=list)


def classify(evidence: Evidence) -> str:
    """The kind of collapse (or none) the numbers show: the order of the module docstring."""
    if not evidence.escaped and evidence.gap is not None and evidence.gap >= LAG_NATS:
        return INFERENCE_LAG
    if evidence.escaped:
        return HEALTHY if evidence.au >= evidence.nz else PARTIAL
    if evidence.kl <= evidence.threshold:
        return POSTERIOR_COLLAPSE
    return KL_WITHOUT_INFORMATION


def collapse_onset(steps: Sequence[float], mi: Sequence[float], threshold: float) -> int | None:
    """The first step from which every later MI measurement stays at or below `threshold`.

    None when the last measurement is above it (the run never collapsed, or recovered) or there is none;
    NaN entries (steps without a measurement) are skipped.
    """
    onset = None
    for step, value in sorted((int(s), float(m)) for s, m in zip(steps, mi, strict=True) if math.isfinite(m)):
        if value > threshold:
            onset = None
        elif onset is None:
            onset = step
    return onset


def curve_batch(diag_batch: int, n_valid: int | None) -> int:
    """Sentences of the fixed validation batch a curve's MI is taken on: the first `train.diag_batch` of
    the validation split, all of it when it is smaller (`n_valid`; None: not recorded)."""
    return min(diag_batch, n_valid) if n_valid else diag_batch


def diagnose(evidence: Evidence) -> Diagnosis:
    """The diagnosis of `evidence`, every sentence of it in words a user reads without the code."""
    kind = classify(evidence)
    return Diagnosis(kind, _summary(kind, evidence), _numbers(evidence), _notes(kind, evidence),
                     _remedies(kind, evidence))


def _summary(kind: str, e: Evidence) -> str:
    if kind == INFERENCE_LAG:
        return ("Inference lag: the encoder's z carries nothing the escape rule detects, yet optimising "
                f"each sentence's q(z|x) with the decoder fixed gains {e.gap:.3f} nats per sentence. The "
                "decoder would use z; the encoder does not deliver it (He et al. 2019's lagging inference "
                "network).")
    if kind == POSTERIOR_COLLAPSE:
        return ("Posterior collapse: every sentence's q(z|x) is, as near as matters, the prior N(0, I). z "
                "carries nothing about the sentence, and the decoder writes without it.")
    if kind == KL_WITHOUT_INFORMATION:
        if e.mi > e.threshold:
            return ("KL without information the rule counts: MI is above the null, but no unit's posterior "
                    f"mean varies over sentences by {e.au_threshold} or more (AU = 0), so the escape rule "
                    "does not count z as used.")
        return ("KL without information: the posteriors have left the prior (KL > 0), but they differ "
                "between sentences no more than an encoder's whose posterior means vary only at the AU "
                f"line (MI {e.mi:.3f} at or below that null, {e.threshold:.3f}), so z tells little or "
                "nothing about which sentence it came from.")
    if kind == PARTIAL:
        return (f"Partial collapse: z is used (MI above the null threshold), by {int(e.au)} of {e.nz} units; "
                "the others sit at the prior. Often what the ELBO prefers: a unit that carries nothing "
                "costs nothing.")
    return (f"Healthy: z carries information about the sentence (MI above the null) and all {e.nz} units "
            "are active.")


def _numbers(e: Evidence) -> list[str]:
    side = "above" if e.mi > e.threshold else "at or below"
    lines = [
        f"KL(q(z|x) || p(z)) = {e.kl:.4f} nats per sentence (test split, {e.n_sentences} sentences)",
        f"MI I(x; z) = {e.mi:.4f} nats, {side} the null threshold {e.threshold:.4f} (what the MI estimate of "
        f"an encoder with no active unit stays under, at N = {e.n_sentences}, nz = {e.nz}: docs/protocol.md)",
        f"AU = {int(e.au)} of {e.nz} units (a unit is active when its posterior mean varies over sentences "
        f"with variance >= {e.au_threshold})",
    ]
    if e.kl_per_unit is not None:
        lines.append(f"per-unit KL (nats per sentence): {_unit_kls(e.kl_per_unit)}")
    if e.gap is None:
        lines.append("amortisation gap: not measured (measure it with --set train.gap_sentences=100)")
    else:
        lines.append(f"amortisation gap at the last epoch = {e.gap:.4f} nats per sentence on "
                     f"{e.gap_sentences} validation sentences: what optimising each sentence's own q(z|x), "
                     f"decoder fixed, gains over the encoder's (inference lag from {LAG_NATS} nats)")
    lines.append(f"collapse onset: {_onset(e)}")
    if e.samples is not None:
        lines += _sample_lines(e.samples)
    return lines


def _unit_kls(values: Sequence[float]) -> str:
    """Units by KL, largest first; the ones below UNIT_KL_FLOOR counted, not listed."""
    ranked = sorted(enumerate(values), key=lambda item: -item[1])
    shown = [f"u{unit} {value:.3f}" for unit, value in ranked if value >= UNIT_KL_FLOOR]
    rest = len(values) - len(shown)
    tail = f"{rest} unit{'s' if rest != 1 else ''} below {UNIT_KL_FLOOR} nats" if rest else ""
    return ", ".join(filter(None, [", ".join(shown), tail]))


def _onset(e: Evidence) -> str:
    if not e.curve_points:
        return "not measured (the curve has no MI: train.diag_every was 0)"
    batch = f"the fixed {e.curve_sentences}-sentence validation batch"
    if e.onset is None:
        return (f"none: the last MI measured on {batch} is above the null threshold there "
                f"({e.curve_threshold:.4f})")
    since = "from the first measurement on, the" if e.onset == 0 else "from then on the"
    return (f"step {e.onset}: {since} MI on {batch} stayed at or below the null threshold there "
            f"({e.curve_threshold:.4f})")


def _sample_lines(samples: Samples) -> list[str]:
    common, times = Counter(samples.prior).most_common(1)[0]
    lines = [f"greedy decodes of {len(samples.prior)} codes z ~ {samples.prior_name}: "
             f"{len(set(samples.prior))} distinct; "
             f'the most common ({times} of {len(samples.prior)}): "{common}"',
             f"greedy decodes of E_q[z|x] of {len(samples.inputs)} test sentences: "
             f"{len(set(samples.posterior))} distinct; they match their input at "
             f"{samples.posterior_agreement:.0%} of word positions, the prior's decodes at "
             f"{samples.prior_agreement:.0%}",
             *(f'"{given}" -> "{decoded}"' for given, decoded in
               zip(samples.inputs[:SHOWN], samples.posterior[:SHOWN], strict=True))]
    if samples.same_whatever_z:
        lines.append("prior and posterior decodes are all the same sentence: the decoder ignores z")
    elif len(set(samples.posterior)) == 1:
        lines.append("the prior's codes decode to different sentences, so the decoder reads z; but every "
                     "sentence's posterior sits where z decodes to one sentence: the encoder, not the "
                     "decoder, is what carries nothing")
    return lines


def _notes(kind: str, e: Evidence) -> list[str]:
    notes = []
    if e.mi < 0:
        notes.append(
            f"MI is {e.mi:.4f}, below 0. MI itself is never negative; its estimate is. The estimator "
            "(bench/metrics.py, mutual_info) scores one z per sentence against the mixture of all "
            f"{e.n_sentences} posteriors, and where the posteriors barely differ it scatters around 0 on "
            "both sides. Read it against the null threshold instead: at or below it means no information "
            "detected, whatever the sign.")
    if e.kl > e.threshold and e.mi <= e.threshold:
        notes.append(
            "KL above 0 does not mean z is used. KL measures how far each sentence's q(z|x) is from the "
            "prior; MI how much the q(z|x) differ between sentences. When every sentence gets the same "
            "shifted or narrowed q, KL is positive and MI 0: the decoder gets a z that could have come from "
            "any sentence, and its samples all look alike.")
    if kind in (INFERENCE_LAG, POSTERIOR_COLLAPSE) and e.control:
        notes.append(
            "This is the autoencoder control (KL weight 0): nothing pulls q(z|x) to the prior, so its "
            "collapse says the encoder cannot learn at this size and init, and no KL remedy can be judged "
            "here.")
    return notes


def suggestions(kind: str, remedy: str) -> list[tuple[str, str]]:
    """REMEDIES for `kind`, without the one the run already used (compared by names, not parameters)."""
    return [(spec, why) for spec, why in REMEDIES[kind] if _plain(spec) != _plain(remedy)]


def _remedies(kind: str, e: Evidence) -> list[tuple[str, str]]:
    """The suggestions for `kind`; for the autoencoder control no KL remedy, since nothing pulled its q(z|x)
    to the prior; and where nothing encodes under He et al.'s init, that init named."""
    chosen = [] if e.control else suggestions(kind, e.remedy)
    if kind in (INFERENCE_LAG, POSTERIOR_COLLAPSE, KL_WITHOUT_INFORMATION) and e.init == "reference":
        chosen.append(("--set model.init=pytorch",
                       "under He et al.'s U(-0.01, 0.01) init, at the real-text suites' sizes even the "
                       "autoencoder control beta(beta=0) learns no encoder (suite yelp-short-pytorch-init): "
                       "train that control first; if it collapses too, no remedy can show here"))
    return chosen


def _plain(spec: str) -> str:
    """`aggressive(...)+kl-annealing(...)` -> `aggressive+kl-annealing`: a spec by its names."""
    return "+".join(part.name for part in parse_spec(spec))


def render_text(diagnosis: Diagnosis, width: int = 100) -> str:
    """The diagnosis as the terminal shows it, wrapped at `width`."""

    def bullet(text: str) -> str:
        return textwrap.fill(text, width, initial_indent="  - ", subsequent_indent="    ")

    parts = [f"Diagnosis: {diagnosis.kind}", textwrap.fill(diagnosis.summary, width, initial_indent="  ",
                                                            subsequent_indent="  "),
             "", "The numbers:", *map(bullet, diagnosis.numbers)]
    if diagnosis.notes:
        parts += ["", "About these numbers:", *map(bullet, diagnosis.notes)]
    parts += ["", "What to try next (collapse-bench list remedies):"]
    nothing = "nothing: z is used" if diagnosis.kind == HEALTHY else "no remedy of this harness: see above"
    parts += [bullet(f"{spec}: {why}") for spec, why in diagnosis.remedies] or [bullet(nothing)]
    return "\n".join(parts)

