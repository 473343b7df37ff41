"""`collapse-bench diagnose RUN`: which kind of collapse one stored run shows, why, and what to try next."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from bench.commands import data_dir_option


@click.command("diagnose", epilog="""\b
Examples:
  collapse-bench diagnose results/demo/runs/23392d80ac1e
  collapse-bench diagnose results/yelp-short/runs/0c21e29e5e98 --data-dir DATA --samples 12
  collapse-bench diagnose results/demo/runs/23392d80ac1e --numbers-only --json
  collapse-bench train --remedy none --set train.gap_sentences=100   # record the amortisation gap too""")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--samples", default=8, show_default=True, type=click.IntRange(min=0),
              help="Codes decoded from the prior, and test sentences decoded from their posterior mean "
                   "(0: none).")
@click.option("--sentences", default=1000, show_default=True, type=click.IntRange(min=2),
              help="Test sentences the per-unit KL is computed on: a subset seeded by data.split_seed, as "
                   "the final evaluation's.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the prior codes and of the "
                                                                       "sentences decoded.")
@click.option("--numbers-only", is_flag=True,
              help="Read metrics.json and the curve only: no per-unit KL, no samples, no data files needed.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@data_dir_option
def diagnose(run_dir: Path, samples: int, sentences: int, seed: int, numbers_only: bool, as_json: bool,
             data_dir: str | None) -> None:
    """Say which kind of collapse the finished run RUN (results/<suite>/runs/<run-id>) shows, with the
    numbers behind it, and what to try next.

    \b
    The kinds, in the order they are decided:
      inference lag       z carries nothing the escape rule detects, but optimising each
                          sentence's q(z|x) with the decoder fixed gains ELBO (needs the
                          amortisation gap: train with --set train.gap_sentences=100)
      posterior collapse  KL ~ 0: every q(z|x) is the prior
      KL without information
                          KL > 0, but MI at or below the null threshold: the posteriors
                          moved the same way for every sentence
      partial collapse    z is used, by some of its units
      healthy             z is used by every unit

    MI is judged against the escape rule's null threshold (docs/protocol.md, "Verdicts"), not
    against 0: its estimate scatters around 0, below it too, when z carries nothing. Also
    shown: the collapse onset (the training step after which the MI on the fixed validation
    batch stays under that threshold), the KL of each latent unit and greedy decodes from the
    prior and from the posterior, read from the stored model (the dataset's files are read to
    rebuild the vocabulary: --data-dir, or --numbers-only to skip the model).
    """
    from bench.diagnosis import diagnose as diagnosis_of
    from bench.diagnosis import render_text
    from bench.run_evidence import finished_run, model_evidence, stored_evidence

    cfg, metrics = finished_run(run_dir)
    evidence = stored_evidence(run_dir, cfg, metrics)
    if not numbers_only:
        evidence = model_evidence(run_dir, evidence, cfg, data_dir=data_dir, sentences=sentences,
                                  samples=samples, seed=seed)
    result = diagnosis_of(evidence)
    if as_json:
        click.echo(json.dumps({"run_id": run_dir.name, "remedy": cfg.remedy, "dataset": cfg.dataset,
                               "seed": cfg.seed, **dataclasses.asdict(result),
                               "evidence": dataclasses.asdict(evidence)}, indent=2))
        return
    click.echo(f"run {run_dir.name}: {cfg.dataset}, remedy {cfg.remedy}, seed {cfg.seed}\n")
    click.echo(render_text(result))
