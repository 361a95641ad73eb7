"""Gauge-fixed per-view camera corrections (the camera rig a fit optimises).

Corrections are parameterised in the world frame: camera i is rotated about its own centre by
``Exp(w_i)`` and its centre moves by ``dist * d_i``:  R_i' = R_i Exp(w_i),  c_i' = c_i + dist * d_i.
Images alone cannot tell a rig (with the object) from a rotated / shifted / scaled copy of it
(7 gauge freedoms), so after every optimiser step :meth:`CameraRig.fix_gauge` projects those 7
directions out of the corrections of the active views: the corrected rig stays in the input
cameras' world frame, and the object where the photos see it.

Three more directions are nearly null: the object shifting by ``delta`` while every camera turns
about its own centre to keep it where it was in the image. A camera sees the part of ``delta`` along
its viewing axis (the object's image grows or shrinks); the rest only through perspective inside the
object's depth. So a shift along a direction that no camera looks along is close to invisible: for a
ring of cameras around an object, its axis (the ring pitching together while the object moves up).
Fits drift along it, driven by the coarse mesh's shape error rather than by the photos (exact
cameras, barrel, 64 px: the object rose 7 % of its height, spot 4 %; with noisy cameras the held-out
renders then sat 4 px too high). ``fix_gauge(pin_object_shift=True)`` projects out that one direction,
the weakest axis of the viewing directions when it is clearly weaker than the others (one or a few
rings of cameras at low elevations), keeping the input cameras' mean pointing along it; rigs that
look from all around have no such axis and nothing more is pinned (docs/BENCHMARKS.md, "Camera
correction on near-symmetric objects"). A pin keeps the input rig's mean error along the mode, which
the photos tell better once the mesh is fine: the small and full presets free it in their last stage
(``config.FREE_PITCH``; docs/BENCHMARKS.md, "What a perfect camera correction would score").

An orbit of one camera about the object centre (a turn and a sideways shift of the centre in a fixed
ratio) is what silhouettes cannot see on a near-symmetric object, and only the texture corrects it.
Adam steps ``rot`` and ``pos`` each by their own normalised amount, so it moves along that narrow
valley only slowly (the pan across it is stiff); the ``orbit`` parameter is a third, redundant
coordinate for exactly that motion. It is zero whenever a loss is taken and is folded into ``rot``
and ``pos`` after every step (:meth:`CameraRig.fold_orbit`), so the corrections, the gauge and the
prior stay those of ``rot`` and ``pos`` (on the three near-symmetric scenes the rotation error
ratio fell from 0.66-0.76 to 0.31-0.43: docs/BENCHMARKS.md, "Orbit steps"). A prior that also saw
the pending orbit held exact input cameras better (bottle: moved 0.21 deg instead of 0.64) but held
noisy ones just as firmly, and every rotation error ratio got worse (docs/BENCHMARKS.md, "What moves
the orbit").
Each camera's focal length can be corrected too, by the factor ``exp(focal_i)``; the multi-view fit
does so on request (``MultiviewConfig.refine_focal``: focal lengths guessed or read from EXIF).
Without it a fit explains a focal error by moving the camera along its axis, which leaves its centre
off by that share of the distance and, at 10 % focal noise, bends the mesh (docs/BENCHMARKS.md,
"Focal-length noise"). A zoom of all cameras together is nearly invisible beside a change of the
object's size, so, like the gauge, the mean of the active views' focal corrections is kept at zero:
the input focal lengths set the scale.
"""

from __future__ import annotations

import torch
from torch import nn

from ..render.camera import Cameras
from ..geometry.rotations import matrix_to_rotvec
from ..render.pose import axis_angle_to_matrix
from ..runtime.determinism import lstsq


