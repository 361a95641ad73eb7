"""Batch reconstruction and evaluation over many scenes: render a dataset -> reconstruct -> evaluate
(the library behind scripts/batch.py; :func:`run_batch`).

SCENES is one of
  * a folder: every mesh file in it (.obj .glb .gltf .ply .blend) and every sub-folder holding a
    transforms.json (an existing dataset) is a scene;
  * a text file: one scene per line, ``PATH [key=value ...]`` ('#' starts a comment; PATH is a mesh,
    a dataset folder, or ``example`` for the embedded procedural example object);
  * a JSON file: a list of entries, or {"defaults": {...}, "scenes": [...]}; an entry is a PATH string
    or {"mesh" | "dataset": PATH, "name": ..., key: value, ...}.
Per-scene keys: views, size, holdout, elevations, noise_rot, noise_trans, noise_focal, flip_frames,
lighting, samples (render_dataset); preset, device (reconstruct); turntable_size (evaluate); seed
(all three); engine (render_dataset and evaluate).
Relative paths are resolved against the list file's folder.

Each scene goes through STAGES, an ordered list of named functions (later pipelines append theirs).
A stage writes into a temporary folder DIR/SCENE/.STAGE.tmp and is renamed to DIR/SCENE/STAGE when
it finished, so an interrupted run never leaves a half-written stage behind; a scene is done only
when DIR/SCENE/DONE exists. Running again skips done scenes and finished stages and redoes the rest
(a scene whose options changed is redone from scratch). ``--shard I/N`` (0 <= I < N) takes the
scenes whose index in the name-sorted list is I modulo N, so any scheduler can split the work
deterministically. At the end DIR/aggregate.json and DIR/aggregate.html summarise every done scene
in DIR, including other shards'.

Repeatability: every random choice is seeded -- by the scene's seed: the camera noise and Cycles'
sampling (dataset and evaluation renders), the fit's view order and mask samples (and torch's global
generator), the geometry metrics' surface samples; KID's subsets by a fixed seed -- and the reconstruction
runs inside run_multiview's scope of torch.use_deterministic_algorithms(True, warn_only=True), so a
scene run twice with the same seed gives the same numbers on CPU (tests/test_batch.py checks every
metric). On CUDA, kernels without a deterministic version only warn, so the last digits may differ.

Stages run in this process and call the library (texforge_blender.dataset_render,
texforge.pipelines.multiview.run_folder, texforge_blender.evaluate_render): no interpreter, torch and
bpy start-up per stage, and the temp-folder + rename protocol already makes a kill at any moment
safe, which is what running each stage as a subprocess would otherwise be for.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


MESH_SUFFIXES = (".obj", ".glb", ".gltf", ".ply", ".blend")
EXAMPLE = "example"
DONE = "DONE"
STAGE_LOG = "stages.log"

# per-scene option -> (type, the stages' scripts that take it, its command-line flag)
OPTIONS: dict[str, tuple[type, tuple[str, ...], str]] = {
    "views": (int, ("render",), "--views"), "size": (int, ("render",), "--size"),
    "holdout": (int, ("render",), "--holdout"), "elevations": (str, ("render",), "--elevations"),
    "noise_rot": (float, ("render",), "--noise-rot"), "noise_trans": (float, ("render",), "--noise-trans"),
    "noise_focal": (float, ("render",), "--noise-focal"),
    "flip_frames": (str, ("render",), "--flip-frames"), "lighting": (str, ("render",), "--lighting"),
    "samples": (int, ("render",), "--samples"),  # evaluate renders with the dataset's samples
    "seed": (int, ("render", "reconstruct", "evaluate"), "--seed"),
    "engine": (str, ("render", "evaluate"), "--engine"),
    "preset": (str, ("reconstruct",), "--preset"), "device": (str, ("reconstruct",), "--device"),
    "turntable_size": (int, ("evaluate",), "--turntable-size"),
}


def _log(msg: str) -> None:
    print(f"[batch] {msg}", flush=True)


# ------------------------------------------------------------------------------------------------
# Scenes
# ------------------------------------------------------------------------------------------------

@dataclass
class Scene:
    """One unit of work: a mesh to render a dataset from, or an existing dataset."""

    name: str
    mesh: str | None = None       # mesh path or "example"
    dataset: str | None = None    # existing dataset folder (then the dataset stage is skipped)
    options: dict = field(default_factory=dict)

    def spec(self) -> dict:
        """What defines the scene's outputs; a change means the scene is redone."""
        return {"name": self.name, "mesh": self.mesh, "dataset": self.dataset, "options": self.options}


