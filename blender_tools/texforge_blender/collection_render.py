"""Blender as a category-collection generator: many objects, each from V random views (issue 11).

``render_collection(spec, out)`` writes the layout of :mod:`texforge.data.collection` from a folder of
meshes (OBJ / glTF / GLB / PLY / .blend) or a procedural family (``procedural:vase``,
``procedural:bottle``, :mod:`texforge.mesh.procedural`). Every object is normalised (bounding-box centre
at the origin, bounding-sphere radius 1, +Z up), then rendered from V cameras drawn from the collection's
:class:`~texforge.data.collection.CameraDistribution`, each view with its own random key light.

Determinism: object i's shape, texture, cameras, lights and Cycles seed depend only on (seed, i), and
the scene is reset before each object, so an object rendered alone, in a batch, in another process or in
a resumed run gives identical files. Resume: each object folder appears atomically (texforge.atomic), so
a folder that exists is complete and is skipped. ``COLLECTION/render.json`` keeps the render settings;
a second run into the same folder must ask for the same collection. ``collection.json`` lists the
objects finished so far (it is rewritten as they finish), so the collection is usable while it grows.

Parallel: ``workers`` > 1 starts that many Blender processes (``python -m
texforge_blender.collection_render ... --shard i/W``), object i going to shard i mod W.
Only the main thread may call this module.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from texforge.atomic import atomic_folder, write_text
from texforge.data.collection import Collection, CameraDistribution, write_collection_header
from texforge.runtime.errors import Cancelled, InputError
from . import render_views

PROCEDURAL_PREFIX = "procedural:"
LIGHTINGS = ("random", "studio", "flat")
PLAN_NAME = "render.json"
PLAN_FORMAT = "texforge-collection-render"
RENDER_VERSION = 1  # bump when a change alters the pixels rendered for a given (seed, i)


@dataclass
class CollectionSpec:
    """What to render. ``objects`` None: every mesh of a folder (procedural sources need a count)."""

    source: str
    objects: int | None = None
    heldout: int | None = None       # None: a fifth of the objects
    views: int = 8
    size: tuple[int, int] = (64, 64)
    seed: int = 0
    lighting: str = "random"
    samples: int = 16
    # nearest camera 3.0 away: the radius-1 bounding sphere spans at most 19.5 of the 20 degrees of
    # half field of view, so no view cuts the object
    cameras: CameraDistribution = field(default_factory=lambda: CameraDistribution(distance=(3.0, 3.6)))

    def plan(self, count: int) -> dict:
        """The settings that decide the pixels (what a resumed run must match)."""
        return {"format": PLAN_FORMAT, "render_version": RENDER_VERSION, "source": self.source,
                "objects": count, "heldout": self.heldout_count(count), "views": self.views,
                "size": list(self.size), "seed": self.seed, "lighting": self.lighting, "samples": self.samples,
                "camera_distribution": {k: list(v) if isinstance(v, tuple) else v
                                        for k, v in asdict(self.cameras).items()}}

    def heldout_count(self, count: int) -> int:
        return count // 5 if self.heldout is None else int(self.heldout)

    def validate(self) -> None:
        if self.objects is not None and self.objects < 1:
            raise InputError(f"--objects must be at least 1, got {self.objects}")
        if self.heldout is not None and self.heldout < 0:
            raise InputError(f"--heldout must be >= 0, got {self.heldout}")
        if self.views < 1:
            raise InputError(f"--views must be at least 1, got {self.views}")
        if min(self.size) < 8 or max(self.size) > 4096:
            raise InputError(f"--size must be between 8 and 4096 pixels, got {self.size[0]}x{self.size[1]}")
        if self.lighting not in LIGHTINGS:
            raise InputError(f"--lighting must be one of {', '.join(LIGHTINGS)}, got {self.lighting!r}")
        if self.samples < 1:
            raise InputError(f"--samples must be >= 1, got {self.samples}")


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------

def source_items(source: str, objects: int | None) -> list:
    """The objects a source offers: mesh paths (sorted by name) or generator names, ``objects`` long.
    InputError for an unknown generator, an empty or unreadable folder, or too few meshes."""
    from texforge.mesh.procedural import GENERATORS

    if source.startswith(PROCEDURAL_PREFIX):
        name = source[len(PROCEDURAL_PREFIX):]
        if name not in GENERATORS:
            raise InputError(f"unknown procedural generator {source!r}; known: "
                             f"{', '.join(PROCEDURAL_PREFIX + g for g in GENERATORS)}")
        if objects is None:
            raise InputError(f"{source}: say how many objects to generate with --objects N")
        return [name] * objects
    folder = Path(source)
    if not folder.is_dir():
        raise InputError(f"{source}: not a folder of meshes and not a generator "
                         f"(use {PROCEDURAL_PREFIX}vase or {PROCEDURAL_PREFIX}bottle)")
    try:
        meshes = sorted(p for p in folder.iterdir()
                        if p.is_file() and p.suffix.lower() in render_views.MESH_SUFFIXES)
    except OSError as err:
        raise InputError(f"{folder}: cannot read the mesh folder ({err.strerror or err})") from err
    if not meshes:
        raise InputError(f"{folder}: no mesh files ({', '.join(render_views.MESH_SUFFIXES)}) in this folder")
    unreadable = [p.name for p in meshes if not os.access(p, os.R_OK)]
    if unreadable:
        raise InputError(f"{folder}: cannot read {', '.join(unreadable[:3])}")
    if objects is not None:
        if objects > len(meshes):
            raise InputError(f"{folder}: --objects {objects} but the folder holds {len(meshes)} meshes")
        meshes = meshes[:objects]
    return meshes


def object_id(index: int) -> str:
    return f"{index:05d}"


def split(count: int, heldout: int, seed: int) -> tuple[list[int], list[int]]:
    """Train and held-out object indices: a seeded random choice of ``heldout`` objects, so a folder of
    meshes sorted by name does not hold out one kind."""
    if heldout >= count:
        raise InputError(f"--heldout {heldout} leaves no training objects out of {count}")
    order = np.random.default_rng([int(seed), int(count), 11]).permutation(count)
    held = sorted(int(i) for i in order[:heldout])
    return [i for i in range(count) if i not in set(held)], held


# ---------------------------------------------------------------------------------------------
# One object
# ---------------------------------------------------------------------------------------------

def build_procedural_object(generator: str, seed: int, index: int):
    """Reset the scene and add procedural object ``index``: (Blender object, its parameters)."""
    from texforge.mesh.procedural import generate, object_rng

    mesh, params = generate(generator, object_rng(seed, index, 0))
    render_views.reset_scene()
    return textured_mesh_object(mesh, f"{generator}_{index:05d}"), params


def textured_mesh_object(mesh, name: str):
    """A new Blender object (identity transform) in the scene from a TexturedMesh, with a Principled
    material whose base colour is its packed texture."""
    import bpy

    from .objects import mesh_object, texture_image, textured_material

    image = texture_image(f"{name}_texture", mesh.texture) if mesh.texture is not None else None
    material = textured_material(f"{name}_material", image)
    bsdf = next(n for n in material.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Roughness"].default_value = 0.6   # painted objects, not photo textures: a little sheen
    obj = mesh_object(name, mesh, bpy.context.scene.collection, material)
    if obj.data.validate(verbose=False):
        raise RuntimeError(f"mesh {name} failed Blender's validation")  # a generator bug
    return obj


def import_source_mesh(path: Path):
    """Reset the scene and import one mesh file: (Blender object, what it came from). InputError names
    the file when Blender cannot read it."""
    render_views.reset_scene()
    try:
        obj = render_views.import_mesh(path)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        raise InputError(f"{path}: cannot render this mesh ({err})") from err
    return obj, {"file": str(Path(path).absolute())}


def normalise_object(obj) -> tuple[np.ndarray, np.ndarray, dict]:
    """Move and scale the object's mesh data so that its bounding-box centre is at the origin and its
    bounding sphere has radius 1. Returns the normalised world vertices (V, 3), triangles and the change."""
    from mathutils import Matrix

    from texforge.mesh.procedural import normalise

    verts, _ = render_views.mesh_world_arrays(obj)
    _, centre, scale = normalise(verts)
    obj.data.transform(Matrix.Scale(scale, 4) @ Matrix.Translation((-centre).tolist()))
    obj.data.update()
    verts, faces = render_views.mesh_world_arrays(obj)
    return verts, faces, {"centre": centre.tolist(), "scale": float(scale)}


def random_lights(rng: np.random.Generator, camera_azimuths: np.ndarray) -> list[dict]:
    """One random light set-up per view: the key light's direction (within 100 degrees of the camera's
    azimuth, so the visible side is mostly lit), strength and colour, and the fill's strength."""
    lights = []
    for az in camera_azimuths:
        lights.append({"key_azimuth_deg": float(az + rng.uniform(-100, 100)),
                       "key_elevation_deg": float(rng.uniform(5, 75)),
                       "key_strength": float(rng.uniform(0.5, 1.6)),
                       "key_colour": [float(c) for c in 1.0 - rng.uniform(0, 0.15, size=3)],
                       "fill_strength": float(rng.uniform(0.2, 1.0)),
                       "rim_strength": float(rng.uniform(0.0, 1.0))})
    return lights


