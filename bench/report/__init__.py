"""Reports from a results store: tidy tables, statistics, figures, and the files a paper needs.

`build_report(store_dir)` is the entry point (the `report` command calls it).
Modules: `runs_frame` (store -> pandas), `labels` (remedy labels, row groups), `baseline`
(the spec `--baseline` names), `summaries` (summary and tests per cell), `stats` (CIs, Welch, Holm,
Hedges' g), `plots` (seaborn figures, byte-stable PNGs), `render` (report.md, CSVs), `latex` (table.tex);
`compare` (two stores of the same cells, paired seed by seed: `collapse-bench compare`).
"""

from bench.report.render import Report, build_report

__all__ = ["Report", "build_report"]
