"""A collection's views in memory at the network's working size: every object's V images, masks and
exact cameras, with each camera's azimuth / elevation / distance (cameras look at the origin)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...data.collection import Collection, load_object
from ...nets.category_recon import spherical_of_cameras
from ...render.camera import Cameras
from ...runtime.errors import InputError
from ...runtime.progress import ProgressFn, ShouldStopFn, check_stop, never_stop, no_progress


@dataclass
class CollectionViews:
    """images (N, V, 3, S, S) in [0, 1] on a black background; masks (N, V, S, S); K, R, t (N, V, 3, 3 /
    3, 3 / 3) at S x S; spherical (N, V, 3) azimuth, elevation (degrees), distance; ids (N,)."""

    ids: list[str]
    images: torch.Tensor
    masks: torch.Tensor
    K: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor
    spherical: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])

    def cameras(self, obj: torch.Tensor, view: torch.Tensor) -> Cameras:
        """Cameras of views ``view`` (B,) of objects ``obj`` (B,)."""
        return Cameras(self.K[obj, view], self.R[obj, view], self.t[obj, view], self.size, self.size)

    def to(self, device) -> CollectionViews:
        return CollectionViews(self.ids, *(x.to(device) for x in (self.images, self.masks, self.K, self.R,
                                                                  self.t, self.spherical)))


def load_collection_views(collection: Collection, ids: list[str], size: int, progress: ProgressFn = no_progress,
                          should_stop: ShouldStopFn = never_stop) -> CollectionViews:
    """Read objects ``ids`` of ``collection`` at ``size`` x ``size`` (InputError naming the object when
    its views are not square, differ in number, or cannot be read)."""
    if not ids:
        raise InputError(f"{collection.root}: no objects to load")
    images, masks, Ks, Rs, ts = [], [], [], [], []
    for k, object_id in enumerate(ids):
        check_stop(should_stop)
        ds = load_object(collection, object_id, max_size=size)
        h, w = ds.images.shape[1:3]
        if h != w:
            raise InputError(f"{collection.object_dir(object_id)}: views are {w}x{h}; category models need square views")
        if images and len(ds) != images[0].shape[0]:
            raise InputError(f"{collection.object_dir(object_id)}: {len(ds)} views, the other objects have "
                             f"{images[0].shape[0]}")
        img = torch.as_tensor(ds.images).permute(0, 3, 1, 2).float()
        msk = torch.as_tensor(ds.masks).float().unsqueeze(1)
        cams = ds.cameras
        if w != size:
            img = F.interpolate(img, size=(size, size), mode="bilinear", align_corners=False, antialias=w > size)
            msk = F.interpolate(msk, size=(size, size), mode="bilinear", align_corners=False, antialias=w > size)
            cams = cams.resized(size, size)
        images.append(img.clamp(0, 1))
        masks.append(msk[:, 0].clamp(0, 1))
        Ks.append(cams.K.float()), Rs.append(cams.R.float()), ts.append(cams.t.float())
        progress((k + 1) / len(ids), f"loading {k + 1}/{len(ids)} objects")
    R, t = torch.stack(Rs), torch.stack(ts)
    centers = -(R.transpose(-1, -2) @ t.unsqueeze(-1)).squeeze(-1)
    return CollectionViews(list(ids), torch.stack(images), torch.stack(masks), torch.stack(Ks), R, t,
                           spherical_of_cameras(centers))
