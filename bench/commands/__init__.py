"""Subcommands beyond `train` and `list`, one module each; `bench.cli` registers them.

Heavy imports (torch, pandas, seaborn) go inside the command functions so
`collapse-bench --help` stays fast.
"""
