"""The mission table: every remedy with its paper, its authors' code, how its fidelity was checked, and
the verdicts the committed suites gave it.

    python -m bench.report.mission && python -m bench.report.pages README.md

Two inputs, both committed: docs/results/remedies.csv, written by hand (one row per registered
remedy: the paper, the authors' repository, the fidelity checks that ran and what they found, as
docs/fidelity.md details them), and each suite's verdicts.csv under docs/results/<suite>/. The
join is mission.csv; README.md draws its table from it (bench/report/pages.py), and
tests/test_mission.py fails when the CSV, the page or the registry drift apart.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

from bench.markdown import markdown_table

DOCS_RESULTS = Path("docs") / "results"  # from the checkout's root, where the command runs
REMEDIES = "remedies.csv"  # remedy, paper, authors_code, fidelity
MISSION = "mission.csv"


def remedy_names(spec: str) -> str:
    """A canonical spec without its parameters: "aggressive(...)+kl-annealing(...)" gives
    "aggressive+kl-annealing"."""
    return "+".join(re.sub(r"\(.*\)$", "", part) for part in spec.split("+"))


def verdicts_by_remedy(results: Path) -> dict[str, list[str]]:
    """remedy names -> "<suite>: <verdict>" per committed suite. Where a suite holds the remedy more than
    once, each verdict names what tells them apart: the row group, or else the full spec (two sizes of
    one decoder). The autoencoder control's own row is the control's, not beta's."""
    found: dict[str, list[str]] = {}
    for table in sorted(results.glob("*/verdicts.csv"), key=lambda path: path.parent.name):
        findings = pd.read_csv(table)
        findings = findings[findings["finding"] != "autoencoder-control"]
        findings = findings.assign(names=findings["remedy"].astype(str).map(remedy_names))
        for names, rows in findings.groupby("names", sort=False):
            apart = "row_group" if rows["row_group"].nunique() > 1 else "remedy"
            verdicts = [str(row["verdict"]) + (f" ({str(row[apart]).split(': ', 1)[-1]})"
                                               if len(rows) > 1 else "")
                        for _, row in rows.iterrows()]
            found.setdefault(str(names), []).append(f"{table.parent.name}: {', '.join(verdicts)}")
    return found


def mission_table(results: Path) -> pd.DataFrame:
    """remedies.csv with a `verdicts` column joined from the committed suites ("not run" where none)."""
    remedies = pd.read_csv(results / REMEDIES)
    verdicts = verdicts_by_remedy(results)
    remedies["verdicts"] = ["; ".join(verdicts.get(name, ["not run in a committed suite"]))
                            for name in remedies["remedy"]]
    return remedies


def mission_markdown(table: pd.DataFrame) -> str:
    rows = [[f"`{row['remedy']}`", row["paper"], row["authors_code"], row["fidelity"], row["verdicts"]]
            for _, row in table.iterrows()]
    headers = ["remedy", "paper", "authors' code", "fidelity checks", "verdicts (suite: verdict)"]
    return markdown_table(headers, rows, [False] * len(headers))


def main(argv: list[str]) -> int:
    if argv:
        print("usage: python -m bench.report.mission  (rewrites docs/results/mission.csv; then "
              "`python -m bench.report.pages README.md` redraws README's table)", file=sys.stderr)
        return 2
    if not (DOCS_RESULTS / REMEDIES).is_file():
        print(f"no {DOCS_RESULTS / REMEDIES} here: run it from the checkout's root", file=sys.stderr)
        return 2
    mission_table(DOCS_RESULTS).to_csv(DOCS_RESULTS / MISSION, index=False)
    print(f"{DOCS_RESULTS / MISSION} rewritten; now: python -m bench.report.pages README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
