"""The README's first command: set up the environment, then run TexForge's main job on the embedded example.

    python scripts/demo.py [--out out/demo] [--preset small|tiny|full] [--overwrite]

1. Blender builds the procedural example object (a textured vase) and renders it from 24 cameras with
   3 degree / 3 % pose noise, plus 8 held-out views with exact cameras -> OUT/dataset
2. the multi-view pipeline fits a textured mesh and corrects the cameras -> OUT/result
   (mesh.glb, texture.png, result.json)
3. Blender renders the result at the held-out cameras and on a turntable; the figures go to
   OUT/evaluation (report.json, report.html) and are printed here.
Each step reuses its output when it is already complete (delete OUT or pass --overwrite to redo).

Every line a step prints is prefixed with the demo's elapsed time and an estimate of the time left
(from the step's own progress where it prints a fraction, scaled to this machine's speed so far); a
quiet step gets a heartbeat line every 30 s. The summary ends with the total time and the load average.
"""

import sys
from pathlib import Path

import _bootstrap  # noqa: E402  (a sibling: Python puts a script's own folder first on its path)

_bootstrap.ensure_environment()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402


DATASET_ARGS = ["example", "--views", "24", "--size", "128", "--holdout", "8",
                "--noise-rot", "3", "--noise-trans", "0.03", "--lighting", "studio", "--seed", "0"]


# Seconds each step takes on an idle 2-core CPU machine (docs/BENCHMARKS.md, demo section): the
# estimate scales them by how much slower this run has been so far.
REFERENCE_S = {"render": 10.0, "reconstruct": 220.0, "evaluate": 5.0}
# Below this fraction a step's own progress says too little (first-view kernel loading, set-up).
MIN_FRACTION = 0.05
# Where a step's own progress lines carry a fraction done: "view 3/32" (renders), " 45.0% " (reconstruct).
_FRACTION_PATTERNS = (re.compile(r"view (\d+)/(\d+)"), re.compile(r"\]\s+(\d+(?:\.\d+)?)% "))
HEARTBEAT_S = 30.0


def format_duration(seconds: float) -> str:
    seconds = int(round(max(seconds, 0.0)))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def parse_fraction(line: str) -> float | None:
    """The fraction done that a step's progress line states, if it states one."""
    for pattern in _FRACTION_PATTERNS:
        m = pattern.search(line)
        if m:
            done = float(m.group(1))
            return done / float(m.group(2)) if m.lastindex == 2 else done / 100.0
    return None


class DemoClock:
    """Elapsed time and time-left estimate of the demo's steps (``REFERENCE_S`` keys, in order)."""

    def __init__(self, steps, now=time.perf_counter):
        self.now = now
        self.start = now()
        self.todo = list(steps)           # steps not finished yet (the current one first)
        self.done_s: dict[str, float] = {}
        self.step_start = self.start
        self.fraction: float | None = None

    def begin(self, step: str) -> None:
        self.step_start, self.fraction = self.now(), None

    def skip(self, step: str) -> None:
        self.todo.remove(step)

    def finish(self, step: str) -> None:
        self.done_s[step] = self.now() - self.step_start
        self.todo.remove(step)
        self.step_start, self.fraction = self.now(), None

    def elapsed(self) -> float:
        return self.now() - self.start

    def seconds_left(self) -> float:
        """Current step from its own fraction when known (else from its reference), later steps from
        their references, all scaled by this run's speed relative to the references."""
        current = self.todo[0] if self.todo else None
        in_step = self.now() - self.step_start
        spent = sum(self.done_s.values())
        expected = sum(REFERENCE_S[k] for k in self.done_s)
        if current is not None and self.fraction is not None and self.fraction >= MIN_FRACTION:
            spent += in_step
            expected += REFERENCE_S[current] * self.fraction
        slowdown = spent / expected if expected > 0 else 1.0
        later = sum(REFERENCE_S[k] for k in self.todo[1:]) * slowdown
        if current is None:
            return 0.0
        if self.fraction is not None and self.fraction >= MIN_FRACTION:
            return later + in_step * (1.0 - self.fraction) / self.fraction
        return later + max(REFERENCE_S[current] * slowdown - in_step, 0.0)

    def prefix(self) -> str:
        return f"[demo {format_duration(self.elapsed())} elapsed, ~{format_duration(self.seconds_left())} left]"


class _AnnotatedStdout:
    """Stands in for sys.stdout during a step: each complete line goes out with the clock's prefix,
    and the fraction it states (if any) updates the estimate."""

    def __init__(self, clock: DemoClock, out):
        self.clock, self.out = clock, out
        self.buffer = ""
        self.lock = threading.Lock()
        self.last_line = time.perf_counter()

    def write(self, text: str) -> int:
        with self.lock:
            self.buffer += text
            while "\n" in self.buffer:
                line, self.buffer = self.buffer.split("\n", 1)
                fraction = parse_fraction(line)
                if fraction is not None:
                    self.clock.fraction = fraction
                self.out.write(f"{self.clock.prefix()} {line}\n" if line.strip() else "\n")
                self.last_line = time.perf_counter()
            self.out.flush()
        return len(text)

    def flush(self) -> None:
        self.out.flush()

    def heartbeat(self, title: str) -> None:
        with self.lock:
            if time.perf_counter() - self.last_line >= HEARTBEAT_S:
                self.out.write(f"{self.clock.prefix()} {title}: still working\n")
                self.out.flush()
                self.last_line = time.perf_counter()