def _coerce_options(raw: dict, where: str) -> dict:
    out = {}
    for k, v in raw.items():
        key = k.replace("-", "_")
        if key not in OPTIONS:
            raise ValueError(f"{where}: unknown scene option '{k}' (known: {', '.join(OPTIONS)})")
        typ = OPTIONS[key][0]
        try:
            out[key] = typ(v) if not (typ is str and isinstance(v, (list, tuple))) else ",".join(map(str, v))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: option '{k}' must be {typ.__name__}, got {v!r}") from e
        if key == "engine":  # render_dataset takes Blender's identifiers only
            out[key] = {"EEVEE": "BLENDER_EEVEE", "WORKBENCH": "BLENDER_WORKBENCH"}.get(out[key].upper(),
                                                                                       out[key].upper())
    return out


def _make_scene(entry, base: Path, defaults: dict, where: str) -> Scene:
    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: a scene must be a path or an object, got {entry!r}")
    entry = dict(entry)
    name = entry.pop("name", None)
    mesh, dataset = entry.pop("mesh", None), entry.pop("dataset", None)
    path = entry.pop("path", None)
    if path is not None:
        if path == EXAMPLE:
            mesh = EXAMPLE
        else:
            p = (base / path).resolve()
            if p.is_dir():
                dataset = str(p)
            else:
                mesh = str(p)
    if (mesh is None) == (dataset is None):
        raise ValueError(f"{where}: give exactly one of a mesh or a dataset")
    if mesh is not None and mesh != EXAMPLE:
        mp = (base / mesh).resolve()
        if not mp.is_file():
            raise ValueError(f"{where}: mesh file not found: {mp}")
        if mp.suffix.lower() not in MESH_SUFFIXES:
            raise ValueError(f"{where}: '{mp.name}' is not a mesh file ({', '.join(MESH_SUFFIXES)})")
        mesh = str(mp)
    if dataset is not None:
        dp = (base / dataset).resolve()
        if not (dp / "transforms.json").is_file():
            raise ValueError(f"{where}: dataset folder has no transforms.json: {dp}")
        dataset = str(dp)
    if name is None:
        name = EXAMPLE if mesh == EXAMPLE else Path(mesh or dataset).stem
    name = str(name)
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        raise ValueError(f"{where}: bad scene name {name!r}")
    options = {**defaults, **_coerce_options(entry, where)}
    return Scene(name, mesh, dataset, options)


