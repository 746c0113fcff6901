"""Provenance: the git revision of a checkout, and which changes make it dirty."""

import subprocess

from pipeline_lib.provenance import git_revision


def _git(repo, *args):
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=repo, check=True,
                   capture_output=True)


def test_changes_under_ignored_paths_do_not_make_the_checkout_dirty(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "results" / "case.json").write_text("{}\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "start")
    clean = git_revision(tmp_path, ignore=("results",))
    assert len(clean["commit"]) == 40 and clean["dirty"] is False

    (tmp_path / "results" / "case.json").write_text('{"speedup": 2}\n')
    assert git_revision(tmp_path, ignore=("results",))["dirty"] is False
    assert git_revision(tmp_path)["dirty"] is True
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_revision(tmp_path, ignore=("results",))["dirty"] is True


def test_outside_a_checkout_the_revision_is_unknown(tmp_path):
    assert git_revision(tmp_path) == {"commit": None, "dirty": None}