def _step(clock: DemoClock, step: str, title: str, done_marker: Path, run) -> None:
    if done_marker.exists():
        clock.skip(step)
        print(f"[demo] {title}: already done ({done_marker.parent})", flush=True)
        return
    clock.begin(step)
    print(f"{clock.prefix()} {title} ...", flush=True)
    real, annotated = sys.stdout, _AnnotatedStdout(clock, sys.stdout)
    stop = threading.Event()

    def beat():
        while not stop.wait(HEARTBEAT_S / 3):
            annotated.heartbeat(title)

    beater = threading.Thread(target=beat, daemon=True)
    sys.stdout = annotated
    beater.start()
    try:
        rc = run()
    finally:
        stop.set()
        beater.join()
        sys.stdout = real
    if rc == 130:
        raise KeyboardInterrupt
    if rc:
        raise SystemExit(f"demo: {title} failed (exit status {rc})")
    clock.finish(step)
    print(f"{clock.prefix()} {title}: done in {format_duration(clock.done_s[step])}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="TexForge's main job on the embedded example object")
    parser.add_argument("--out", default=str(_bootstrap.ROOT / "out" / "demo"), help="demo output folder")
    parser.add_argument("--preset", default="small", choices=("tiny", "small", "full"))
    parser.add_argument("--overwrite", action="store_true", help="redo every step")
    args = parser.parse_args()
    out = Path(args.out)
    if args.overwrite and out.exists():
        shutil.rmtree(out)
    dataset, result, evaluation = out / "dataset", out / "result", out / "evaluation"

    from texforge_blender import dataset_render
    from texforge_blender.evaluate_render import evaluate
    from texforge.pipelines.multiview.run_folder import reconstruct_folder
    from texforge.runtime.progress import ProgressThrottle

    def library(call):
        call()
        return 0

    load_before = os.getloadavg()[0]
    clock = DemoClock(REFERENCE_S)
    _step(clock, "render", "1/3 render the example into a multi-view dataset", dataset / "dataset.json",
          lambda: dataset_render.main([*DATASET_ARGS, "--out", str(dataset)]))
    _step(clock, "reconstruct", "2/3 reconstruct", result / "result.json",
          lambda: library(lambda: reconstruct_folder(
              dataset, result, preset=args.preset, seed=0, overwrite=True, log=lambda m: print(f"[reconstruct] {m}"),
              progress=ProgressThrottle(lambda f, m: print(f"[reconstruct] {100 * f:5.1f}% {m}"), skip_repeats=True))))
    _step(clock, "evaluate", "3/3 evaluate with Blender renders", evaluation / "report.json",
          lambda: library(lambda: evaluate(result, dataset, evaluation, overwrite=True)))

    metrics = json.loads((evaluation / "report.json").read_text())["metrics"]
    recon = json.loads((result / "result.json").read_text())
    fmt = lambda key, spec: "-" if metrics.get(key) is None else format(metrics[key], spec)  # noqa: E731
    print("\n[demo] TexForge on the embedded example")
    print(f"[demo]   held-out views      mask IoU {fmt('iou', '.3f')}   PSNR {fmt('psnr', '.1f')} dB   "
          f"SSIM {fmt('ssim', '.3f')}")
    print(f"[demo]   surface             Chamfer-L1 {fmt('chamfer_l1_rel', '.2%')} of the bbox diagonal   "
          f"F-score@1% {fmt('fscore_1', '.3f')}  @2% {fmt('fscore_2', '.3f')}")
    print(f"[demo]   cameras             rotation error {fmt('cam_rot_deg_before', '.2f')} deg -> "
          f"{fmt('cam_rot_deg_after', '.2f')} deg after refinement")
    print(f"[demo]   pruned frames       {[p['name'] for p in recon.get('pruned', [])] or 'none'}")
    print(f"[demo]   result              {result / 'mesh.glb'}  ({result / 'texture.png'})")
    print(f"[demo]   report              {evaluation / 'report.html'}")
    steps = ", ".join(f"{k} {format_duration(v)}" for k, v in clock.done_s.items()) or "every step reused"
    print(f"[demo]   total time          {format_duration(clock.elapsed())} ({steps}) on {os.cpu_count()} "
          f"CPU cores, load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\n[demo] cancelled; completed steps are kept, run again to resume", file=sys.stderr)
        sys.exit(130)
