"""kaolin's legacy camera helpers and ``prepare_vertices`` (vertices -> per-face camera/image coords).

kaolin's legacy camera looks down its -z axis; ``perspective_camera`` divides by z with the projection
vector ``(1 / (ratio * tan(fovy / 2)), 1 / tan(fovy / 2), -1)``, so ``x_ndc = -x * p0 / z``. The
project's own cameras live in :mod:`texforge.render.camera`; these helpers exist for kaolin-compatible
code and its conformance data.
"""

from __future__ import annotations

import math

import torch


def generate_perspective_projection(fovyangle: float, ratio: float = 1.0, dtype=torch.float32) -> torch.Tensor:
    """(3, 1) projection vector of a pinhole camera with vertical field of view ``fovyangle`` (radians)."""
    tanfov = math.tan(fovyangle / 2.0)
    return torch.tensor([[1.0 / (ratio * tanfov)], [1.0 / tanfov], [-1.0]], dtype=dtype)


def generate_rotate_translate_matrices(camera_position: torch.Tensor, look_at: torch.Tensor,
                                       camera_up_direction: torch.Tensor):
    """Look-at rotation (B, 3, 3) (rows: camera x, y, z axes in world) and translation (B, 3, 1)."""
    z_axis = camera_position - look_at
    z_axis = z_axis / z_axis.norm(dim=1, keepdim=True)
    x_axis = torch.cross(camera_up_direction, z_axis, dim=1)
    x_axis = x_axis / x_axis.norm(dim=1, keepdim=True)
    y_axis = torch.cross(z_axis, x_axis, dim=1)
    y_axis = y_axis / y_axis.norm(dim=1, keepdim=True)
    return torch.stack((x_axis, y_axis, z_axis), dim=1), camera_position.unsqueeze(-1)


def rotate_translate_points(points: torch.Tensor, camera_rot: torch.Tensor, camera_trans: torch.Tensor):
    """``R (p - T)``: points (B, P, 3), camera_rot (B, 3, 3), camera_trans (B, 3, 1) -> (B, P, 3)."""
    return torch.matmul(points - camera_trans.reshape(-1, 1, 3), camera_rot.permute(0, 2, 1))


def perspective_camera(points: torch.Tensor, camera_proj: torch.Tensor) -> torch.Tensor:
    """Camera-space points (B, P, 3) -> image-plane NDC (B, P, 2) with a (3, 1) projection vector."""
    projected = points * camera_proj.reshape(-1, 1, 3)
    return projected[..., :2] / projected[..., 2:3]


def index_vertices_by_faces(vertices_features: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(B, V, D) per-vertex values, faces (F, 3) -> (B, F, 3, D)."""
    return vertices_features[:, faces]


def face_normals(face_vertices: torch.Tensor, unit: bool = False) -> torch.Tensor:
    """(B, F, 3, 3) face corners -> (B, F, 3) normals ``(v1 - v0) x (v2 - v0)`` (CCW gives +normal).

    With ``unit`` the normals are normalised; zero-area faces keep a zero normal (no NaN)."""
    n = torch.cross(face_vertices[:, :, 1] - face_vertices[:, :, 0],
                    face_vertices[:, :, 2] - face_vertices[:, :, 0], dim=-1)
    if unit:
        n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return n


def prepare_vertices(vertices: torch.Tensor, faces: torch.Tensor, camera_proj: torch.Tensor,
                     camera_rot: torch.Tensor | None = None, camera_trans: torch.Tensor | None = None,
                     camera_transform: torch.Tensor | None = None):
    """kaolin's ``prepare_vertices``: move vertices to the cameras, project them, index them by faces.

    Args:
        vertices: (B, V, 3) (or (V, 3), broadcast to the camera batch).
        faces: (F, 3) int64.
        camera_proj: (3, 1) projection vector (:func:`generate_perspective_projection`).
        camera_rot, camera_trans: (B, 3, 3) and (B, 3, 1), or
        camera_transform: (B, 4, 3) applied as ``[p, 1] @ T`` instead.
    Returns:
        face_vertices_camera (B, F, 3, 3), face_vertices_image (B, F, 3, 2), face_normals (B, F, 3)
        unit normals in camera space (use ``[..., 2]`` as ``face_normals_z`` for culling).
    """
    if camera_transform is None:
        if camera_rot is None or camera_trans is None:
            raise ValueError("give camera_rot and camera_trans, or camera_transform")
        batch = camera_rot.shape[0]
        if vertices.dim() == 2:
            vertices = vertices.unsqueeze(0).expand(batch, -1, -1)
        vertices_camera = rotate_translate_points(vertices, camera_rot, camera_trans)
    else:
        if camera_rot is not None or camera_trans is not None:
            raise ValueError("camera_rot and camera_trans must be None when camera_transform is given")
        if vertices.dim() == 2:
            vertices = vertices.unsqueeze(0).expand(camera_transform.shape[0], -1, -1)
        padded = torch.nn.functional.pad(vertices, (0, 1), mode="constant", value=1.0)
        vertices_camera = padded @ camera_transform
    vertices_image = perspective_camera(vertices_camera, camera_proj.to(vertices_camera))
    face_vertices_camera = index_vertices_by_faces(vertices_camera, faces)
    face_vertices_image = index_vertices_by_faces(vertices_image, faces)
    normals = face_normals(face_vertices_camera, unit=True)
    return face_vertices_camera, face_vertices_image, normals
