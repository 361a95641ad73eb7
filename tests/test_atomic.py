"""Atomic outputs: complete or absent, ordinary permissions, nothing left behind on failure."""

import os
import stat

import pytest

from texforge.atomic import atomic_file, atomic_folder, atomic_path, write_text


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_file_appears_complete_with_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        p = write_text(tmp_path / "a.json", "{}")
        assert p.read_text() == "{}" and _mode(p) == 0o644
    finally:
        os.umask(umask)


def test_failed_file_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    p = write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_file(p, "w") as f:
            f.write("half")
            raise RuntimeError("boom")
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]


def test_folder_is_renamed_only_on_success(tmp_path):
    out = tmp_path / "result"
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(out) as tmp:
            (tmp / "mesh.glb").write_bytes(b"x")
            raise KeyboardInterrupt
    assert not out.exists() and os.listdir(tmp_path) == []
    with atomic_folder(out) as tmp:
        (tmp / "mesh.glb").write_bytes(b"x")
    assert (out / "mesh.glb").read_bytes() == b"x" and os.listdir(tmp_path) == ["result"]


def test_folder_refuses_a_non_empty_destination_unless_overwriting(tmp_path):
    out = tmp_path / "result"
    out.mkdir()
    (out / "user_file.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        with atomic_folder(out):
            pass
    assert (out / "user_file.txt").read_text() == "mine"
    with atomic_folder(out, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(os.listdir(out)) == ["new.txt"]


def test_path_for_a_named_writer_gets_ordinary_permissions(tmp_path):
    """Exporters write to a file name they are given: the temp name (mkstemp, 0600) must not leak its mode."""
    umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "asset.glb", suffix=".glb") as tmp:
            assert tmp.name.endswith(".glb") and tmp.parent == tmp_path
            tmp.write_bytes(b"glTF")
        with atomic_folder(tmp_path / "result") as folder:
            (folder / "mesh.glb").write_bytes(b"x")
    finally:
        os.umask(umask)
    assert _mode(tmp_path / "asset.glb") == 0o644 and _mode(tmp_path / "result") == 0o755
    assert _mode(tmp_path / "result" / "mesh.glb") == 0o644
    assert sorted(os.listdir(tmp_path)) == ["asset.glb", "result"]


def test_path_never_replaces_a_file_that_appears_meanwhile(tmp_path):
    out = tmp_path / "asset.glb"
    with pytest.raises(FileExistsError, match="asset.glb"):
        with atomic_path(out, overwrite=False) as tmp:
            tmp.write_bytes(b"ours")
            out.write_bytes(b"theirs")  # e.g. the user saved a file of that name while we exported
    assert out.read_bytes() == b"theirs" and os.listdir(tmp_path) == ["asset.glb"]
    with pytest.raises(FileExistsError):
        with atomic_path(out, overwrite=False):
            pytest.fail("the block must not run when the destination exists")
    with atomic_path(out) as tmp:
        tmp.write_bytes(b"ours")
    assert out.read_bytes() == b"ours" and os.listdir(tmp_path) == ["asset.glb"]
