"""Train Category Model (``texforge.train_category_model``): the user's objects -> renders -> a model.

The source is a folder of meshes, a collection of the scene (its objects exported as GLB files on the
main thread, ``convert.scene_meshes``) or a procedural family. The job then
1. renders the collection in a separate process (``texforge_blender.collection_render``): rendering needs
   Blender's main thread, so it never runs on the worker thread of this Blender; the worker only starts
   the process, polls it for finished objects (progress) and stops it on Cancel (SIGINT: it finishes the
   object in hand, every finished object stays);
2. trains the model on the worker thread (``texforge.pipelines.category.train.train_category_model``:
   reconstructor -> pseudo maps -> GAN, each stage saved when done, the running stage checkpointed).

Where things go (``runtime.category_models``): the model in MODELS/<name>/, the exported meshes and the
rendered collection in MODELS/.work/<name>/. Cancel leaves both as they are; a second run on the same
name with *Resume* goes on from the last checkpoint (and renders only the objects still missing).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import time

import bpy
from bpy.props import IntProperty, StringProperty

from ..convert import scene_meshes
from ..runtime import category_models
from ..runtime import job as job_mod
from ..runtime.job_operator import JobOperator
from ..runtime.job import error_text
from ..ui.preferences import job_device

RENDER_SHARE = 0.25       # of the progress bar: rendering, then training
STOP_GRACE_S = 60.0       # a stopped renderer finishes the object in hand; after this it is killed
RENDER_LOG = "render.log"
# a real Blender runs the renderer as a script of its own binary (its bundled Python cannot import bpy)
_BLENDER_EXPR = ("import sys; from texforge_blender.collection_render import main; "
                 "sys.exit(main(sys.argv[sys.argv.index('--') + 1:]))")


_live_renderers: set = set()


@atexit.register
def _stop_renderers() -> None:
    """Blender quits while a renderer runs (the job's thread dies with it): stop the process too, or it
    would go on rendering the whole collection unseen. Finished objects stay for a resumed run."""
    for proc in list(_live_renderers):
        if proc.poll() is None:
            proc.kill()


def render_command(args: list[str]) -> list[str]:
    """The collection renderer as a process: Blender's own binary in the background when this is a real
    Blender, else this Python (the bpy module, as in the tests and headless tools)."""
    if bpy.app.binary_path:  # empty in the bpy module
        return [bpy.app.binary_path, "-b", "--python-exit-code", "1", "--python-expr", _BLENDER_EXPR, "--", *args]
    return [sys.executable, "-m", "texforge_blender.collection_render", *args]


def _render_failure(path: str, n: int = 3) -> str:
    """What went wrong, from the renderer's log: its own error line (which names the file), else the
    last lines."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [ln.strip() for ln in f.read().splitlines() if ln.strip()]
    except OSError:
        return ""
    marker = "[render_collection] error: "
    errors = [ln[len(marker):] for ln in lines if ln.startswith(marker)]
    return errors[-1] if errors else " | ".join(lines[-n:])


class CategoryTrainingRun:
    """One training run from a checked source to a model folder (see the module docstring)."""

    def __init__(self, name: str, models: str, render_args: list[str], count: int, preset: str, device: str,
                 resume: bool, iterations: int | None, gan_iterations: int | None, workers: int):
        self.name = name
        self.model_dir = category_models.model_path(models, name)
        self.collection_dir = category_models.work_path(models, name, "collection")
        self.render_args = render_args
        self.count = count
        self.preset = preset
        self.device = device
        self.resume = resume
        self.iterations = iterations
        self.gan_iterations = gan_iterations
        self.workers = workers
        self.render_kept = False  # an earlier run's rendered objects are reused (Resume)
        self.job: job_mod.Job | None = None
        self.process: subprocess.Popen | None = None

    # -- worker thread -------------------------------------------------------------------------
    def _rendered(self) -> int:
        objects = os.path.join(self.collection_dir, "objects")
        try:
            return sum(os.path.isfile(os.path.join(objects, d, "transforms.json")) for d in os.listdir(objects))
        except OSError:
            return 0

    def _forget_earlier_renders(self) -> None:
        """A new model (no Resume) starts from new renders: an earlier run's collection of this name (made
        by this operator: it has the renderer's render.json) would otherwise be resumed, or refused when
        its settings differ."""
        from texforge_blender.collection_render import PLAN_NAME

        if os.path.isfile(os.path.join(self.collection_dir, PLAN_NAME)):
            shutil.rmtree(self.collection_dir)

    def _poll(self, proc, progress, should_stop) -> None:
        """Until the renderer ends: its progress (objects finished on disk), and Cancel forwarded to it."""
        stop_sent = None
        while proc.poll() is None:
            if stop_sent is None and should_stop():
                stop_sent = time.monotonic()
                proc.send_signal(signal.SIGINT if os.name == "posix" else signal.SIGTERM)
            elif stop_sent is not None and time.monotonic() - stop_sent > STOP_GRACE_S:
                proc.kill()
            done = self._rendered()
            progress(RENDER_SHARE * done / max(self.count, 1), f"rendering objects ({done}/{self.count})")
            time.sleep(0.2)

    def _render(self, progress, should_stop) -> None:
        from texforge.runtime.errors import Cancelled, InputError

        os.makedirs(os.path.dirname(self.collection_dir), exist_ok=True)
        log_path = os.path.join(os.path.dirname(self.collection_dir), RENDER_LOG)
        args = [*self.render_args, "--out", self.collection_dir, "--workers", str(self.workers)]
        with open(log_path, "w", encoding="utf-8") as log:
            # a session of its own: Ctrl-C in Blender's terminal does not reach it, Cancel does (below)
            self.process = subprocess.Popen(render_command(args), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        proc = self.process
        _live_renderers.add(proc)
        try:
            self._poll(proc, progress, should_stop)
        finally:
            _live_renderers.discard(proc)
        if proc.returncode == 130 or should_stop():
            raise Cancelled("rendering stopped; the finished objects are kept")
        if proc.returncode != 0:
            hint = ""
            if self.resume or self.render_kept:
                hint = "; to render it anew, untick Resume (or choose another Model Name)"
            raise InputError(f"rendering the collection failed (exit code {proc.returncode}): "
                             f"{_render_failure(log_path) or 'no output'}{hint}; full log: {log_path}")
        progress(RENDER_SHARE, f"rendered {self.count} objects")

    def _work(self, progress, should_stop):
        from texforge.pipelines.category.train import train_category_model

        if not self.resume and not self.render_kept:
            self._forget_earlier_renders()
        self._render(progress, should_stop)
        return train_category_model(
            self.collection_dir, self.model_dir, preset=self.preset, iterations=self.iterations,
            gan_iterations=self.gan_iterations, resume=self.resume, device=self.device,
            progress=lambda f, m: progress(RENDER_SHARE + (1.0 - RENDER_SHARE) * f, m), should_stop=should_stop,
            log=lambda m: print(f"[TexForge] {m}", flush=True))

    def make_job(self, extra_stop=None, echo=None) -> job_mod.Job:
        self.job = job_mod.Job("train category model", self._work, extra_stop=extra_stop, echo=echo)
        return self.job

    # -- main thread -----------------------------------------------------------------------------
    def finish(self, context) -> tuple[set, str]:
        job = self.job
        try:
            if job.cancelled:
                kept = category_models.read_entry(self.model_dir).stages if os.path.isdir(self.model_dir) else ()
                stages = f" (finished stages: {', '.join(kept)})" if kept else ""
                return {"WARNING"}, (f"TexForge: training '{self.name}' cancelled; what it reached is kept{stages}: "
                                     f"tick Resume and train again to continue")
            if job.error is not None:
                print(f"[TexForge] category training failed:\n{job.error_traceback}")
                return {"ERROR"}, f"TexForge: training '{self.name}' failed: {error_text(job.error)}"
            entry = category_models.read_entry(self.model_dir)
            scene = context.scene
            if scene is not None and entry.can_generate:
                scene.texforge.generate_model = self.name
            took = job.finished - job.started if job.finished else 0.0
            return {"INFO"}, (f"TexForge: category model '{self.name}' trained in {took:.0f} s "
                              f"({entry.summary()}) -> {self.model_dir}")
        finally:
            job.release()
            job_mod.release_device_memory(self.device)


def _source(context, props, models: str, name: str) -> tuple[list[str], int]:
    """(the renderer's source arguments, object count); main thread. InputError for a bad source, before
    anything is written (a collection's meshes are exported only once everything else is checked)."""
    from texforge_blender.collection_render import PROCEDURAL_PREFIX, source_items
    from texforge.runtime.errors import InputError

    views, size = ["--views", str(props.category_views)], ["--size", str(props.category_size)]
    if props.category_source == "PROCEDURAL":
        n = props.category_objects
        return [PROCEDURAL_PREFIX + props.category_generator, "--objects", str(n), *views, *size], n
    if props.category_source == "FOLDER":
        if not props.category_folder:
            raise InputError("choose the folder of meshes to learn from (Mesh Folder)")
        folder = os.path.normpath(bpy.path.abspath(props.category_folder))
        if not os.path.isabs(folder):
            raise InputError(f"Mesh Folder {props.category_folder!r} is relative to an unsaved .blend; save the "
                             "file or choose an absolute folder")
        if not os.path.isdir(folder):
            raise InputError(f"Mesh Folder {folder}: not a folder (choose the folder that holds the meshes)")
        n = len(source_items(folder, None))  # InputError: missing, empty or unreadable folder
        return [folder, *views, *size], n
    coll = props.category_collection
    if coll is None:
        raise InputError("choose the collection whose objects the model learns from (Collection)")
    objects = scene_meshes.collection_objects(coll)
    if not objects:
        raise InputError(f"collection '{coll.name}' holds no mesh objects: put the category's example objects "
                         "into it")
    meshes = category_models.work_path(models, name, "meshes")
    written = scene_meshes.export_collection(coll, meshes, context.evaluated_depsgraph_get())
    return [meshes, *views, *size], len(written)


def prepare_run(context, preset: str = "", iterations: int = 0, gan_iterations: int = -1) -> CategoryTrainingRun:
    """Main thread: check the settings and the source (InputError / RuntimeError with a clear message)."""
    from texforge.runtime.errors import InputError

    props = context.scene.texforge
    name = props.category_model_name.strip()
    problem = category_models.name_problem(name)
    if problem:
        raise InputError(problem)
    models = category_models.models_folder(context)
    model_dir = category_models.model_path(models, name)
    exists = os.path.isfile(os.path.join(model_dir, category_models.MODEL_JSON))
    if os.path.exists(model_dir) and not exists and os.listdir(model_dir):
        raise InputError(f"{model_dir} exists and is not a category model; choose another Model Name")
    if exists and not props.category_resume:
        raise InputError(f"a model named '{name}' exists in {models}: tick Resume to continue it, or choose "
                         "another Model Name")
    device = job_device(context)
    render_args, count = _source(context, props, models, name)
    cpus = os.cpu_count() or 2
    # a real Blender's renderer runs its shards with its own Python, which cannot start Blender: one process
    workers = 1 if bpy.app.binary_path else max(1, min(4, cpus - 1))
    run = CategoryTrainingRun(name, models, render_args, count, preset or props.category_preset, device,
                              resume=exists, iterations=iterations or None,
                              gan_iterations=None if gan_iterations < 0 else gan_iterations, workers=workers)
    run.render_kept = bool(props.category_resume)
    return run


class TEXFORGE_OT_train_category_model(JobOperator, bpy.types.Operator):
    """Render the chosen objects and train a category model on them (saved in the Models Folder)"""

    bl_idname = "texforge.train_category_model"
    bl_label = "Train Category Model"

    preset: StringProperty(name="Preset", default="", options={"SKIP_SAVE", "HIDDEN"},
                           description="Override the scene's category preset; empty: the scene's")
    iterations: IntProperty(name="Iterations", default=0, min=0, options={"SKIP_SAVE", "HIDDEN"},
                            description="Override the reconstructor's iterations (0: the preset's)")
    gan_iterations: IntProperty(name="GAN Iterations", default=-1, min=-1, options={"SKIP_SAVE", "HIDDEN"},
                                description="Override the GAN's iterations (-1: the preset's, 0: no GAN stage)")

    def prepare_job(self, context) -> CategoryTrainingRun | None:
        try:
            return prepare_run(context, self.preset, self.iterations, self.gan_iterations)
        except (ValueError, RuntimeError, ImportError, OSError) as exc:
            self.report({"ERROR"}, f"TexForge: {error_text(exc)}")
            return None


CLASSES = (TEXFORGE_OT_train_category_model,)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
