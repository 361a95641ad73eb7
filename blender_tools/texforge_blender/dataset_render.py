"""Blender as a multi-view data generator: render a mesh from rings of cameras into a transforms.json set.

Output folder (written into a temporary sibling folder and renamed at the end, so an interrupted run
leaves nothing half-written):

    images/train_000.png ...   RGBA renders, alpha = coverage mask (straight alpha, 8 bit)
    images/test_000.png ...    held-out views
    transforms.json            training views with NOISY cameras (what a user's rough cameras look like)
    transforms_gt.json         the same frames, same order, exact cameras
    transforms_test.json       held-out views, exact cameras (azimuths / elevations between the training ones;
                               not written with holdout 0)
    gt_mesh.ply                the rendered surface in Blender world coordinates (for Chamfer / F-score)
    dataset.json               arguments, seed, per-frame noise, flipped frames, framing

Camera noise (``noise_model``): with "exact" (the default) each noisy training camera is rotated about
its own centre by exactly ``noise_rot`` degrees about a random axis, its centre moved by exactly
``noise_trans`` x camera distance in a random direction, and its focal length scaled by
``1 +- noise_focal`` (random sign). With "gaussian" the same settings are standard deviations: the
angle about the random axis is drawn per camera with sigma ``noise_rot`` (so the rotation vector is
isotropic), each axis of the centre shift with sigma ``noise_trans`` x distance, and the focal scale
is ``1 + noise_focal * z``. "student" draws the same with Student-t variables of ``noise_dof`` degrees
of freedom scaled by the settings (heavy tails: real rigs have a few cameras far off); magnitudes are
capped (angle 180 deg, shift 0.8 x distance, focal scale 0.2) so a camera never lands inside the object.
The draws come from a second generator seeded from ``seed``, so "exact" keeps its old cameras. Frames in ``flip_frames`` are then
turned by 180 degrees about the world up axis through the object centre (a gross error, e.g. a
mislabelled turntable angle). Frames in ``close_frames`` sit ``close_factor`` times as far from the object
(exact and noisy cameras alike), so that the image border cuts the object (a close-up photo).

Exposure (``exposure_sigma``): each training photo's colours are multiplied by a gain whose log is
drawn with sigma ``exposure_sigma``, times a white balance per channel with a sixth of that sigma
(photos exposed one by one, as a phone does), clipped at white like a sensor; the gains are centred
to a geometric mean of one, and the held-out photos keep one. Everything random comes from
``numpy.random.default_rng(seed)`` and streams seeded from it, so a seed gives the same cameras,
noise and exposures every time.

Cameras are the backend's (K, R, t OpenCV world-to-camera); transforms.json is written through
``texforge.data.transforms_io.write_transforms`` (per-frame fl_x / fl_y / cx / cy / w / h and
transform_matrix, plus camera_angle_x). Only the main thread may call this module.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from texforge.geometry.layouts import cameras_for, holdout_layout, ring_layout
from texforge.geometry.rotations import axis_angle, random_unit
from . import render_views

EXAMPLE = "example"
NOISE_MODELS = ("exact", "gaussian", "student")
_MAX_SHIFT = 0.8        # random centre shifts are capped at this fraction of the camera distance
_MIN_FOCAL_SCALE = 0.2
DATASET_VERSION = 1


@dataclass
class DatasetSpec:
    """What to render. Angles in degrees; ``size`` is (W, H) in pixels."""

    views: int = 24
    size: tuple[int, int] = (128, 128)
    elevations: tuple[float, float] = (-15.0, 50.0)
    holdout: int = 8
    noise_rot: float = 0.0
    noise_trans: float = 0.0
    noise_focal: float = 0.0
    noise_model: str = "exact"  # "exact" | "gaussian" | "student": see the module docstring
    noise_dof: float = 3.0     # degrees of freedom of the "student" model
    flip_frames: tuple[int, ...] = ()
    close_frames: tuple[int, ...] = ()
    close_factor: float = 0.5   # close frames' distance as a fraction of the others'
    lighting: str = "flat"
    exposure_sigma: float = 0.0  # log sigma of each training photo's exposure (see the module docstring)
    specular: float = 0.0      # 0..1: glossier materials (not with flat lighting); see render_views.setup_render
    seed: int = 0
    engine: str = "CYCLES"
    samples: int = 16
    fov: float = 40.0          # horizontal field of view (camera_angle_x) in degrees
    fill: float = 0.85         # the object's bounding sphere spans this fraction of the narrower half-FOV
    pixel_filter: float | None = None  # Cycles filter width in px; None = Blender's default 1.5

    def validate(self) -> None:
        """Raise ValueError naming the bad setting."""
        if self.views < 2:
            raise ValueError(f"--views must be at least 2, got {self.views}")
        if self.holdout < 0:
            raise ValueError(f"--holdout must be >= 0, got {self.holdout}")
        w, h = self.size
        if w < 8 or h < 8 or w > 8192 or h > 8192:
            raise ValueError(f"--size must be between 8 and 8192 pixels, got {w}x{h}")
        lo, hi = self.elevations
        if not (-85.0 <= lo <= hi <= 85.0):
            raise ValueError(f"--elevations must satisfy -85 <= LO <= HI <= 85 degrees, got {lo},{hi}")
        if not (0.0 <= self.noise_rot <= 180.0):
            raise ValueError(f"--noise-rot must be in [0, 180] degrees, got {self.noise_rot}")
        if not (0.0 <= self.noise_trans < 0.9):
            raise ValueError(f"--noise-trans must be in [0, 0.9) (fraction of the camera distance), "
                             f"got {self.noise_trans}")
        if not (0.0 <= self.noise_focal < 0.9):
            raise ValueError(f"--noise-focal must be in [0, 0.9), got {self.noise_focal}")
        if self.noise_model not in NOISE_MODELS:
            raise ValueError(f"--noise-model must be one of {', '.join(NOISE_MODELS)}, got {self.noise_model!r}")
        if not self.noise_dof > 0:
            raise ValueError(f"--noise-dof must be > 0, got {self.noise_dof}")
        bad = [i for i in self.flip_frames if not 0 <= i < self.views]
        if bad:
            raise ValueError(f"--flip-frames {bad} out of range: training frames are 0..{self.views - 1}")
        bad = [i for i in self.close_frames if not 0 <= i < self.views]
        if bad:
            raise ValueError(f"--close-frames {bad} out of range: training frames are 0..{self.views - 1}")
        if not (0.2 <= self.close_factor <= 1.0):
            raise ValueError(f"close_factor must be in [0.2, 1], got {self.close_factor}")
        if self.lighting not in render_views.LIGHTING_MODES:
            raise ValueError(f"--lighting must be one of {render_views.LIGHTING_MODES}, got {self.lighting!r}")
        if not 0.0 <= self.exposure_sigma <= 1.0:
            raise ValueError(f"--exposure-sigma must be in [0, 1] (log of the gain), got {self.exposure_sigma}")
        if self.samples < 1:
            raise ValueError(f"--samples must be >= 1, got {self.samples}")
        if not 0.0 <= self.specular <= 1.0:
            raise ValueError(f"--specular must be in [0, 1], got {self.specular}")
        if self.specular > 0 and self.lighting == "flat":
            raise ValueError("--specular needs lit materials: use --lighting studio or turntable, not flat")
        if not (5.0 <= self.fov <= 120.0):
            raise ValueError(f"fov must be in [5, 120] degrees, got {self.fov}")
        if not (0.1 <= self.fill <= 1.0):
            raise ValueError(f"fill must be in [0.1, 1], got {self.fill}")


def framing(vertices: np.ndarray, spec: DatasetSpec) -> dict:
    """Bounding-box centre, bounding-sphere radius about it, camera distance and intrinsics K (3x3)."""
    lo, hi = vertices.min(0), vertices.max(0)
    center = (lo + hi) / 2.0
    radius = float(np.linalg.norm(vertices - center, axis=1).max())
    if not radius > 0:
        raise ValueError("the mesh has zero extent")
    w, h = spec.size
    fx = 0.5 * w / math.tan(math.radians(spec.fov) / 2.0)
    half_narrow = math.atan(0.5 * min(w, h) / fx)  # square pixels: fy = fx
    distance = radius / math.sin(half_narrow * spec.fill)
    K = np.array([[fx, 0.0, w / 2.0], [0.0, fx, h / 2.0], [0.0, 0.0, 1.0]])
    return {"center": center, "radius": radius, "distance": distance, "K": K,
            "bbox_min": lo, "bbox_max": hi}


def close_in(R: np.ndarray, t: np.ndarray, center: np.ndarray, spec: DatasetSpec) -> np.ndarray:
    """t (N, 3) with the centres of ``spec.close_frames`` moved towards ``center`` along their view
    rays to ``close_factor`` of their distance (the orientation is kept)."""
    t = t.copy()
    for i in sorted(set(int(i) for i in spec.close_frames)):
        c = -R[i].T @ t[i]
        t[i] = -R[i] @ (center + spec.close_factor * (c - center))
    return t


def noisy_cameras(K: np.ndarray, R: np.ndarray, t: np.ndarray, center: np.ndarray, distance: float,
                  spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
    """Perturbed copies of N cameras (see the module docstring): K (N,3,3), R, t and one record per frame."""
    rng = np.random.default_rng(spec.seed)
    # the magnitudes of the random models come from their own stream: "exact" keeps its old draws
    magnitudes = np.random.default_rng([spec.seed, 1])
    Kn, Rn, tn, records = K.copy(), R.copy(), t.copy(), []
    flips = set(int(i) for i in spec.flip_frames)
    rz180 = np.diag([-1.0, -1.0, 1.0])  # 180 degrees about world z
    for i in range(len(R)):
        # Draw every random number for every frame, so one frame's noise does not depend on the others'
        # settings (e.g. adding focal noise leaves the rotation noise of a seed unchanged).
        rot_axis, trans_dir, focal_sign = random_unit(rng), random_unit(rng), (1.0 if rng.uniform() < 0.5 else -1.0)
        z = _standard_draws(magnitudes, 5, spec)          # angle, shift x/y/z, focal
        if spec.noise_model == "exact":
            angle = spec.noise_rot
            shift = spec.noise_trans * distance * trans_dir
            scale = 1.0 + focal_sign * spec.noise_focal
        else:
            angle = float(np.clip(spec.noise_rot * z[0], -180.0, 180.0))
            shift = spec.noise_trans * distance * z[1:4]
            norm = float(np.linalg.norm(shift))
            if norm > _MAX_SHIFT * distance:
                shift *= _MAX_SHIFT * distance / norm
            scale = max(_MIN_FOCAL_SCALE, 1.0 + spec.noise_focal * z[4])
        dR = axis_angle(rot_axis, math.radians(angle))
        centre = -R[i].T @ t[i]
        new_centre = centre + shift
        Ri = dR @ R[i]  # rotate about the camera's own centre
        if i in flips:
            Ri = Ri @ rz180.T
            new_centre = rz180 @ (new_centre - center) + center
        Rn[i], tn[i] = Ri, -Ri @ new_centre
        Kn[i, 0, 0] *= scale
        Kn[i, 1, 1] *= scale
        records.append({"index": i, "rotation_axis_camera": rot_axis.tolist(), "rotation_deg": angle,
                        "translation": np.asarray(shift).tolist(), "focal_scale": scale, "flipped": i in flips})
    return Kn, Rn, tn, records


def exposure_log_gains(views: int, spec: DatasetSpec) -> np.ndarray:
    """Log gains (views, 3) of the training photos (see the module docstring); zeros without exposure noise."""
    rng = np.random.default_rng([spec.seed, 2])     # its own stream: the cameras do not change with it
    logs = rng.standard_normal((views, 1)) * spec.exposure_sigma + rng.standard_normal((views, 3)) * (
        spec.exposure_sigma / 6.0)
    return logs - logs.mean(0)


def _standard_draws(rng: np.random.Generator, n: int, spec: DatasetSpec) -> np.ndarray:
    """n unit-scale draws of the spec's noise model (always drawn, so the stream does not depend on it)."""
    gauss = rng.standard_normal(n)
    chi2 = rng.chisquare(spec.noise_dof, n)
    if spec.noise_model == "student":
        return gauss / np.sqrt(chi2 / spec.noise_dof)
    return gauss


