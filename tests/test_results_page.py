"""docs/results.md, docs/benchmarks.md and docs/fidelity.md's re-run side-by-side tables against their
committed CSVs: every table block is its file's, and on the results and speed pages no table stands
alone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.report import pages
from bench.report.escape import mi_null_threshold

DOCS = Path(__file__).resolve().parent.parent / "docs"
RESULTS = DOCS / "results.md"
BLOCK_PAGES = [RESULTS, DOCS / "benchmarks.md", DOCS / "fidelity.md"]


@pytest.mark.parametrize("page", BLOCK_PAGES, ids=lambda page: page.name)
def test_every_table_block_of_a_page_is_generated_from_its_csv(page):
    found = pages.blocks(page)
    assert found, f"{page.name} has no table block"
    for path, body in found:
        assert (page.parent / path).exists(), f"{path} is not committed"
        assert body == pages.render(page.parent / path), (
            f"the table from {path} differs from its CSV: "
            f"run `python -m bench.report.pages docs/{page.name}`")


@pytest.mark.parametrize("page", [RESULTS, DOCS / "benchmarks.md"], ids=lambda page: page.name)
def test_the_results_and_speed_pages_have_no_table_outside_a_generated_block(page):
    assert pages.loose_table_lines(page) == []


def test_a_block_that_drifts_from_its_csv_is_caught(tmp_path):
    (tmp_path / "t").mkdir()
    source = next(RESULTS.parent / path for path, _ in pages.blocks(RESULTS))
    (tmp_path / "t" / source.name).write_bytes(source.read_bytes())
    page = tmp_path / "page.md"
    page.write_text(f"<!-- table: t/{source.name} -->\n<!-- end table -->\n", encoding="utf-8")
    page.write_text(pages.refreshed(page), encoding="utf-8")
    [(path, body)] = pages.blocks(page)
    assert body == pages.render(tmp_path / path)
    digit = re.search(r"\d", body)
    assert digit, "the table holds numbers"
    changed = body[: digit.start()] + str((int(digit.group()) + 1) % 10) + body[digit.end():]
    assert changed != pages.render(tmp_path / path)


@pytest.mark.parametrize(("n", "nz"), [(1000, 16)])
def test_the_null_threshold_quoted_in_the_protocol_is_the_one_the_rule_computes(n, nz):
    text = " ".join((DOCS / "protocol.md").read_text(encoding="utf-8").split())
    quoted = re.search(rf"{n:,} test sentences and nz = {nz} in the real-text suites: MI > ([0-9.]+) nats",
                       text)
    assert quoted, "docs/protocol.md no longer quotes the threshold"
    assert float(quoted.group(1)) == round(mi_null_threshold(n, nz), 3)
