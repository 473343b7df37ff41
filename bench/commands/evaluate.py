"""`collapse-bench evaluate RUN`: re-score a stored model with other eval settings, without retraining."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bench.commands import data_dir_option


@click.command("evaluate", epilog="""\b
Examples:
  collapse-bench evaluate results/demo/runs/4b49e063cdd7 --set eval.iw_samples=500
  collapse-bench evaluate results/ptb-small/runs/0123abcd4567 --set eval.max_sentences=0 --device cuda
  collapse-bench evaluate results/demo/runs/4b49e063cdd7 --set eval.split=valid --quiet
  collapse-bench evaluate results/demo/runs/4b49e063cdd7   # older run: its per-sentence table""")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="eval.KEY=VALUE",
              help="Change an eval setting, repeatable: eval.iw_samples=500, eval.max_sentences=0, "
                   "eval.mi_estimator=batch, eval.precision=bf16. Other sections are errors (another "
                   "model is another run).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None,
              help="Where to evaluate  [default: where the run trained]")
@data_dir_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def evaluate(run_dir: Path, overrides: tuple[str, ...], device: str | None, data_dir: str | None,
             quiet: bool) -> None:
    """Score a stored model again with other eval settings, beside its own metrics.

    RUN is a finished run's folder (results/<suite>/runs/<run-id>). Its
    config.json and model.pt are loaded, the eval settings changed by --set,
    and the model scored on its eval split; nothing is trained, and the run's
    metrics.json is never changed. The new metrics (IW NLL, PPL, KL, MI, AU,
    ELBO) go to RUN/evaluations/<key>/evaluation.json with the eval settings,
    what they change, when and where it ran; the per-sentence scores to
    per_sentence.parquet beside it. <key> hashes the eval settings (not the
    device), so the same command again prints the stored result and does no
    work. With the run's own settings it prints its metrics.json, unless the
    run predates per-sentence tables: then it scores the run again to give it one.
    """
    from bench import store
    from bench.config import parse_overrides
    from bench.reevaluation import plan_reevaluation, reevaluate

    plan = plan_reevaluation(run_dir, parse_overrides(overrides), device)
    outcome = reevaluate(plan, data_dir, progress=not quiet)
    if outcome.replaced:
        click.echo(f"warning: evaluated again: {outcome.replaced}", err=True)
    nz = plan.config.model.nz
    own = store.read_json(plan.run / store.METRICS)["test"]
    if outcome.path == plan.run / store.METRICS:
        click.echo(f"run {plan.run.name}: its own eval settings, evaluated when it finished: "
                   f"{_metrics_line(own, nz)}  -> {outcome.path}")
        return
    changes = ", ".join(f"{key}={value}" for key, value in plan.changed.items()) or "its own eval settings"
    state = f"already evaluated on {outcome.record['evaluated_at']}" if outcome.reused else "evaluated"
    click.echo(f"run {plan.run.name} {state} with {changes}: {_metrics_line(outcome.record['test'], nz)}"
               f"  -> {outcome.path}")
    click.echo(f"  its own evaluation (metrics.json, unchanged): {_metrics_line(own, nz)}")


def _metrics_line(test: dict[str, Any], nz: int) -> str:
    return (f"NLL {test['nll']:.2f} (k={test['iw_samples']})  PPL {test['ppl']:.2f}  KL {test['kl']:.3f}  "
            f"MI {test['mi']:.3f}  AU {test['au']}/{nz}  ({test['n_sentences']} sentences)")
