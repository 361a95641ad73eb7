"""Category collections: many objects of one kind, each rendered from several random views.

A collection is what category models train on (the reconstruction network, the category GAN, the
single-image encoder). Blender renders it (``scripts/render_collection.py``) from a folder of the user's
meshes or from a procedural generator; any tool may write one by following this layout:

    COLLECTION/
      collection.json         {"format": "texforge-collection", "version": 1, "source": ..., "seed": ...,
                               "views": V, "size": [W, H], "split": {"train": [ids], "heldout": [ids]},
                               "camera_distribution": {...}}   (see CameraDistribution)
      render.json             (written by render_collection.py) the render settings a resumed run must match
      objects/<id>/           one multi-view dataset per object, readable by load_dataset():
        transforms.json       all V views with their exact cameras
        images/000.png ...    RGBA renders, alpha = coverage
        gt_mesh.ply           the rendered surface (for Chamfer)
        object.json           how the object was made (generator parameters or source file)

Objects are normalised before rendering: centred at the origin (bounding-box centre) and scaled so that
their bounding sphere has radius 1, with +Z up (Blender's world). Category models therefore work in one
canonical frame, and cameras look at the origin from ``camera_distribution``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import write_text
from ..geometry.layouts import direction, look_at
from ..runtime.errors import InputError
from .format_header import read_format_header

COLLECTION_FORMAT = "texforge-collection"
COLLECTION_VERSION = 1


@dataclass(frozen=True)
class CameraDistribution:
    """Where a collection's cameras are: uniform azimuth, uniform elevation and distance ranges, one
    vertical field of view; every camera looks at the origin with +Z up. Category models sample
    training and evaluation views from the same distribution (seed 002's random-camera renders)."""

    azimuth_deg: tuple[float, float] = (0.0, 360.0)
    elevation_deg: tuple[float, float] = (-10.0, 40.0)
    distance: tuple[float, float] = (2.6, 3.4)
    fov_deg: float = 40.0

    def intrinsics(self, width: int, height: int) -> np.ndarray:
        """K (3, 3) for a W x H image (square pixels, centred principal point)."""
        f = 0.5 * height / math.tan(math.radians(self.fov_deg) / 2)
        return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])

    def pose(self, azimuth_deg: float, elevation_deg: float, distance: float) -> tuple[np.ndarray, np.ndarray]:
        """R (3, 3), t (3,) OpenCV world-to-camera of one camera on the distribution's sphere."""
        eye = distance * direction(azimuth_deg, elevation_deg)
        return look_at(eye, np.zeros(3))

    def ring(self, azimuths_deg, width: int, height: int, elevation_deg: float | None = None,
             distance: float | None = None):
        """Cameras at the given azimuths, at the distribution's middle elevation and distance unless
        given (sample sheets, turntables for KID) -> (K (N,3,3), R (N,3,3), t (N,3))."""
        el = float(np.mean(self.elevation_deg)) if elevation_deg is None else elevation_deg
        r = float(np.mean(self.distance)) if distance is None else distance
        poses = [self.pose(float(a), el, r) for a in azimuths_deg]
        K = np.repeat(self.intrinsics(width, height)[None], len(poses), axis=0)
        return K, np.stack([p[0] for p in poses]), np.stack([p[1] for p in poses])

    def sample(self, count: int, rng: np.random.Generator, width: int, height: int):
        """``count`` random cameras -> (K (N,3,3), R (N,3,3), t (N,3), spherical (N,3) az/el/dist)."""
        az = rng.uniform(*self.azimuth_deg, size=count)
        el = rng.uniform(*self.elevation_deg, size=count)
        dist = rng.uniform(*self.distance, size=count)
        poses = [self.pose(a, e, d) for a, e, d in zip(az, el, dist)]
        K = np.repeat(self.intrinsics(width, height)[None], count, axis=0)
        R = np.stack([p[0] for p in poses])
        t = np.stack([p[1] for p in poses])
        return K, R, t, np.stack([az, el, dist], axis=1)

    @classmethod
    def from_json(cls, data: dict) -> "CameraDistribution":
        known = {k: data[k] for k in ("azimuth_deg", "elevation_deg", "distance", "fov_deg") if k in data}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in known.items()})


@dataclass
class Collection:
    """A collection folder's header: object ids by split, image size and camera distribution."""

    root: Path
    train: list[str]
    heldout: list[str]
    views: int
    size: tuple[int, int]
    cameras: CameraDistribution = field(default_factory=CameraDistribution)
    source: str = ""
    seed: int = 0

    def object_dir(self, object_id: str) -> Path:
        return self.root / "objects" / object_id

    def ids(self, split: str = "train") -> list[str]:
        if split not in ("train", "heldout"):
            raise ValueError(f"split must be 'train' or 'heldout', not {split!r}")
        return self.train if split == "train" else self.heldout

    def header(self) -> dict:
        return {"format": COLLECTION_FORMAT, "version": COLLECTION_VERSION, "source": self.source,
                "seed": self.seed, "views": self.views, "size": list(self.size),
                "split": {"train": list(self.train), "heldout": list(self.heldout)},
                "camera_distribution": {k: list(v) if isinstance(v, tuple) else v
                                        for k, v in asdict(self.cameras).items()}}


def write_collection_header(collection: Collection) -> Path:
    """Write ``collection.json`` atomically (the renderer rewrites it as objects finish)."""
    path = collection.root / "collection.json"
    write_text(path, json.dumps(collection.header(), indent=2))
    return path


def read_collection(path, require_objects: bool = True) -> Collection:
    """Read a collection folder's header. Raises InputError, naming the folder, when it is not a
    collection, is of another version, holds no training objects, or (``require_objects``) lists an
    object whose folder or transforms.json is missing."""
    root = Path(path)
    header_path, data = read_format_header(root, "collection.json", COLLECTION_FORMAT, COLLECTION_VERSION, "collection",
                                           "render one with scripts/render_collection.py")
    try:
        split = data["split"]
        collection = Collection(root=root, train=[str(i) for i in split["train"]],
                                heldout=[str(i) for i in split.get("heldout", [])], views=int(data["views"]),
                                size=(int(data["size"][0]), int(data["size"][1])),
                                cameras=CameraDistribution.from_json(data.get("camera_distribution", {})),
                                source=str(data.get("source", "")), seed=int(data.get("seed", 0)))
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise InputError(f"{header_path}: malformed collection header ({err!r})") from err
    if not collection.train:
        raise InputError(f"{header_path}: the collection has no training objects")
    if require_objects:
        for object_id in collection.train + collection.heldout:
            if not (collection.object_dir(object_id) / "transforms.json").is_file():
                raise InputError(f"{root}: object {object_id!r} is listed but objects/{object_id}/transforms.json "
                                 "is missing (an interrupted render? run render_collection.py again to resume)")
    return collection


def load_object(collection: Collection, object_id: str, max_size: int | None = None, device=None,
                background=(0.0, 0.0, 0.0)):
    """One object's views -> MultiViewDataset (all V views, exact cameras, masks from alpha)."""
    from .transforms_io import load_dataset

    return load_dataset(collection.object_dir(object_id), "train", max_size=max_size, device=device,
                        background=background, mask_source="ALPHA")
