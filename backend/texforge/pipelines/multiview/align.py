"""Camera alignment through the mesh: the colours that the views see at the same surface points
should agree, and each camera correction is moved until they do.

Silhouettes cannot see a camera orbiting about a near-symmetry axis of the object (a fruit, a barrel,
a bottle): only the texture can. The joint fit's learned texture helps little there, because it is
learned from every view at once and absorbs part of each view's misalignment. Here the mesh is frozen;
surface points are taken at the texels of its UV chart, and every view samples its image (bilinearly)
where it sees each point, with the visibility weights of the texture projection (depth test, facing,
away from the silhouette border; computed once per round). The residuals are each view's colours
minus their weighted consensus (Charbonnier weights, iteratively reweighted) and its soft silhouette
minus its mask, both normalised per view like the fit's losses, plus the rig prior. Each view's
correction takes Gauss-Newton steps with the consensus held fixed within a step; the consensus includes
the view itself, so views that err in opposite directions meet instead of swapping places (matching
each view to a texture made by the others alone oscillates).

Measured (tests/test_camera_alignment.py, docs/BENCHMARKS.md): it corrects part of an orbit about a
symmetry axis (6 deg -> ~4 deg where silhouettes leave 5.85), not all of it; off by default.

The gauge stays a world similarity (``CameraRig.fix_gauge`` after every step), and the object-shift
mode along the rig's weak axis stays pinned as in the fit (a ring pitching together while the object
moves up or down). A common turn of all cameras about their own centres is also nearly null when the
object is symmetric (a common pan = a gauge turn plus a common orbit); the rig prior and the capped,
damped steps keep it from drifting.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...texture import project_each_view, uv_rasterize
from .fit import render


@torch.no_grad()
def surface_samples(run, views: list[int], resolution: int, tex_size):
    """Surface points (P, 3) at the texels of the current mesh's UV chart that at least two of
    ``views`` see, and the views' projection weights there (len(views), P)."""
    images, masks, size = run.level(resolution)
    depth, hard, _, cams = run.render_all(size)
    verts = run.mesh.vertices()
    pts, nrm, covered = uv_rasterize(verts, run.mesh.faces, run.mesh.uvs, run.mesh.face_uvs, run.mesh.normals(),
                                     tuple(tex_size))
    fp, fn = pts[covered], nrm[covered]
    v = torch.as_tensor(views, device=run.device)
    _, weights = project_each_view(fp, fn, cams[v], images[v], masks[v], depth[v], hard[v], run.radius,
                                   run.cfg.texture_cos_power, run.cfg.texture_border_px, run.cfg.texture_erode_px,
                                   check=run.check)
    shared = (weights > 0).sum(0) >= 2
    return fp[shared], weights[:, shared]


