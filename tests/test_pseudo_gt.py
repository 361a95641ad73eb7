"""Per-view pseudo-ground-truth textures: the file format, and building them from a multi-view result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from texforge.runtime.errors import InputError
from texforge.texture.pseudo_gt import FILE_NAME, load_pseudo_gt, save_pseudo_gt


def test_pseudo_gt_file_round_trips_in_the_shared_format(tmp_path):
    from safetensors import safe_open

    rng = np.random.default_rng(0)
    tex = rng.random((3, 8, 16, 3)).astype(np.float32)
    vis = (rng.random((3, 8, 16)) > 0.5).astype(np.float32)
    path = save_pseudo_gt(tmp_path, tex, vis, ["a", "b", "c"], (16, 8))
    assert path == tmp_path / FILE_NAME
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]          # no temporary left behind
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        assert str(f.get_tensor("textures").dtype) == "torch.float16"
        assert tuple(f.get_tensor("visibility").shape) == (3, 8, 16)
    assert meta["format"] == "texforge-pseudo-gt" and meta["version"] == "1"
    assert json.loads(meta["names"]) == ["a", "b", "c"] and meta["texture_size"] == "16,8"
    t2, v2, names, meta2 = load_pseudo_gt(tmp_path)
    assert t2.dtype == np.float32 and names == ["a", "b", "c"] and meta2["texture_size"] == (16, 8)
    assert np.abs(t2 - tex).max() < 1e-3 and np.array_equal(v2, vis)


def test_pseudo_gt_bad_files_name_the_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_pseudo_gt(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00garbage not safetensors")
    with pytest.raises(InputError, match="junk.safetensors.*corrupt"):
        load_pseudo_gt(junk)
    from safetensors.torch import save_file
    import torch

    other = tmp_path / "other.safetensors"
    save_file({"textures": torch.zeros(1, 2, 2, 3)}, str(other), metadata={"format": "something-else"})
    with pytest.raises(InputError, match="other.safetensors is not a texforge pseudo-ground-truth"):
        load_pseudo_gt(other)
    with pytest.raises(ValueError):
        save_pseudo_gt(tmp_path / "x.safetensors", np.zeros((2, 4, 4, 3)), np.zeros((2, 4, 4)), ["only one"])
    assert not (tmp_path / "x.safetensors").exists()
