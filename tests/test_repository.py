"""The repository as a reader gets it: no half-done merge in any tracked text file."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^(<<<<<<< |>>>>>>> |=======$)", re.MULTILINE)


def tracked_text_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    suffixes = {".py", ".md", ".toml", ".ini", ".txt", ".cfg", ".yml", ".yaml"}
    return [ROOT / name for name in listed.stdout.splitlines() if Path(name).suffix in suffixes]


def test_no_tracked_file_holds_merge_conflict_markers():
    files = tracked_text_files()
    assert files, "git ls-files listed no text files"
    conflicted = [str(path.relative_to(ROOT)) for path in files
                  if path.is_file() and MARKER.search(path.read_text(encoding="utf-8", errors="replace"))]
    assert conflicted == []