class CameraRig(nn.Module):
    """Learnable world-frame corrections of N cameras with a fixed gauge (see module docstring).

    Parameters: ``rot`` (N, 3) axis-angle, ``pos`` (N, 3) centre shift in units of the mean camera
    distance to the object centre."""

    def __init__(self, cameras: Cameras, centre: torch.Tensor):
        super().__init__()
        self.base = cameras.detach()
        self.centre = centre.detach().to(cameras.K)
        n = len(cameras)
        self.rot = nn.Parameter(torch.zeros(n, 3, dtype=cameras.K.dtype, device=cameras.device))
        self.pos = nn.Parameter(torch.zeros(n, 3, dtype=cameras.K.dtype, device=cameras.device))
        # each camera's orbit about the object centre: zero whenever a loss is taken, folded into rot /
        # pos after every step (fold_orbit); see the module docstring
        self.orbit = nn.Parameter(torch.zeros(n, 3, dtype=cameras.K.dtype, device=cameras.device))
        # log of each camera's focal-length correction (see the module docstring); frozen unless a fit
        # refines it (requires_grad_), so that fits which do not never differentiate through K
        self.focal = nn.Parameter(torch.zeros(n, dtype=cameras.K.dtype, device=cameras.device), requires_grad=False)
        radial = self.base.centers - self.centre
        self.distance = float(radial.norm(dim=-1).mean())
        self.radial_dir = torch.nn.functional.normalize(radial, dim=-1)
        self.register_buffer("active", torch.ones(n, dtype=torch.bool, device=cameras.device))
        self.weak_shift_axis = weak_shift_axis(-self.radial_dir)

    def forward(self, index: torch.Tensor | None = None, size: tuple[int, int] | None = None) -> Cameras:
        """The corrected cameras (all, or the views in ``index``), differentiable in the corrections,
        for images of ``size`` (W, H) (default: the input size)."""
        base, rot, pos, orbit, focal = self.base, self.rot, self.pos, self.orbit, self.focal
        if size is not None and tuple(size) != (base.width, base.height):
            base = base.resized(*size)
        if index is not None:
            base = Cameras(base.K[index], base.R[index], base.t[index], base.width, base.height)
            rot, pos, orbit, focal = rot[index], pos[index], orbit[index], focal[index]
        R, c = self._orbited(base.R @ axis_angle_to_matrix(rot), base.centers + self.distance * pos, orbit)
        t = -(R @ c.unsqueeze(-1)).squeeze(-1)
        focal_entries = torch.diag(torch.tensor([1.0, 1.0, 0.0], dtype=base.K.dtype, device=base.K.device))
        K = base.K * (1.0 + torch.expm1(focal)[:, None, None] * focal_entries)   # exactly K at zero
        return Cameras(K, R, t, base.width, base.height)

    def _orbited(self, R: torch.Tensor, c: torch.Tensor, orbit: torch.Tensor):
        """Cameras (R, c) carried by the rotation ``Exp(orbit)`` about the object centre."""
        O = axis_angle_to_matrix(orbit)
        c = self.centre + (O @ (c - self.centre).unsqueeze(-1)).squeeze(-1)
        return R @ O.transpose(-1, -2), c

    @torch.no_grad()
    def fold_orbit(self) -> None:
        """Move the orbits into the rotation and centre corrections (exactly) and zero them."""
        if not bool((self.orbit != 0).any()):
            return
        R, c = self._orbited(self.base.R @ axis_angle_to_matrix(self.rot), self.base.centers + self.distance * self.pos,
                             self.orbit)
        self.correct_to(R, c)
        self.orbit.zero_()

    @torch.no_grad()
    def correct_to(self, R: torch.Tensor, centers: torch.Tensor) -> None:
        """Set the rotation and centre corrections so that the cameras are ``R`` (N, 3, 3, world to
        camera) at ``centers`` (N, 3)."""
        rel = (self.base.R.transpose(-1, -2) @ R).detach().cpu().double().numpy()    # R' = R Exp(w)
        self.rot.copy_(torch.as_tensor(matrix_to_rotvec(rel)).to(self.rot))
        self.pos.copy_((centers - self.base.centers) / self.distance)

    @torch.no_grad()
    def fix_gauge(self, pin_object_shift: bool = False) -> None:
        """Remove the similarity-transform part of the active views' corrections.

        Images cannot see a rotation / translation / scaling of the whole rig with the object, so those
        7 directions of the correction space are projected out (to first order): a rotation ``omega``
        about the object centre turns every camera by ``-omega`` (in this parameterisation) and orbits
        its centre by ``omega x r_i``; a translation moves every centre alike; a scaling moves them radially.
        A common turn of the cameras about their own centres is NOT a gauge freedom (the object would
        shift in every image) and is kept, so the mean rotation noise of the input can be corrected.
        With ``pin_object_shift`` the turns that follow a shift ``delta`` of the object along
        ``weak_shift_axis`` (``w_i = delta x r_i / |r_i|^2`` with ``r_i`` from camera i to the centre:
        the shifted centre stays on the same ray) are projected out with them (module docstring).
        The mean focal correction of the active views is set to zero as well (module docstring)."""
        a = self.active
        if int(a.sum()) < 3:
            return
        self.focal[a] -= self.focal[a].mean()
        w, p = self.rot[a], self.pos[a]
        m = len(w)
        r = (self.base.centers[a] - self.centre) / self.distance                  # (M, 3)
        pin = pin_object_shift and self.weak_shift_axis is not None
        modes = 8 if pin else 7
        basis = torch.zeros(modes, m, 6, dtype=w.dtype, device=w.device)         # gauge (+ object shift)
        if pin:
            to_centre = self.centre - self.base.centers[a]                        # (M, 3), scene units
            to_centre = to_centre / (to_centre ** 2).sum(-1, keepdim=True)
            axis = self.weak_shift_axis.to(w)
            basis[7, :, :3] = torch.cross(axis.expand_as(to_centre), to_centre, dim=-1)
        eye = torch.eye(3, dtype=w.dtype, device=w.device)
        for k in range(3):
            # the scene turned by omega about the centre: X -> Exp(omega) X is seen identically by
            # R' = R Exp(-omega) (so w = -omega) from c' = c + omega x (c - centre)
            basis[k, :, :3] = -eye[k]
            basis[k, :, 3:] = torch.cross(eye[k].expand_as(r), r, dim=-1)
            basis[3 + k, :, 3 + k] = 1.0                                           # translation
        basis[6, :, 3:] = self.radial_dir[a]                                       # scale
        G = basis.reshape(modes, -1).T                                             # (6M, modes)
        x = torch.cat([w, p], -1).reshape(-1, 1)
        coef = lstsq(G, x)
        x = (x - G @ coef).reshape(m, 6)
        self.rot[a] = x[:, :3]
        self.pos[a] = x[:, 3:]

    def prior(self, pos_weight: float = 1.0, focal_weight: float = 1.0, scale: float | None = None) -> torch.Tensor:
        """Mean size of the active corrections (squared, or pseudo-Huber with ``scale``); ``pos_weight``
        and ``focal_weight`` scale the centre and the (log) focal terms.

        A turn of a camera about its own centre and a sideways shift of it move the object's image
        almost alike (only perspective tells them apart), so without a firm prior on the shift the
        pair drifts together along that near-null direction during long fits. A zoom by ``1 + s`` and
        a move toward the object by ``s`` of the distance are the same kind of pair: the fit splits an
        image's change of scale between them in the ratio of the two weights.

        With ``scale``, each camera's rotation and centre corrections cost the pseudo-Huber
        ``2 scale^2 (sqrt(1 + r^2 / scale^2) - 1)`` of their norms r: r^2 for small corrections, but
        only about ``2 scale r`` beyond the scale. The images' pull on a camera is bounded, so under the
        squared prior a camera that heavy-tailed noise put far off stops partway back; this prior's pull
        never exceeds ``2 scale`` per camera. The focal term stays squared."""
        a = self.active

        def cost(sq: torch.Tensor) -> torch.Tensor:
            if scale is None:
                return sq.mean()
            return (2 * scale ** 2 * (torch.sqrt(1 + sq / scale ** 2) - 1)).mean()

        return (cost((self.rot[a] ** 2).sum(-1)) + pos_weight * cost((self.pos[a] ** 2).sum(-1))
                + focal_weight * (self.focal[a] ** 2).mean())


