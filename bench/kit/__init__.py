"""The plugin kit: what a remedy plugin's own tests call, shipped with the package.

`check_remedy` (and `CHECKS`, one function per rule) checks a remedy against
the contract the trainer relies on; `ScriptedTrainer` stands in for the
trainer in a test of one hook's logic. The kit stands above the trainer it
checks against, so it lives in the harness (`bench`), not in `remedies`.
"""

from bench.kit.conformance import CHECKS, TINY, ConformanceError, check_id, check_remedy
from bench.kit.scripted import ScriptedTrainer

__all__ = ["CHECKS", "TINY", "ConformanceError", "ScriptedTrainer", "check_id", "check_remedy"]