def apply_light(scene, light: dict) -> None:
    """Move and scale the studio rig of ``setup_render(lighting='studio')`` to one random set-up."""
    from texforge.geometry.layouts import direction

    base = {name: energy for name, _, energy, _, _ in render_views._RIG}
    for obj in scene.objects:
        if not obj.get("texforge_rig"):
            continue
        if obj.name == "TexForgeKey":
            pos = 5.0 * direction(light["key_azimuth_deg"], light["key_elevation_deg"])
            obj.location = pos.tolist()
            obj.rotation_euler = render_views._look_rotation(-pos)
            obj.data.energy = base["TexForgeKey"] * light["key_strength"]
            obj.data.color = light["key_colour"]
        elif obj.name == "TexForgeFill":
            obj.data.energy = base["TexForgeFill"] * light["fill_strength"]
        elif obj.name == "TexForgeRim":
            obj.data.energy = base["TexForgeRim"] * light["rim_strength"]


def render_object(spec: CollectionSpec, item, index: int, dest: Path, threads: int = 0) -> dict:
    """Render object ``index`` (``item``: a generator name or a mesh path) into the new folder ``dest``
    (atomic). Returns its object.json record."""
    import bpy

    from texforge.data.images import write_png
    from texforge.data.transforms_io import write_transforms
    from texforge.mesh.io import write_ply
    from texforge.mesh.procedural import object_rng

    if isinstance(item, Path):
        obj, origin = import_source_mesh(item)
    else:
        obj, origin = build_procedural_object(item, spec.seed, index)
    verts, faces, norm = normalise_object(obj)
    scene = bpy.context.scene
    w, h = spec.size
    rng = object_rng(spec.seed, index, 1)
    K, R, t, spherical = spec.cameras.sample(spec.views, rng, w, h)
    lights = random_lights(rng, spherical[:, 0])
    cycles_seed = int(object_rng(spec.seed, index, 2).integers(0, 2 ** 31 - 1))
    render_views.setup_render(scene, samples=spec.samples, lighting="flat" if spec.lighting == "flat" else "studio",
                              width=w, height=h, seed=cycles_seed)
    if threads > 0:
        scene.render.threads_mode, scene.render.threads = "FIXED", int(threads)
    names = [f"images/{v:03d}.png" for v in range(spec.views)]
    record = {"id": object_id(index), "index": index, "source": spec.source, "origin": origin,
              "normalisation": norm, "cameras": [{"azimuth_deg": float(a), "elevation_deg": float(e),
                                                  "distance": float(d)} for a, e, d in spherical],
              "lights": lights if spec.lighting == "random" else None, "cycles_seed": cycles_seed,
              "render_version": RENDER_VERSION, "blender": bpy.app.version_string}
    with atomic_folder(dest) as tmp:
        (tmp / "images").mkdir()
        for v in range(spec.views):
            if spec.lighting == "random":
                apply_light(scene, lights[v])
            rgba = render_views.render_views(scene, K[v], R[v:v + 1], t[v:v + 1], w, h)[0]
            if rgba[..., 3].max() < 0.5:
                raise RuntimeError(f"object {index} view {v} shows nothing of the object")  # a framing bug
            write_png(tmp / names[v], rgba)
        write_transforms(tmp / "transforms.json", K, R, t, w, h, names)
        write_ply(tmp / "gt_mesh.ply", verts, faces)
        write_text(tmp / "object.json", json.dumps(record, indent=2) + "\n")
    return record


