"""The one base of TexForge's long operators: a ``job.Job`` on a worker thread, polled by a timer.

A subclass (``class TEXFORGE_OT_x(JobOperator, bpy.types.Operator)``) implements ``prepare_job(context)``:
main thread, reads what the work needs into plain data and returns a *run* object with
* ``make_job(extra_stop=None, echo=None) -> job.Job`` (the work, touching no bpy data), and
* ``finish(context) -> (report type set, message)``: main thread, after the job ended; it builds the
  Blender data from the result, or reports the error / cancellation and leaves the scene as it was.
``prepare_job`` reports its own errors and returns None to stop.

The base gives every such operator the same behaviour:
* with a window: the job runs on a worker thread while the UI stays usable; the panel draws the
  active job's progress bar (stage, percent, time left) and Cancel; Esc cancels too;
* in background mode (``blender -b``, the bpy module, scripts), where timers and modal operators never
  run: the job runs on the calling thread and prints throttled progress lines (``job.ProgressEcho``);
* one job per session: ``poll`` greys the operator out while another job runs.
"""

from __future__ import annotations

import bpy

from . import job as job_mod

TIMER_STEP = 0.25  # seconds between progress polls


def redraw(context) -> None:
    """Redraw the 3D views, where the sidebar panels draw the progress bar."""
    screen = getattr(context, "screen", None) or (context.window.screen if context.window else None)
    if screen is None:
        return
    for area in screen.areas:
        if area.type == "VIEW_3D":
            area.tag_redraw()


def running_job_message() -> str | None:
    """Why no other job may start now (None when none runs)."""
    active = job_mod.active_job()
    if active is not None and not active.done:
        return f"A TexForge job is running ({active.label})"
    return None


class JobOperator:
    """Mixin for ``bpy.types.Operator`` (see the module docstring)."""

    _job_run = None
    _timer = None

    def prepare_job(self, context):
        """Every operator built on this base defines it: gather plain arrays on the main thread and return
        the run object (``make_job()`` / ``finish()``). bpy's operator metaclass does not combine with
        ABCMeta, so a missing override is reported when the operator runs rather than at class creation."""
        raise TypeError(f"{type(self).__name__} is a JobOperator and must define prepare_job(context)")

    @classmethod
    def poll(cls, context):
        busy = running_job_message()
        if busy:
            cls.poll_message_set(busy)
            return False
        return True

    def _end(self, context) -> set:
        level, message = self._job_run.finish(context)
        self.report(level, message)
        return {"FINISHED"} if "INFO" in level else {"CANCELLED"}

    def execute(self, context):
        """Synchronous run: background mode and scripts, with progress lines on stdout."""
        self._job_run = self.prepare_job(context)
        if self._job_run is None:
            return {"CANCELLED"}
        self._job_run.make_job(echo=job_mod.ProgressEcho()).run_sync()
        return self._end(context)

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        self._job_run = self.prepare_job(context)
        if self._job_run is None:
            return {"CANCELLED"}
        try:
            self._job_run.make_job().start()
        except RuntimeError as exc:  # another job started meanwhile
            self.report({"ERROR"}, f"TexForge: {exc}")
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_STEP, window=context.window)
        wm.modal_handler_add(self)
        redraw(context)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = self._job_run.job
        if event.type == "ESC" and event.value == "PRESS" and not job.done:
            job.cancel()
            redraw(context)
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":  # any timer tick is a fine moment to poll (and cheap)
            return {"PASS_THROUGH"}  # the UI stays usable while the job runs
        redraw(context)
        if not job.done:
            return {"PASS_THROUGH"}  # never swallow a timer event another tool may be waiting for
        context.window_manager.event_timer_remove(self._timer)
        self._timer = None
        result = self._end(context)
        redraw(context)
        return result

    def cancel(self, context):
        """Blender ends the operator (file load, window closed): stop the worker and clean up."""
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        job = getattr(self._job_run, "job", None)
        if job is not None:
            job.cancel()
            job.wait(10.0)
            job.release()


class TEXFORGE_OT_cancel_job(bpy.types.Operator):
    """Stop the running TexForge job (the scene stays as it was)"""

    bl_idname = "texforge.cancel_job"
    bl_label = "Cancel"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context):
        return running_job_message() is not None

    def execute(self, context):
        job_mod.active_job().cancel()
        redraw(context)
        return {"FINISHED"}


CLASSES = (TEXFORGE_OT_cancel_job,)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register():
    _register_classes()


def unregister():
    """Stop a job that still runs: its operator and the code it calls are going away."""
    active = job_mod.active_job()
    if active is not None and not active.done:
        active.cancel()
        active.wait(10.0)
    _unregister_classes()
