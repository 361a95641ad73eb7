"""The modal-job operator base (addon/runtime/job_operator.py) and what it gives every long operator:
progress lines in background mode, cancellation recognised by class, and a re-run of Reconstruct over
"all cameras" that leaves out the cameras an earlier run created."""

import re
import time
from types import SimpleNamespace

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import addon  # noqa: E402
from addon.convert import results_import, roles, scene_inputs  # noqa: E402
from addon.runtime import job as job_mod  # noqa: E402
from addon.runtime import job_operator  # noqa: E402
from addon.runtime.job_operator import JobOperator  # noqa: E402
from texforge_blender import dataset_render  # noqa: E402
from texforge.runtime.errors import Cancelled  # noqa: E402

LINE = re.compile(r"^\[TexForge\] (?P<label>\S+): (?P<stage>.+) (?P<pct>\d+)% \| (?P<elapsed>.+) elapsed \| "
                  r"(?P<left>.+left)$")


class _FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _fed_echo(updates, seconds_per_update, **kw):
    """A ProgressEcho fed ``updates`` evenly spaced progress calls; returns the lines it printed."""
    clock, lines = _FakeClock(), []
    echo = job_mod.ProgressEcho(write=lines.append, clock=clock, **kw)
    job = job_mod.Job("fit", lambda p, s: None)
    job.started = clock.now
    for i in range(updates):
        clock.now += seconds_per_update
        job.fraction, job.message = (i + 1) / updates, f"stage {i * 3 // updates}"
        echo(job)
    return lines


def test_progress_echo_is_throttled_and_names_stage_percent_and_times():
    # 2000 updates over 400 s (the fit reports every iteration): at most one line per 2 s
    lines = _fed_echo(2000, 0.2)
    assert 20 <= len(lines) <= 400 / 2.0 + 2
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines[:3]
    assert parsed[0]["label"] == "fit" and parsed[-1]["pct"] == "100" and parsed[-1]["stage"] == "stage 2"
    # time left is extrapolated (100 s in at 25 % -> 300 s left), elapsed counts from the job's start
    quarter = next(m for m in parsed if int(m["pct"]) >= 25)
    assert "elapsed" in quarter.group(0) and "min" in quarter["left"]
    assert parsed[-1]["left"] == "about 0 s left"


def test_progress_echo_prints_on_progress_steps_and_heartbeats():
    # a fast job: 100 updates in 10 s -> one line per 5 % step at most every 2 s, plus the last
    fast = _fed_echo(100, 0.1)
    assert 5 <= len(fast) <= 7
    # a job stuck at one stage: a heartbeat line every 15 s even without progress
    clock, lines = _FakeClock(), []
    echo = job_mod.ProgressEcho(write=lines.append, clock=clock)
    job = job_mod.Job("fit", lambda p, s: None)
    job.started, job.fraction, job.message = clock.now, 0.1, "initial fit"
    for _ in range(600):  # 60 s at the same fraction
        clock.now += 0.1
        echo(job)
    assert 4 <= len(lines) <= 5


def test_job_recognises_the_library_cancel_by_class_not_by_name():
    class Cancelled2(Cancelled):
        pass

    def raising(exc):
        def work(progress, should_stop):
            raise exc
        return work

    job = job_mod.Job("a", raising(Cancelled2("stop"))).run_sync()
    assert job.cancelled and job.error is None
    job.release()
    impostor = type("Cancelled", (Exception,), {})  # same name, another class: a real error
    job = job_mod.Job("b", raising(impostor("boom"))).run_sync()
    assert not job.cancelled and isinstance(job.error, impostor)
    job.release()


class _FakeRun:
    """What a JobOperator's prepare_job returns: a job that loops until stopped, and a finish() that
    records how it ended."""

    def __init__(self):
        self.job = None
        self.finished_with = None

    def make_job(self, extra_stop=None, echo=None):
        def work(progress, should_stop):
            while not should_stop():
                progress(0.5, "working")
                time.sleep(0.005)
            raise Cancelled("stopped")
        self.job = job_mod.Job("fake", work, extra_stop=extra_stop, echo=echo)
        return self.job

    def finish(self, context):
        self.finished_with = "cancelled" if self.job.cancelled else "done"
        self.job.release()
        return ({"WARNING"}, "cancelled") if self.job.cancelled else ({"INFO"}, "done")


class _FakeWindowManager:
    def __init__(self):
        self.timers = []

    def event_timer_add(self, step, window=None):
        self.timers.append(step)
        return step

    def event_timer_remove(self, timer):
        self.timers.remove(timer)


class _Operator(JobOperator):
    """The base without Blender's operator machinery: reports are collected."""

    def __init__(self):
        self.reports = []

    def report(self, level, message):
        self.reports.append((set(level), message))

    def prepare_job(self, context):
        return _FakeRun()