# ---------------------------------------------------------------------------------------------
# The whole dataset
# ---------------------------------------------------------------------------------------------

def load_subject(mesh: str) -> "bpy.types.Object":  # noqa: F821
    """Reset the scene and bring in the subject: the embedded example or a mesh file."""
    render_views.reset_scene()
    if str(mesh) == EXAMPLE:
        from .example_object import build_example_object
        return build_example_object()
    return render_views.import_mesh(mesh)


def render_dataset(mesh: str, out_dir, spec: DatasetSpec, overwrite: bool = False, command: list | None = None,
                   log=print) -> Path:
    """Render ``mesh`` (a file path or ``"example"``) into a new dataset folder ``out_dir``.

    Refuses a non-empty ``out_dir`` unless ``overwrite``. Returns the folder. Raises ValueError /
    FileNotFoundError on bad input (nothing written)."""
    spec.validate()
    out_dir = Path(out_dir).absolute()
    _check_output(out_dir, overwrite)
    if str(mesh) != EXAMPLE and not Path(mesh).is_file():
        raise FileNotFoundError(f"mesh file not found: {mesh} (or use the word '{EXAMPLE}')")

    t_start = time.perf_counter()
    obj = load_subject(mesh)
    scene = obj.users_scene[0]
    vertices, faces = render_views.mesh_world_arrays(obj)
    frame = framing(vertices, spec)
    train_layout = ring_layout(spec.views, spec.elevations)
    test_layout = holdout_layout(spec.holdout, spec.elevations, train_layout)
    R, t = cameras_for(train_layout, frame["center"], frame["distance"])
    t = close_in(R, t, frame["center"], spec)
    K = np.repeat(frame["K"][None], len(R), axis=0)
    Kn, Rn, tn, noise = noisy_cameras(K, R, t, frame["center"], frame["distance"], spec)
    if test_layout:
        R_test, t_test = cameras_for(test_layout, frame["center"], frame["distance"])
    else:
        R_test, t_test = np.zeros((0, 3, 3)), np.zeros((0, 3))
    K_test = np.repeat(frame["K"][None], len(R_test), axis=0)
    log(f"[render_dataset] {mesh}: {len(vertices)} vertices, {len(faces)} triangles; "
        f"{spec.views} training + {len(R_test)} held-out views at {spec.size[0]}x{spec.size[1]}, "
        f"{spec.lighting} lighting, {spec.engine} {spec.samples} samples")

    w, h = spec.size
    render_views.setup_render(scene, engine=spec.engine, samples=spec.samples, lighting=spec.lighting,
                              width=w, height=h, pixel_filter=spec.pixel_filter, seed=spec.seed,
                              specular=spec.specular)
    train_names = [f"images/train_{i:03d}.png" for i in range(len(R))]
    test_names = [f"images/test_{i:03d}.png" for i in range(len(R_test))]
    names = train_names + test_names

    import texforge.atomic as atomic
    with atomic.atomic_folder(out_dir, overwrite=overwrite) as tmp:  # Ctrl-C leaves no half-written dataset
        (tmp / "images").mkdir()
        import texforge.data.images as images_io
        timer = {"last": time.perf_counter()}

        def progress(done: int, total: int) -> None:
            now = time.perf_counter()
            log(f"[render_dataset] view {done}/{total} {names[done - 1]} ({now - timer['last']:.2f} s)")
            timer["last"] = now

        rgba = render_views.render_views(scene, np.concatenate([K, K_test]), np.concatenate([R, R_test]),
                                         np.concatenate([t, t_test]), w, h, progress=progress)
        exposure = exposure_log_gains(len(R), spec)
        gains = np.exp(exposure)
        for k, (name, img) in enumerate(zip(names, rgba)):
            if img[..., 3].max() < 0.5:
                raise RuntimeError(f"view {name} shows nothing of the object (check the mesh and framing)")
            if k < len(gains):
                img = np.concatenate([np.clip(img[..., :3] * gains[k], 0.0, 1.0), img[..., 3:]], -1)
            images_io.write_png(tmp / name, img)
        _write_outputs(tmp, mesh, spec, frame, vertices, faces, (K, R, t), (Kn, Rn, tn), (K_test, R_test, t_test),
                       train_names, test_names, noise, exposure, command)
    log(f"[render_dataset] wrote {out_dir} ({len(names)} images, {time.perf_counter() - t_start:.1f} s)")
    return out_dir