def weak_shift_axis(view_dirs: torch.Tensor, ratio: float = 0.5) -> torch.Tensor | None:
    """The unit direction that the cameras' viewing directions ``view_dirs`` (N, 3) have least of,
    when its share is below ``ratio`` x the next one's (a ring's axis); None for rigs that look along
    every direction alike. The object-shift mode along it is the one that silhouettes cannot see."""
    v = torch.nn.functional.normalize(view_dirs.double(), dim=-1)
    if len(v) < 3:
        return None
    evals, evecs = torch.linalg.eigh(v.T @ v / len(v))
    if evals[0] >= ratio * evals[1]:
        return None
    return evecs[:, 0].to(view_dirs.dtype)


def gauge_kept(inputs: Cameras, exact: Cameras, centre: torch.Tensor, pin_object_shift: bool = False) -> Cameras:
    """Where a perfect correction of the ``inputs`` ends: the ``exact`` cameras (the same views in the
    same order) moved by the part of the inputs' error that :meth:`CameraRig.fix_gauge` keeps, i.e. the
    rig's similarity transform that no image can see (with ``pin_object_shift``, also the input's
    component along the pinned ring-pitch mode, as in a fit whose last stage pins it). A fit of the
    ``inputs``, however good, keeps that part, and held-out views rendered at the exact cameras carry
    it: fitting to these cameras, held still, measures the best raw held-out figures a draw of noise
    allows (docs/BENCHMARKS.md, "What a perfect camera correction would score")."""
    rig = CameraRig(inputs.to(dtype=torch.float64), centre.to(torch.float64))
    exact = exact.to(device=rig.base.device, dtype=torch.float64)
    rig.correct_to(exact.R, exact.centers)
    with torch.no_grad():
        rig.focal.copy_(torch.log(exact.K[:, 0, 0] / rig.base.K[:, 0, 0]))
        rig.fix_gauge(pin_object_shift)
        kept = rig()
    return kept.to(dtype=inputs.K.dtype)