def load_scenes(source, defaults: dict | None = None) -> list[Scene]:
    """Scenes from a folder, a text list or a JSON list (see the module docstring), sorted by name.

    Raises ValueError naming the entry on bad input (missing files, unknown options, duplicate names)."""
    defaults = _coerce_options(defaults or {}, "defaults")
    src = Path(source)
    scenes: list[Scene] = []
    if src.is_dir():
        for p in sorted(src.iterdir()):
            if p.is_file() and p.suffix.lower() in MESH_SUFFIXES:
                scenes.append(_make_scene({"mesh": str(p)}, src, defaults, str(p)))
            elif p.is_dir() and (p / "transforms.json").is_file():
                scenes.append(_make_scene({"dataset": str(p)}, src, defaults, str(p)))
    elif str(source) == EXAMPLE:
        scenes.append(_make_scene(EXAMPLE, Path.cwd(), defaults, EXAMPLE))
    elif src.is_file() and src.suffix.lower() == ".json":
        try:
            data = json.loads(src.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{src}: not valid JSON ({e})") from e
        if isinstance(data, dict):
            defaults = {**defaults, **_coerce_options(data.get("defaults", {}), f"{src}: defaults")}
            data = data.get("scenes")
        if not isinstance(data, list):
            raise ValueError(f"{src}: expected a list of scenes or {{\"scenes\": [...]}}")
        scenes = [_make_scene(e, src.parent, defaults, f"{src}: scenes[{i}]") for i, e in enumerate(data)]
    elif src.is_file():
        for lineno, line in enumerate(src.read_text().splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            path, *pairs = line.split()
            entry = {"path": path}
            for pair in pairs:
                if "=" not in pair:
                    raise ValueError(f"{src}:{lineno}: expected key=value, got '{pair}'")
                k, v = pair.split("=", 1)
                entry[k] = v
            scenes.append(_make_scene(entry, src.parent, defaults, f"{src}:{lineno}"))
    else:
        raise ValueError(f"scene source not found: {source} (give a folder of meshes, a .txt or a .json list)")
    names = [s.name for s in scenes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate scene names: {', '.join(dupes)} (give entries a 'name')")
    if not scenes:
        raise ValueError(f"no scenes found in {source}")
    return sorted(scenes, key=lambda s: s.name)


def parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return 0, 1
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like I/N, got {text!r}") from None
    if n < 1 or not (0 <= i < n):
        raise ValueError(f"--shard I/N needs 0 <= I < N, got {text!r}")
    return i, n


def shard_scenes(scenes: list[Scene], index: int, count: int) -> list[Scene]:
    """Scenes of shard ``index`` of ``count``: every count-th scene of the name-sorted list."""
    ordered = sorted(scenes, key=lambda s: s.name)
    return [s for k, s in enumerate(ordered) if k % count == index]


# ------------------------------------------------------------------------------------------------
# Stages
# ------------------------------------------------------------------------------------------------

@dataclass
class StageContext:
    scene: Scene
    scene_dir: Path
    work: Path                    # where the stage writes (does not exist yet; renamed when done)
    paths: dict[str, Path]        # outputs of the earlier stages, by stage name


@dataclass
class Stage:
    """A named step. ``run(ctx)`` writes into ``ctx.work``; ``external(scene)`` may name an existing
    folder that stands for the stage's output (then the stage is not run)."""

    name: str
    run: Callable[[StageContext], None]
    external: Callable[[Scene], Path | None] = lambda scene: None


def _flags(scene: Scene, target: str) -> list[str]:
    out = []
    for key, value in scene.options.items():
        _, targets, flag = OPTIONS[key]
        if target in targets:
            out += [flag, str(value)]
    return out


def _call(name: str, main: Callable[[list[str]], int], argv: list[str]) -> None:
    rc = main(argv)
    if rc == 130:  # the script caught Ctrl-C and stopped cleanly: stop the whole batch too
        raise KeyboardInterrupt
    if rc:
        raise RuntimeError(f"{name} exited with status {rc} (arguments: {' '.join(argv)})")


def stage_dataset(ctx: StageContext) -> None:
    from .dataset_render import main  # what scripts/render_dataset.py runs
    _call("render_dataset", main, [ctx.scene.mesh, "--out", str(ctx.work), *_flags(ctx.scene, "render")])


def _kwargs(scene: Scene, target: str) -> dict:
    return {key: value for key, value in scene.options.items() if target in OPTIONS[key][1]}


def stage_reconstruct(ctx: StageContext) -> None:
    from texforge.pipelines.multiview.run_folder import reconstruct_folder
    from texforge.runtime.errors import Cancelled
    try:
        reconstruct_folder(ctx.paths["dataset"], ctx.work, log=_log, **_kwargs(ctx.scene, "reconstruct"))
    except Cancelled as e:
        raise KeyboardInterrupt from e


def stage_evaluate(ctx: StageContext) -> None:
    from .evaluate_render import evaluate
    report = evaluate(ctx.paths["result"], ctx.paths["dataset"], ctx.work, **_kwargs(ctx.scene, "evaluate"))
    if report.get("problems"):
        raise RuntimeError("the report has problems: " + "; ".join(report["problems"]))


STAGES: list[Stage] = [
    Stage("dataset", stage_dataset, external=lambda s: Path(s.dataset) if s.dataset else None),
    Stage("result", stage_reconstruct),
    Stage("evaluate", stage_evaluate),
]


# ------------------------------------------------------------------------------------------------
# Running a scene (resumable)
# ------------------------------------------------------------------------------------------------

def _stage_log(scene_dir: Path, text: str) -> None:
    with open(scene_dir / STAGE_LOG, "a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _forget_if_changed(scene: Scene, scene_dir: Path, stages: list[Stage]) -> None:
    """Drop every stage output and the DONE marker when the scene's definition (scene.json) changed
    since they were written."""
    spec_file = scene_dir / "scene.json"
    if not spec_file.is_file():
        return
    try:
        old = json.loads(spec_file.read_text())
    except json.JSONDecodeError:
        old = None
    if old != scene.spec():
        _log(f"{scene.name}: options changed since the last run; redoing it from scratch")
        _remove(scene_dir / DONE)
        for st in stages:
            _remove(scene_dir / st.name)
        _remove(spec_file)


def prepare_scene_dir(scene: Scene, scene_dir: Path) -> None:
    """Make the scene folder ready for (re)running: drop leftovers of interrupted stages (temp
    folders), record the scene's definition."""
    scene_dir.mkdir(parents=True, exist_ok=True)
    for p in scene_dir.iterdir():
        if p.name.startswith(".") and ".tmp" in p.name:
            _remove(p)  # a stage that was interrupted
    from texforge.eval.report import write_json_atomic
    write_json_atomic(scene_dir / "scene.json", scene.spec())


def run_scene(scene: Scene, out: Path, stages: list[Stage], label: str = "") -> dict:
    """Run the unfinished stages of one scene; returns {"status", "seconds", "stages": {name: s}}."""
    from texforge.eval.report import write_json_atomic
    scene_dir = out / scene.name
    _forget_if_changed(scene, scene_dir, stages)
    if (scene_dir / DONE).is_file():
        _log(f"{label}{scene.name}: done already, skipped")
        return {"status": "skipped", "seconds": 0.0, "stages": {}}
    prepare_scene_dir(scene, scene_dir)
    paths: dict[str, Path] = {}
    times: dict[str, float] = {}
    t_scene = time.perf_counter()
    for st in stages:
        ext = st.external(scene)
        final = scene_dir / st.name
        if ext is not None:
            paths[st.name] = ext
            continue
        if final.is_dir():
            _log(f"{label}{scene.name}: {st.name} finished in an earlier run, kept")
            paths[st.name] = final
            continue
        work = scene_dir / f".{st.name}.tmp"
        _remove(work)
        _log(f"{label}{scene.name}: {st.name} ...")
        _stage_log(scene_dir, f"start {st.name}")
        t0 = time.perf_counter()
        try:
            st.run(StageContext(scene, scene_dir, work, dict(paths)))
            if not work.is_dir():
                raise RuntimeError(f"stage '{st.name}' wrote nothing to {work}")
        except Exception as e:  # noqa: BLE001 - one bad scene must not stop the batch
            _remove(work)
            _stage_log(scene_dir, f"failed {st.name}: {e}")
            _log(f"{label}{scene.name}: {st.name} FAILED: {e}")
            traceback.print_exc()
            return {"status": f"failed ({st.name})", "seconds": time.perf_counter() - t_scene, "stages": times,
                    "error": str(e)}
        os.replace(work, final)  # the stage's output appears complete or not at all
        times[st.name] = time.perf_counter() - t0
        _stage_log(scene_dir, f"done {st.name} {times[st.name]:.2f}s")
        _log(f"{label}{scene.name}: {st.name} done in {times[st.name]:.1f}s")
        paths[st.name] = final
    total = time.perf_counter() - t_scene
    write_json_atomic(scene_dir / DONE, {"scene": scene.spec(), "stage_seconds": times, "seconds": total,
                                         "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    _stage_log(scene_dir, "scene done")
    return {"status": "done", "seconds": total, "stages": times}


# ------------------------------------------------------------------------------------------------
# Aggregate and summary
# ------------------------------------------------------------------------------------------------

def write_aggregate(out: Path, all_scene_names: list[str] | None = None) -> dict:
    """aggregate.json + aggregate.html over every done scene folder in ``out`` (any shard's)."""
    from texforge.eval.aggregate import aggregate_reports
    from texforge.eval.html import write_aggregate_html
    from texforge.eval.report import write_json_atomic
    entries, done = [], set()
    for d in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")):
        report = d / "evaluate" / "report.json"
        if not (d / DONE).is_file() or not report.is_file():
            continue
        rep = json.loads(report.read_text())
        done.add(d.name)
        entries.append({"name": d.name, "metrics": rep.get("metrics", {}),
                        "report_html": f"{d.name}/evaluate/report.html", "report_json": f"{d.name}/evaluate/report.json",
                        "problems": rep.get("problems", [])})
    pending = [n for n in (all_scene_names or []) if n not in done]
    agg = aggregate_reports(entries, pending)
    write_json_atomic(out / "aggregate.json", agg)
    write_aggregate_html(agg, out)
    return agg


def summary_table(rows: list[tuple[str, dict]], agg: dict) -> str:
    metrics = {s["name"]: s["metrics"] for s in agg["scenes"]}
    cols = ("iou", "psnr", "ssim", "chamfer_l1_rel", "fscore_2", "cam_rot_deg_before", "cam_rot_deg_after")
    head = f"{'scene':<20} {'status':<22} {'time s':>7} " + " ".join(f"{c[:12]:>12}" for c in cols)
    lines = [head, "-" * len(head)]
    for name, info in rows:
        m = metrics.get(name, {})
        vals = " ".join(f"{m[c]:>12.4g}" if m.get(c) is not None else f"{'-':>12}" for c in cols)
        lines.append(f"{name[:20]:<20} {info['status'][:22]:<22} {info['seconds']:>7.1f} {vals}")
    mean = agg["mean"]
    vals = " ".join(f"{mean[c]:>12.4g}" if mean.get(c) is not None else f"{'-':>12}" for c in cols)
    lines.append(f"{'mean (all done)':<20} {len(agg['scenes']):<22} {'':>7} {vals}")
    return "\n".join(lines)


def run_batch(source, out, shard: str | None = None, defaults: dict | None = None,
              stages: list[Stage] | None = None) -> int:
    """The whole batch; returns the process exit status (0 when every scene of the shard is done)."""
    stages = STAGES if stages is None else stages
    out = Path(out)
    scenes = load_scenes(source, defaults)
    index, count = parse_shard(shard)
    mine = shard_scenes(scenes, index, count)
    out.mkdir(parents=True, exist_ok=True)
    _log(f"{len(scenes)} scene(s), shard {index}/{count}: {len(mine)} to do -> {out}")
    rows = []
    names = [s.name for s in scenes]
    for k, scene in enumerate(mine):
        try:
            info = run_scene(scene, out, stages, label=f"({k + 1}/{len(mine)}) ")
        except KeyboardInterrupt:
            _log(f"interrupted during {scene.name}; run the same command again to resume")
            write_aggregate(out, names)
            return 130
        rows.append((scene.name, info))
        if info["status"] == "done":  # keep the aggregate current during long batches
            write_aggregate(out, names)
    agg = write_aggregate(out, names)
    print(summary_table(rows, agg), flush=True)
    _log(f"aggregate: {out / 'aggregate.json'}, {out / 'aggregate.html'}")
    return 0 if all(info["status"] in ("done", "skipped") for _, info in rows) else 1
