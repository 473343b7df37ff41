"""metrics.json names the code that made a run: the commit of the checkout, and whether it had changes."""

import shutil
import subprocess

import pytest

from bench.provenance import git_state

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(folder, *args):
    subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)


@pytest.fixture
def checkout(tmp_path):
    """A checkout holding a package, with one commit."""
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "__init__.py").write_text("")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_a_checkout_gives_its_commit_and_whether_it_changed(checkout):
    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert git_state(checkout) == {"commit": head, "dirty": False}
    (checkout / "bench" / "new.py").write_text("x = 1\n")
    assert git_state(checkout) == {"commit": head, "dirty": True}


def test_outside_a_checkout_or_inside_someone_elses_there_is_no_commit(checkout, tmp_path_factory):
    assert git_state(tmp_path_factory.mktemp("wheel-install")) is None
    nested = checkout / "venv" / "site-packages"  # a virtual environment inside another repository
    nested.mkdir(parents=True)
    assert git_state(nested) is None
