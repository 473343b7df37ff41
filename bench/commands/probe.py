"""`collapse-bench probe RESULTS_DIR`: what z knows about sentiment, per stored run of a labelled dataset."""

from __future__ import annotations

from pathlib import Path

import click

from bench.commands import data_dir_option


@click.command(
    "probe",
    epilog="""\b
Examples:
  collapse-bench run yelp-short
  collapse-bench probe results/yelp-short
  collapse-bench probe results/yelp-short --data-dir DATA --quiet   # DATA holds yelp/sentiment.dev.{0,1}
  collapse-bench report results/yelp-short    # now with a probe bal. acc. column and probe.png""",
)
@click.argument("results_dir", metavar="RESULTS_DIR", type=click.Path(path_type=Path, file_okay=False))
@data_dir_option
@click.option("--quiet", is_flag=True, help="No progress bar; only the closing summary.")
def probe(results_dir: Path, data_dir: str | None, quiet: bool) -> None:
    """Ask what z knows: predict each sentence's sentiment from its posterior mean, for every run
    of the suite folder RESULTS_DIR (results/<suite>) whose dataset has labels (yelp-short, yelp, a
    corpus of your own with label<TAB>text lines).

    KL, MI and AU say how much z carries, not what. The probe fits a logistic
    regression on the posterior means E_q[z|x] of a run's own training
    sentences and scores it on the run's evaluation split by balanced
    accuracy (the mean of the per-label recalls: chance is 1 / number of
    labels, whatever share the majority label has), next to two references on
    the same sentences: a logistic regression on bag-of-words features (what
    the words give a linear classifier) and a constant answer (chance). The main probe takes
    the means in the prior's units, so the residual wobble of a collapsed
    encoder does not count: a collapsed run sits at chance. A second probe
    takes them whitened (each unit standardised over the training sentences),
    which that wobble can pass when it is consistent.

    Each finished run gets runs/<run-id>/probe.json (plain accuracies too).
    Runs already probed are skipped, so running it again only probes new runs
    and resumes an interrupted probe; a probe.json that does not read whole
    (cut short, corrupted) is named and probed again; `collapse-bench report`
    then adds a probe bal. acc. column and the figure probe.png. Needs
    scikit-learn: pip install 'collapse-bench[probe]'.
    """
    from tqdm.auto import tqdm

    from bench import store
    from bench.probe import PROBE, find_targets, probe_run, require_sklearn

    require_sklearn()
    targets = find_targets(results_dir)
    damaged = list(targets.damaged)
    for line in [*damaged, *targets.reprobe]:
        click.echo(f"warning: {line}", err=True)
    probed = 0
    for folder in tqdm(targets.todo, desc="probe", unit="run", disable=quiet):
        try:
            probe_run(folder, data_dir)
            probed += 1
        except store.Damaged as exc:  # damaged after find_targets checked it: name it, go on
            damaged.append(f"run {folder.name} skipped: {exc}")
            click.echo(f"warning: {damaged[-1]}", err=True)
    skipped = [f"{targets.done} already probed"]
    if targets.unfinished:
        skipped.append(f"{targets.unfinished} not finished")
    if damaged:
        skipped.append(f"{len(damaged)} damaged")
    click.echo(
        f"probed {probed} of {targets.labelled} labelled runs ({', '.join(skipped)}) "
        f"-> {results_dir / 'runs'}/<run-id>/{PROBE}"
    )
