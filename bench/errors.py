"""The one exception type for user mistakes.

A `ConfigError` means "the input is wrong, nothing was run": the CLI turns it
into a single `Error: ...` line and exit code 2. Library code raises it before
any work starts, so nothing is half-written.
"""


class ConfigError(ValueError):
    """Bad user input: unknown name, impossible value, unreadable file."""


def closest(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """A ' Did you mean ...?' suffix naming the closest choices, or ''."""
    import difflib

    matches = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    if not matches:
        return ""
    return " Did you mean " + ", ".join(f"'{m}'" for m in matches) + "?"