def _sample_colours(cams, images: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """The colours (N, P, 3) that images (N, H, W, 3) show at points (P, 3) through cams (bilinear)."""
    pix, _ = cams.project(points)                                        # (N, P, 2)
    grid = torch.stack([2.0 * pix[..., 0] / cams.width - 1.0, 2.0 * pix[..., 1] / cams.height - 1.0], -1)
    return F.grid_sample(images.permute(0, 3, 1, 2), grid.unsqueeze(1), mode="bilinear", padding_mode="border",
                         align_corners=False)[:, :, 0].permute(0, 2, 1)


def _residuals(run, act_t, size, images, masks, points, weights, mean, verts, cfg):
    """Per-view residual vectors (N, M): the colours each view samples at the surface points minus
    their consensus ``mean`` (scaled by the square root of the view's weight) and its soft silhouette
    minus its mask (scaled by the square root of the silhouette weight)."""
    cams = run.rig(act_t, size)
    col = _sample_colours(cams, images, points)
    # normalised per view like the fit's losses (means, not sums), so the rig prior weighs the same
    wn = weights / weights.sum(1, keepdim=True).clamp_min(1e-12)
    photo = (col - mean) * (cfg.camera_align_photo * wn).sqrt().unsqueeze(-1)
    out = render(run.mesh, verts, cams, None, 0.5)
    area = masks.sum((1, 2), keepdim=True).clamp_min(1.0)
    sil = (out.soft_mask - masks) * (cfg.camera_align_silhouette / area).sqrt()
    return torch.cat([photo.flatten(1), sil.flatten(1)], 1)


@torch.no_grad()
def align_cameras(run, resolution: int, label: str = "camera alignment") -> None:
    """Correct the active views' cameras so that the colours they see at the same surface points
    agree (see the module docstring); the mesh is not changed. Damped Gauss-Newton steps per view
    (6 parameters each; the colour consensus held fixed within a step, so views decouple and one
    finite-difference pass per parameter gives every view's Jacobian at once). Adam on the summed
    loss crawls here: the colours pull along image shifts that the silhouettes push back, and the
    orbit that satisfies both is a narrow valley. Settings: ``MultiviewConfig.camera_align_*``."""
    cfg = run.cfg
    act = list(run.active)
    rounds = max(1, int(cfg.camera_align_rounds))
    top = min(resolution, cfg.camera_align_max_resolution)
    levels = [max(32, top // 2 ** (rounds - 1 - r)) for r in range(rounds)]
    act_t = torch.as_tensor(act, device=run.device)
    verts = run.mesh.vertices().detach()
    trust = cfg.trust
    # the rig prior as residuals: sqrt(weight) * correction, squared (the fit's is squared only up to
    # camera_prior_scale; the robust prior was measured with this solve as it is)
    prior_rot = (trust.prior * cfg.camera_prior) ** 0.5
    prior_pos = (trust.prior * cfg.camera_prior_pos) ** 0.5
    eps_fd = 1e-3                                    # radians / fraction of the distance
    for r, res in enumerate(levels):
        images, _, size = run.level(res)
        points, weights = surface_samples(run, act, res, cfg.camera_align_texture_size)
        im, mk = images[act_t], run.silhouette_targets(res)[act_t]   # the fit's silhouette targets
        for it in range(int(cfg.camera_align_steps)):
            run.check()
            col = _sample_colours(run.rig(act_t, size), im, points)
            mean = (weights.unsqueeze(-1) * col).sum(0) / weights.sum(0).clamp_min(1e-12).unsqueeze(-1)
            # robust: Charbonnier as iteratively reweighted least squares on the colour residuals
            dist = (col - mean).norm(dim=-1)
            w = weights * cfg.camera_align_robust / (dist ** 2 + cfg.camera_align_robust ** 2).sqrt()
            r0 = _residuals(run, act_t, size, im, mk, points, w, mean, verts, cfg)
            J = []
            for param in (run.rig.rot, run.rig.pos):
                for k in range(3):
                    param[act_t, k] += eps_fd
                    rp = _residuals(run, act_t, size, im, mk, points, w, mean, verts, cfg)
                    param[act_t, k] -= 2 * eps_fd
                    rm = _residuals(run, act_t, size, im, mk, points, w, mean, verts, cfg)
                    param[act_t, k] += eps_fd
                    J.append((rp - rm) / (2 * eps_fd))
            J = torch.stack(J, -1)                                           # (N, M, 6)
            theta = torch.cat([run.rig.rot[act_t], run.rig.pos[act_t]], -1)  # (N, 6)
            pw = torch.tensor([prior_rot] * 3 + [prior_pos] * 3, dtype=J.dtype, device=J.device) ** 2
            H = J.transpose(1, 2) @ J + torch.diag_embed(pw.expand_as(theta))
            g = (J.transpose(1, 2) @ r0.unsqueeze(-1)).squeeze(-1) + pw * theta
            lm = cfg.camera_align_damping * torch.diagonal(H, dim1=1, dim2=2).mean(-1, keepdim=True)
            H = H + torch.diag_embed(lm.expand_as(theta))
            # relaxed: all views move at once toward a consensus that they are part of (a full step
            # overshoots where neighbours err in opposite directions)
            delta = -cfg.camera_align_relax * torch.linalg.solve(H, g.unsqueeze(-1)).squeeze(-1)
            # steps are capped: a wrong consensus early on must not throw a camera far
            cap = cfg.camera_align_max_step
            delta = delta * (cap / delta.abs().amax(-1, keepdim=True).clamp_min(cap))
            run.rig.rot[act_t] += delta[:, :3]
            run.rig.pos[act_t] += delta[:, 3:]
            run.rig.fix_gauge(pin_object_shift=True)
            run.progress(run.progress.last, f"{label} {r + 1}/{rounds} at {res} px: step {it + 1}, "
                                            f"colour error {float(dist.mean()):.4f}")
