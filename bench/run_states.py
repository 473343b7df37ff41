"""The states a stored run can be in, and what `collapse-bench run` does with each.

`next_action` is the one place that decides it: the scheduler acts on it,
`run --dry-run` counts by it and `list runs` prints it in its help. How a
run folder's state is read: `bench.inventory.run_state`. No heavy imports:
the CLI's help text is built from here.
"""

from __future__ import annotations

from enum import Enum


class RunState(str, Enum):
    """A run's state; the value is the word `list runs` and `run --dry-run` print."""

    NEW = "new"
    RUNNING = "running"
    RESUMABLE = "resumable"
    UNFINISHED = "unfinished"
    FINISHED = "finished"
    FAILED = "failed"
    DAMAGED = "damaged"

    def __str__(self) -> str:  # a str-mixin Enum prints as RunState.NEW from Python 3.11 on
        return self.value


MEANING = {
    RunState.NEW: "no folder yet",
    RunState.RUNNING: "another process holds the run's lock",
    RunState.RESUMABLE: "an epoch-end checkpoint is there",
    RunState.UNFINISHED: "started, stopped before its first checkpoint",
    RunState.FINISHED: "metrics.json says so and every file reads whole",
    RunState.FAILED: "metrics.json records why",
    RunState.DAMAGED: "a file does not read whole",
}


class Action(Enum):
    """What `run` does with a cell; the value completes "`run` ...". A running cell still goes to a
    worker, which finds it held and leaves it; the scheduler then waits and takes it as it ended."""

    TRAIN = "trains it"  # from the start; a failed run retried continues from a checkpoint it left
    RESUME = "continues from its checkpoint"
    WAIT = "waits for it"
    SKIP = "skips it"  # a failed one is reported with its recorded reason


_ACTIONS = {
    RunState.NEW: Action.TRAIN,
    RunState.RUNNING: Action.WAIT,
    RunState.RESUMABLE: Action.RESUME,
    RunState.UNFINISHED: Action.TRAIN,
    RunState.FINISHED: Action.SKIP,
    RunState.FAILED: Action.SKIP,
    RunState.DAMAGED: Action.TRAIN,
}


def next_action(state: RunState, retry_failed: bool = False) -> Action:
    """What `collapse-bench run` does with a cell in `state`; `retry_failed`: its --retry-failed."""
    if state is RunState.FAILED and retry_failed:
        return Action.TRAIN
    return _ACTIONS[state]


def states_help() -> str:
    """One line per state: what it means and what `run` does with it, for a command's help."""
    lines = []
    for state in RunState:
        action = next_action(state).value
        retried = next_action(state, retry_failed=True).value
        if retried != action:
            action += f" (with --retry-failed: {retried})"
        lines.append(f"  {state.value:<12}{MEANING[state]}: `run` {action}")
    return "\n".join(lines)
