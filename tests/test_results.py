"""texforge.results: the one result-folder writer (atomic, the run's log carried over)."""

from __future__ import annotations

import os

import pytest

from texforge.results import LOG_NAME, check_out_dir, result_folder
from texforge.runtime.errors import InputError


def test_result_appears_complete_with_the_log_carried_over(tmp_path):
    out = tmp_path / "result"
    out.mkdir()
    (out / LOG_NAME).write_text("loading\n")
    with result_folder(out) as tmp:
        assert tmp != out and tmp.parent == tmp_path
        (tmp / "mesh.glb").write_bytes(b"glb")
        assert sorted(os.listdir(out)) == [LOG_NAME]       # nothing under the final name yet
        (out / LOG_NAME).write_text("loading\nwriting\n")  # lines logged while writing are kept
    assert sorted(os.listdir(out)) == ["mesh.glb", LOG_NAME]
    assert (out / LOG_NAME).read_text() == "loading\nwriting\n"
    assert os.listdir(tmp_path) == ["result"]


def test_a_failed_write_leaves_only_the_log(tmp_path):
    out = tmp_path / "result"
    out.mkdir()
    (out / LOG_NAME).write_text("loading\n")
    with pytest.raises(KeyboardInterrupt):
        with result_folder(out) as tmp:
            (tmp / "mesh.glb").write_bytes(b"half")
            raise KeyboardInterrupt
    assert os.listdir(out) == [LOG_NAME] and os.listdir(tmp_path) == ["result"]
    with pytest.raises(ValueError):
        with result_folder(tmp_path / "new") as tmp:
            (tmp / "x").write_text("x")
            raise ValueError("bad")
    assert os.listdir(tmp_path) == ["result"]


def test_refuses_a_folder_with_other_files_unless_overwriting(tmp_path):
    out = tmp_path / "result"
    out.mkdir()
    (out / "notes.txt").write_text("the user's")
    with pytest.raises(InputError, match="notes.txt.*--overwrite"):
        with result_folder(out):
            pass
    assert os.listdir(out) == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        check_out_dir(tmp_path / "file")
    with result_folder(out, overwrite=True) as tmp:
        (tmp / "mesh.glb").write_bytes(b"new")
    assert os.listdir(out) == ["mesh.glb"]
    assert check_out_dir(tmp_path / "pipeline", log_name="train.log") == tmp_path / "pipeline"
