"""The collection header every category model reads: round trip, camera sampling, clear errors."""

import json

import numpy as np
import pytest

from texforge.data.collection import CameraDistribution, Collection, read_collection, write_collection_header
from texforge.runtime.errors import InputError


def _collection(tmp_path, train=("a", "b"), heldout=("c",)):
    c = Collection(root=tmp_path, train=list(train), heldout=list(heldout), views=4, size=(64, 64),
                   cameras=CameraDistribution(elevation_deg=(0.0, 30.0)), source="procedural:vase", seed=3)
    write_collection_header(c)
    return c


def test_header_round_trips(tmp_path):
    c = _collection(tmp_path)
    back = read_collection(tmp_path, require_objects=False)
    assert back.header() == c.header()
    assert back.cameras.elevation_deg == (0.0, 30.0)


def test_sampled_cameras_look_at_the_origin_from_the_distribution():
    dist = CameraDistribution(distance=(2.0, 3.0), elevation_deg=(10.0, 20.0))
    K, R, t, sph = dist.sample(50, np.random.default_rng(0), 64, 48)
    centres = -np.einsum("nji,nj->ni", R, t)  # C = -R^T t
    radii = np.linalg.norm(centres, axis=1)
    assert np.allclose(radii, sph[:, 2]) and radii.min() >= 2.0 and radii.max() <= 3.0
    elev = np.degrees(np.arcsin(centres[:, 2] / radii))
    assert elev.min() >= 10.0 - 1e-6 and elev.max() <= 20.0 + 1e-6
    # the origin projects to the principal point of every camera
    cam = t  # R @ 0 + t
    px = np.einsum("nij,nj->ni", K, cam)
    assert np.allclose(px[:, :2] / px[:, 2:], [32.0, 24.0], atol=1e-6)


def test_bad_collections_give_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no such collection"):
        read_collection(tmp_path / "missing")
    with pytest.raises(InputError, match="no collection.json"):
        read_collection(tmp_path)
    (tmp_path / "collection.json").write_text("{not json")
    with pytest.raises(InputError, match="unreadable"):
        read_collection(tmp_path)
    (tmp_path / "collection.json").write_text(json.dumps({"format": "texforge-collection", "version": 9}))
    with pytest.raises(InputError, match="version 9"):
        read_collection(tmp_path)
    _collection(tmp_path, train=())
    with pytest.raises(InputError, match="no training objects"):
        read_collection(tmp_path)
    _collection(tmp_path)
    with pytest.raises(InputError, match="objects/a/transforms.json is missing"):
        read_collection(tmp_path)


def test_a_batch_of_deformation_maps_gives_each_maps_own_mesh():
    import torch

    from texforge.mesh.model import DeformationMapModel
    from texforge.mesh.template import convmesh_sphere

    t = convmesh_sphere()
    model = DeformationMapModel(*(torch.as_tensor(a) for a in (t.vertices, t.faces, t.uvs, t.face_uvs)))
    maps = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 0.1
    batch = model.vertices_of(maps)
    for i in range(3):
        with torch.no_grad():
            model.displacement_map.copy_(maps[i:i + 1])
        assert torch.allclose(batch[i], model.vertices(), atol=1e-6)
