"""The fault battery: interrupted, corrupted, concurrent and full stores lose nothing and are never
half-read. docs/reliability.md lists which test here proves which promise."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.data.readers import MAX_LINE_BYTES

ROOT = Path(__file__).resolve().parents[1]


def one_error_line(result) -> str:
    """The CLI's rule for bad input: exit code 2 and one `Error:` line."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error:"), result.output
    return lines[0]


# ------------------------------------------------------------------- bad input


class TestBadInput:
    @pytest.mark.parametrize("spec", ["none+none", "kl-annealing+kl-annealing",
                                      "dilated-cnn+beta+dilated-cnn(size=small)"])
    def test_a_remedy_composed_with_itself(self, spec, tmp_path):
        out = tmp_path / "out"
        result = CliRunner().invoke(cli, ["train", "--remedy", spec, "--out", str(out)])
        assert "is given twice" in one_error_line(result)
        assert not out.exists()

    @pytest.mark.parametrize("name", ["../evil", "/tmp/evil", "a/../../evil", ".hidden"])
    def test_a_suite_file_named_to_write_outside_the_store(self, name, write_suite, tmp_path):
        path = write_suite('remedies = ["none"]')
        path.write_text(path.read_text().replace('name = "tiny"', f'name = "{name}"'))
        result = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "out")])
        assert "suite name must be" in one_error_line(result)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.toml"]

    @pytest.mark.parametrize("name", ["../evil", "/tmp/evil-collapse-bench"])
    def test_train_filed_under_a_suite_outside_the_store(self, name, tmp_path):
        out = tmp_path / "out"
        result = CliRunner().invoke(cli, ["train", "--suite", name, "--out", str(out)])
        assert "suite name must be" in one_error_line(result)
        assert not out.exists() and not (tmp_path / "evil").exists()
        assert not Path("/tmp/evil-collapse-bench").exists()

    @pytest.mark.parametrize(("content", "message"), [
        (b"a b c\nd \x00 e\n", "line 2 contains a NUL byte at column 3"),
        (b"a b c\n" + b"w " * (MAX_LINE_BYTES // 2 + 1) + b"\n", "line 2 is longer than 1 MiB"),
        (b"\x1f\x8b\x08\x00" + bytes(range(256)) * 8, "line 1"),  # a gzip file saved as .txt
        (b"a b\nc \xff d\n", "line 2 is not valid UTF-8"),
    ])
    def test_a_data_file_that_is_not_text(self, content, message, tmp_path):
        (tmp_path / "ptb").mkdir()
        (tmp_path / "ptb" / "ptb.valid.txt").write_bytes(content)
        (tmp_path / "ptb" / "ptb.test.txt").write_bytes(b"a b\n")
        out = tmp_path / "out"
        result = CliRunner().invoke(cli, ["train", "--dataset", "ptb-small", "--data-dir", str(tmp_path),
                                          "--out", str(out)])
        line = one_error_line(result)
        assert "ptb.valid.txt" in line and message in line
        assert not out.exists()


# ------------------------------------------------------------------- loading


def torch_loads(path: Path) -> dict[int, bool]:
    """Line -> whether it passes `weights_only=True`, for each `torch.load(...)` call in `path`."""
    return {
        node.lineno: any(k.arg == "weights_only" and ast.unparse(k.value) == "True" for k in node.keywords)
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load"
    }


def test_every_torch_load_is_weights_only():
    """A stored .pt file is data from disk: unpickling it must never run code."""
    sources = [p for folder in ("bench", "remedies", "benchmarks", "examples")
               for p in (ROOT / folder).rglob("*.py")]
    calls = {f"{p.relative_to(ROOT)}:{line}": safe for p in sources for line, safe in torch_loads(p).items()}
    assert calls, "the scan found no torch.load at all: it looks in the wrong place"
    assert [where for where, safe in calls.items() if not safe] == []


def test_the_scan_tells_an_unsafe_load(tmp_path):
    source = tmp_path / "unsafe.py"
    source.write_text("import torch\nok = torch.load('a', weights_only=True)\nbad = torch.load('b')\n"
                      "worse = torch.load('c', weights_only=False)\n")
    assert torch_loads(source) == {2: True, 3: False, 4: False}