def _check_output(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise ValueError(f"--out {out_dir} exists and is not a folder")
        if any(out_dir.iterdir()) and not overwrite:
            raise ValueError(f"--out {out_dir} is not empty; choose a new folder or pass --overwrite")
    if not out_dir.parent.is_dir():
        out_dir.parent.mkdir(parents=True, exist_ok=True)


def _write_outputs(folder: Path, mesh: str, spec: DatasetSpec, frame: dict, vertices, faces, gt, noisy, test,
                   train_names, test_names, noise, exposure, command) -> None:
    import texforge.data.transforms_io as tio
    w, h = spec.size
    angle_x = {"camera_angle_x": 2.0 * math.atan(0.5 * w / frame["K"][0, 0])}  # of the exact cameras
    tio.write_transforms(folder / "transforms.json", *noisy, w, h, train_names, extra=angle_x)
    tio.write_transforms(folder / "transforms_gt.json", *gt, w, h, train_names, extra=angle_x)
    if test_names:  # with --holdout 0 there is no test split (an empty frames list is not a dataset)
        tio.write_transforms(folder / "transforms_test.json", *test, w, h, test_names, extra=angle_x)
    from texforge.mesh.io import write_ply
    write_ply(folder / "gt_mesh.ply", vertices, faces)
    info = {
        "version": DATASET_VERSION,
        "generator": "texforge render_dataset",
        "mesh": str(mesh) if str(mesh) == EXAMPLE else str(Path(mesh).absolute()),
        "command": list(command) if command is not None else None,
        "args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(spec).items()},
        "seed": spec.seed,
        "flipped_frames": [train_names[i] for i in sorted(set(spec.flip_frames))],
        "flipped_indices": sorted(set(int(i) for i in spec.flip_frames)),
        "close_frames": [train_names[i] for i in sorted(set(spec.close_frames))],
        "noise": {"model": spec.noise_model, "dof": spec.noise_dof if spec.noise_model == "student" else None,
                  "rotation_deg": spec.noise_rot, "translation_frac": spec.noise_trans,
                  "focal_frac": spec.noise_focal, "per_frame": [{"name": train_names[r["index"]], **r}
                                                                 for r in noise]},
        "exposure": {"log_sigma": spec.exposure_sigma,
                     "per_frame_log_gain": [[round(float(g), 5) for g in row] for row in exposure]},
        "framing": {"center": frame["center"].tolist(), "radius": frame["radius"], "distance": frame["distance"],
                    "bbox_min": frame["bbox_min"].tolist(), "bbox_max": frame["bbox_max"].tolist(),
                    "fov_x_deg": spec.fov},
        "files": {"train": "transforms.json", "train_gt": "transforms_gt.json",
                  "test": "transforms_test.json" if test_names else None,
                  "gt_mesh": "gt_mesh.ply"},
        "blender": _blender_version(),
    }
    with open(folder / "dataset.json", "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
        f.write("\n")


def _blender_version() -> str:
    import bpy
    return bpy.app.version_string


# ---------------------------------------------------------------------------------------------
# Command line (scripts/render_dataset.py is a thin wrapper around main)
# ---------------------------------------------------------------------------------------------

def _pair(text: str, what: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"{what} must be two numbers LO,HI, got {text!r}") from None
    if len(vals) == 1:
        vals = (vals[0], vals[0])
    if len(vals) != 2:
        raise ValueError(f"{what} must be two numbers LO,HI, got {text!r}")
    return vals


def _size(text: str) -> tuple[int, int]:
    try:
        if "x" in text.lower():
            w, h = text.lower().split("x")
            return int(w), int(h)
        return int(text), int(text)
    except ValueError:
        raise ValueError(f"--size must be PX or WxH, got {text!r}") from None


def _indices(text: str, option: str = "--flip-frames") -> tuple[int, ...]:
    if not text.strip():
        return ()
    try:
        return tuple(int(p) for p in text.split(","))
    except ValueError:
        raise ValueError(f"{option} must be comma-separated frame indices, got {text!r}") from None


def build_parser():
    import argparse
    p = argparse.ArgumentParser(
        prog="render_dataset.py",
        description="Render a mesh (OBJ / GLB / glTF / PLY / .blend, or the word 'example') from rings of cameras "
                    "into a multi-view transforms.json dataset with noisy training cameras.")
    d = DatasetSpec()
    p.add_argument("mesh", help="mesh file, or 'example' for the embedded procedural example")
    p.add_argument("--out", required=True, help="new (or empty) output folder")
    p.add_argument("--views", type=int, default=d.views, help=f"training views (default {d.views})")
    p.add_argument("--size", default=str(d.size[0]), help="image size PX or WxH (default %(default)s)")
    p.add_argument("--elevations", default=f"{d.elevations[0]:g},{d.elevations[1]:g}",
                   help="camera elevation range LO,HI in degrees (default %(default)s)")
    p.add_argument("--holdout", type=int, default=d.holdout, help="held-out test views (default %(default)s)")
    p.add_argument("--noise-rot", type=float, default=d.noise_rot, help="rotation noise in degrees")
    p.add_argument("--noise-trans", type=float, default=d.noise_trans,
                   help="translation noise as a fraction of the camera distance")
    p.add_argument("--noise-focal", type=float, default=d.noise_focal, help="focal noise as a fraction")
    p.add_argument("--noise-model", choices=NOISE_MODELS, default=d.noise_model,
                   help="exact: the noise settings are each camera's exact error; gaussian / student: they are "
                        "standard deviations (scales) of Gaussian / heavy-tailed Student-t errors (default %(default)s)")
    p.add_argument("--noise-dof", type=float, default=d.noise_dof,
                   help="degrees of freedom of --noise-model student (default %(default)s)")
    p.add_argument("--flip-frames", default="", help="training frames I,J turned 180 degrees about the up axis")
    p.add_argument("--close-frames", default="",
                   help="training frames I,J moved closer (half the distance) so that the image border cuts the object")
    p.add_argument("--lighting", choices=render_views.LIGHTING_MODES, default=d.lighting,
                   help="flat: the texture unshaded; studio: a fixed light rig; turntable: a key light that "
                        "moves with the camera, so every view is lit differently (default %(default)s)")
    p.add_argument("--exposure-sigma", type=float, default=d.exposure_sigma,
                   help="log sigma of each training photo's exposure (white balance: a sixth of it per channel)")
    p.add_argument("--specular", type=float, default=d.specular,
                   help="0..1: glossier materials (higher specular, lower roughness); studio / turntable only")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--engine", default=d.engine, choices=("CYCLES", "BLENDER_EEVEE", "BLENDER_WORKBENCH"),
                   help="render engine (EEVEE / Workbench need OpenGL)")
    p.add_argument("--samples", type=int, default=d.samples, help="samples per pixel (default %(default)s)")
    p.add_argument("--fov", type=float, default=d.fov, help="horizontal field of view in degrees")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    return p


def parse_command(argv: list[str]):
    """Command-line arguments -> (argparse namespace, validated DatasetSpec); ValueError on bad values."""
    argv = list(argv)
    for i, a in enumerate(argv[:-1]):  # "--elevations -20,10" would read as an option: glue it on with "="
        if a == "--elevations" and argv[i + 1].startswith("-"):
            argv[i:i + 2] = [f"--elevations={argv[i + 1]}"]
            break
    args = build_parser().parse_args(argv)
    spec = DatasetSpec(views=args.views, size=_size(args.size), elevations=_pair(args.elevations, "--elevations"),
                       holdout=args.holdout, noise_rot=args.noise_rot, noise_trans=args.noise_trans,
                       noise_focal=args.noise_focal, noise_model=args.noise_model, noise_dof=args.noise_dof,
                       flip_frames=_indices(args.flip_frames),
                       close_frames=_indices(args.close_frames, "--close-frames"),
                       lighting=args.lighting, exposure_sigma=args.exposure_sigma, specular=args.specular,
                       seed=args.seed, engine=args.engine,
                       samples=args.samples, fov=args.fov)
    spec.validate()
    return args, spec


def main(argv: list[str]) -> int:
    """Command-line entry point; returns the process exit status (2 for bad input)."""
    try:
        args, spec = parse_command(argv)
        render_dataset(args.mesh, args.out, spec, overwrite=args.overwrite, command=["render_dataset.py", *argv])
    except (ValueError, FileNotFoundError) as exc:
        print(f"render_dataset: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except ImportError as exc:  # e.g. Blender's own Python without the backend's packages
        print(f"render_dataset: error: {exc}. The backend needs numpy, torch and Pillow in this Python "
              f"(run it with the project's .venv, or install them into Blender's Python)", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("render_dataset: interrupted; nothing was written", file=sys.stderr, flush=True)
        return 130
    return 0
