"""Reports from a results store: tidy tables, statistics, figures, and the files a paper needs.

`build_report(store_dir)` is the entry point (the `report` command calls it).
Modules: `tables` (store -> pandas), `stats` (CIs, Welch, Holm, Hedges' g),
`plots` (seaborn figures, byte-stable PNGs), `render` (report.md, CSVs, LaTeX); `compare`
(two stores of the same cells, paired seed by seed: `collapse-bench compare`).
"""

from bench.report.render import Report, build_report

__all__ = ["Report", "build_report"]