def test_the_base_runs_a_modal_job_and_esc_cancels_it():
    op = _Operator()
    wm = _FakeWindowManager()
    context = SimpleNamespace(window_manager=wm, window=None, screen=None)
    op._job_run = op.prepare_job(context)
    op._job_run.make_job().start()
    op._timer = wm.event_timer_add(0.25)
    timer, esc = SimpleNamespace(type="TIMER", value="NOTHING"), SimpleNamespace(type="ESC", value="PRESS")
    assert op.modal(context, timer) == {"PASS_THROUGH"}  # still running: the UI stays usable
    assert job_operator.running_job_message() == "A TexForge job is running (fake)"  # poll greys others out
    assert op.modal(context, esc) == {"RUNNING_MODAL"} and op._job_run.job.cancel_requested
    assert op._job_run.job.wait(10)
    assert op.modal(context, timer) == {"CANCELLED"}
    assert op._job_run.finished_with == "cancelled" and op.reports == [({"WARNING"}, "cancelled")]
    assert wm.timers == [] and job_mod.active_job() is None


def test_every_long_operator_uses_the_one_base():
    from addon.operators import reconstruct, texture_variations
    for op in (reconstruct.TEXFORGE_OT_reconstruct, texture_variations.TEXFORGE_OT_generate_texture_variations):
        assert issubclass(op, JobOperator)
        # the modal machinery lives only in the base
        for name in ("modal", "invoke", "execute", "cancel"):
            assert name not in vars(op), name


# ------------------------------------------------------------------------------------------------
# Reconstruct in background mode, twice
# ------------------------------------------------------------------------------------------------

VIEWS, SIZE = 6, 48


@pytest.fixture(scope="module")
def small_spot(tmp_path_factory, test_data):
    folder = tmp_path_factory.mktemp("jobs") / "spot"
    spec = dataset_render.DatasetSpec(views=VIEWS, size=(SIZE, SIZE), holdout=0, noise_rot=2.0, noise_trans=0.02,
                                      seed=3, samples=4, elevations=(0.0, 35.0))
    dataset_render.render_dataset(str(test_data / "spot" / "spot.obj"), folder, spec, log=lambda *a: None)
    return folder


@pytest.fixture
def spot_scene(small_spot):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    assert bpy.ops.texforge.import_transforms(filepath=str(small_spot / "transforms.json")) == {"FINISHED"}
    yield bpy.context.scene
    addon.unregister()


def test_reconstruct_prints_progress_and_a_rerun_skips_its_own_cameras(spot_scene, capfd, tmp_path):
    assert bpy.app.background
    spot_scene.texforge.output_dir = str(tmp_path / "results")
    originals = sorted(c.name for c in scene_inputs.selected_cameras(bpy.context))
    assert len(originals) == VIEWS
    capfd.readouterr()
    assert bpy.ops.texforge.reconstruct(preset="tiny", max_image_size=SIZE) == {"FINISHED"}
    out = capfd.readouterr().out
    lines = [m for m in map(LINE.match, out.splitlines()) if m]
    assert len(lines) >= 3, f"progress lines in background mode:\n{out[-2000:]}"
    assert all(m["label"] == "reconstruct" for m in lines)
    assert [int(m["pct"]) for m in lines] == sorted(int(m["pct"]) for m in lines) and lines[-1]["pct"] == "100"
    assert len({m["stage"] for m in lines}) >= 2  # the stage changes as the run goes on

    corrected = [v.corrected for v in spot_scene.texforge.views]
    assert all(c is not None and roles.role(c) == roles.CORRECTED for c in corrected)
    first_mesh = spot_scene.texforge.result_object
    # the result folder is recorded on the object: texture variations find its pseudo-GT there
    from pathlib import Path
    folder = Path(results_import.result_folder_of(first_mesh))
    assert folder.parent == tmp_path / "results" and (folder / "pseudo_gt.safetensors").is_file()

    # Select All, as an artist does before running again: the corrected cameras are left out, with a warning
    for o in spot_scene.objects:
        o.select_set(o.type == "CAMERA")
    assert len([o for o in bpy.context.selected_objects if o.type == "CAMERA"]) == 2 * VIEWS
    assert sorted(c.name for c in scene_inputs.selected_cameras(bpy.context)) == originals
    assert sorted(scene_inputs.skipped_corrected_cameras(bpy.context)) == sorted(c.name for c in corrected)
    assert bpy.ops.texforge.reconstruct(preset="tiny", max_image_size=SIZE) == {"FINISHED"}
    out = capfd.readouterr().out
    assert "left out" in out and "earlier reconstruction" in out
    views = spot_scene.texforge.views
    assert sorted(v.name for v in views) == originals  # no duplicate views from the first run's cameras
    assert spot_scene.texforge.result_object != first_mesh

    # selecting only corrected cameras uses them on purpose
    for o in spot_scene.objects:
        o.select_set(o in corrected)
    assert sorted(c.name for c in scene_inputs.selected_cameras(bpy.context)) == sorted(c.name for c in corrected)
    assert scene_inputs.skipped_corrected_cameras(bpy.context) == []
    assert scene_inputs.selection_problem(bpy.context) is None
    np.testing.assert_array_equal(  # they carry the original photos
        [scene_inputs.camera_image(c).name for c in sorted(corrected, key=lambda o: o.name)],
        [scene_inputs.camera_image(bpy.data.objects[n]).name for n in originals])
