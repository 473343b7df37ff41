"""README's mission table against its sources: the committed mission.csv is the join of remedies.csv and
the suites' verdicts.csv, README's block is that CSV's table, and every registered remedy has a row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.report import mission, pages
from remedies import registry

ROOT = Path(__file__).resolve().parent.parent  # the checkout, not the installed package
RESULTS = ROOT / mission.DOCS_RESULTS
README = ROOT / "README.md"


def test_the_committed_mission_csv_is_the_join_of_its_sources():
    committed = pd.read_csv(RESULTS / mission.MISSION)
    pd.testing.assert_frame_equal(committed, mission.mission_table(RESULTS),
                                  obj="mission.csv (run `python -m bench.report.mission`)")


def test_readme_draws_its_mission_table_from_the_csv():
    [(path, body)] = [(path, body) for path, body in pages.blocks(README)
                      if path.endswith(mission.MISSION)]
    assert body == pages.render(README.parent / path)


def test_every_registered_remedy_has_a_row_and_every_row_names_registered_remedies():
    rows = set(pd.read_csv(RESULTS / mission.REMEDIES)["remedy"])
    assert set(registry.names()) <= rows, "docs/results/remedies.csv lacks a row for a registered remedy"
    for names in rows:
        for name in names.split("+"):
            registry.get(name)  # raises for a name the registry does not know


def test_a_spec_is_matched_by_its_remedy_names_alone():
    spec = "aggressive(check_every=15)+kl-annealing(epochs=3.0)"
    assert mission.remedy_names(spec) == "aggressive+kl-annealing"
    assert mission.remedy_names("none") == "none"


def test_verdicts_name_the_row_group_only_where_a_suite_has_several(tmp_path):
    suite = tmp_path / "s"
    suite.mkdir()
    pd.DataFrame({"row_group": ["s: SGD", "s: Adam", "s: SGD", "s: SGD"],
                  "finding": ["f", "f", "g", "autoencoder-control"],
                  "remedy": ["none", "none", "beta(beta=0.4)", "beta(beta=0.0)"],
                  "verdict": ["reproduced", "incomplete", "not reproduced", "passes"]}).to_csv(
        suite / "verdicts.csv", index=False)
    found = mission.verdicts_by_remedy(tmp_path)
    assert found == {"none": ["s: reproduced (SGD), incomplete (Adam)"], "beta": ["s: not reproduced"]}


def test_verdicts_name_the_spec_where_one_row_group_holds_a_remedy_twice(tmp_path):
    suite = tmp_path / "s"
    suite.mkdir()
    pd.DataFrame({"row_group": ["s: Adam", "s: Adam"], "finding": ["cnn-escapes", "cnn-escapes"],
                  "remedy": ["dilated-cnn(size=large)", "dilated-cnn(size=small)"],
                  "verdict": ["not reproduced", "reproduced"]}).to_csv(suite / "verdicts.csv", index=False)
    found = mission.verdicts_by_remedy(tmp_path)
    assert found == {"dilated-cnn": ["s: not reproduced (dilated-cnn(size=large)), "
                                     "reproduced (dilated-cnn(size=small))"]}