# ---------------------------------------------------------------------------------------------
# The whole collection
# ---------------------------------------------------------------------------------------------

def prepare_output(out: Path, plan: dict) -> None:
    """Create ``out`` with its render.json, or check that an existing one asks for this collection.
    InputError for a non-empty folder that is not one of our collections, or one of other settings."""
    plan_path = out / PLAN_NAME
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not plan_path.is_file():
            raise InputError(f"--out {out} is not empty and is not a collection being rendered (no {PLAN_NAME}); "
                             "choose a new folder")
        try:
            old = json.loads(plan_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(f"{plan_path}: unreadable ({err}); choose a new folder") from err
        if old != plan:
            diff = sorted(k for k in set(old) | set(plan) if old.get(k) != plan.get(k))
            raise InputError(f"--out {out} holds a collection rendered with other settings ({', '.join(diff)}); "
                             "repeat the original command to resume it, or choose a new folder")
        return
    out.mkdir(parents=True, exist_ok=True)
    write_text(plan_path, json.dumps(plan, indent=2) + "\n")


def finished(out: Path, count: int) -> list[int]:
    objects = out / "objects"
    return [i for i in range(count) if (objects / object_id(i) / "transforms.json").is_file()]


def update_header(out: Path, spec: CollectionSpec, count: int) -> Collection:
    """(Re)write collection.json with the objects finished so far (atomic)."""
    train, held = split(count, spec.heldout_count(count), spec.seed)
    done = set(finished(out, count))
    collection = Collection(root=out, train=[object_id(i) for i in train if i in done],
                            heldout=[object_id(i) for i in held if i in done], views=spec.views,
                            size=tuple(spec.size), cameras=spec.cameras, source=spec.source, seed=spec.seed)
    write_collection_header(collection)
    return collection


def render_collection(spec: CollectionSpec, out, workers: int = 1, shard: tuple[int, int] = (0, 1),
                      log=print, should_stop=lambda: False, argv: list[str] | None = None) -> Path:
    """Render (or resume) the collection into ``out``; see the module docstring. ``shard`` (i, n): only
    objects with index % n == i, in this process. ``workers`` > 1 (shard (0, 1) only) runs ``workers``
    shard processes with the same ``argv``. Raises InputError on bad input, Cancelled when stopped."""
    spec.validate()
    items = source_items(spec.source, spec.objects)
    count = len(items)
    split(count, spec.heldout_count(count), spec.seed)  # checks --heldout before anything is written
    out = Path(out).absolute()
    prepare_output(out, spec.plan(count))
    if shard == (0, 1):
        _remove_stale_partials(out / "objects")
    if workers > 1 and shard == (0, 1):
        _run_shards(spec, out, count, workers, argv or [], log, should_stop)
    else:
        _render_shard(spec, out, items, shard, log, should_stop, threads=_threads_for(max(workers, shard[1])))
    collection = update_header(out, spec, count)
    log(f"{out}: {len(collection.train)} training + {len(collection.heldout)} held-out objects of {count}")
    return out


def _threads_for(processes: int) -> int:
    """Cycles threads per process: the cores shared out (0 = Blender's automatic choice)."""
    return 0 if processes <= 1 else max(1, (os.cpu_count() or 1) // processes)


def _render_shard(spec, out: Path, items: list, shard, log, should_stop, threads: int) -> None:
    k, n = shard
    mine = [i for i in range(len(items)) if i % n == k]
    todo = [i for i in mine if not (out / "objects" / object_id(i) / "transforms.json").is_file()]
    tag = f"shard {k}/{n}: " if n > 1 else ""
    log(f"{tag}{len(mine) - len(todo)} of {len(mine)} objects already rendered; {len(todo)} to go")
    t0 = time.perf_counter()
    for done, i in enumerate(todo, 1):
        if should_stop():
            raise Cancelled(f"stopped after {done - 1} objects; run the same command again to resume")
        start = time.perf_counter()
        render_object(spec, items[i], i, out / "objects" / object_id(i), threads=threads)
        update_header(out, spec, len(items))
        elapsed = time.perf_counter() - t0
        left = elapsed / done * (len(todo) - done)
        log(f"{tag}object {object_id(i)} done ({time.perf_counter() - start:.1f} s); {done}/{len(todo)}, "
            f"about {left / 60:.1f} min left")


def _run_shards(spec, out: Path, count: int, workers: int, argv: list[str], log, should_stop) -> None:
    base = _strip_option(argv, "--workers")
    procs = [subprocess.Popen([sys.executable, "-m", "texforge_blender.collection_render", *base,
                               "--workers", str(workers), "--shard", f"{k}/{workers}"],
                              start_new_session=True)  # Ctrl-C reaches them once, forwarded below
             for k in range(workers)]
    log(f"rendering in {workers} processes")
    forwarded, last = False, -1
    try:
        while any(p.poll() is None for p in procs):
            if should_stop() and not forwarded:
                for p in procs:
                    if p.poll() is None:
                        p.send_signal(signal.SIGINT)
                forwarded = True
            n = len(finished(out, count))
            if n != last:
                log(f"{n}/{count} objects rendered")
                last = n
            time.sleep(1.0)
    except BaseException:  # a second Ctrl-C (KeyboardInterrupt): the shards abort at once too
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                if not forwarded:
                    time.sleep(0.5)
                    p.send_signal(signal.SIGINT)
        raise
    finally:
        for p in procs:
            p.wait()
    if forwarded or any(p.returncode == 130 for p in procs):
        raise Cancelled("stopped; run the same command again to resume")
    failed = [k for k, p in enumerate(procs) if p.returncode != 0]
    if failed:
        raise InputError(f"shard(s) {failed} failed (see their messages above); run the same command again to "
                         "resume")


def _strip_option(argv: list[str], name: str) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == name:
            skip = True
            continue
        if a.startswith(name + "="):
            continue
        out.append(a)
    return out


def _remove_stale_partials(objects: Path) -> None:
    """Temporary object folders left by a killed run (Ctrl-C removes its own)."""
    if objects.is_dir():
        for p in objects.glob(".*.partial"):
            shutil.rmtree(p, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Command line (scripts/render_collection.py is a thin wrapper around main)
# ---------------------------------------------------------------------------------------------

def build_parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="render_collection.py",
        description="Render a category collection: every mesh of a folder (OBJ / glTF / GLB / PLY / .blend) or "
                    "N objects of a procedural family, each normalised and rendered from random views "
                    "with random lights. Resumes an interrupted collection when run again.")
    p.add_argument("source", help="a folder of meshes, or procedural:vase / procedural:bottle")
    p.add_argument("--out", required=True, help="the collection folder (new, empty, or one to resume)")
    p.add_argument("--objects", type=int, default=None,
                   help="number of objects (procedural: required; folder: the first N meshes, default all)")
    p.add_argument("--heldout", type=int, default=None, help="held-out objects (default a fifth)")
    p.add_argument("--views", type=int, default=8, help="views per object (default %(default)s)")
    p.add_argument("--size", type=int, default=64, help="image size in pixels (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                   help="Blender processes rendering in parallel (default: cores - 1)")
    p.add_argument("--shard", default="0/1", help="I/N: render only objects with index %% N == I (used by --workers)")
    p.add_argument("--lighting", choices=LIGHTINGS, default="random",
                   help="random: a random key light per view; studio: the fixed rig; flat: unshaded texture")
    p.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel (default %(default)s)")
    return p


def _shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise InputError(f"--shard must be I/N, got {text!r}") from None
    if not (n >= 1 and 0 <= k < n):
        raise InputError(f"--shard {text}: need 0 <= I < N")
    return k, n


def main(argv: list[str]) -> int:
    """Command-line entry point; returns the exit status (2 bad input, 130 stopped)."""
    from texforge.runtime.cli import run_job

    args = build_parser().parse_args(argv)

    def log(msg: str) -> None:
        print(f"[render_collection] {msg}", flush=True)

    def work(progress, should_stop):
        if args.workers < 1:
            raise InputError(f"--workers must be at least 1, got {args.workers}")
        spec = CollectionSpec(source=args.source, objects=args.objects, heldout=args.heldout, views=args.views,
                              size=(args.size, args.size), seed=args.seed, lighting=args.lighting,
                              samples=args.samples)
        t0 = time.perf_counter()
        render_collection(spec, args.out, workers=args.workers, shard=_shard(args.shard), log=log,
                          should_stop=should_stop, argv=argv)
        log(f"done in {time.perf_counter() - t0:.1f} s")

    return run_job(log, work, cancelled="finished objects are kept; run the same command again to resume",
                   aborted="finished objects are kept; run the same command again to resume")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
