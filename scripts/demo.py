"""The README's first command: set up the environment, then run TexForge's main job on the embedded example.

    python scripts/demo.py [--out out/demo] [--preset small|tiny|full] [--overwrite]

1. Blender builds the procedural example object (a textured vase) and renders it from 24 cameras with
   3 degree / 3 % pose noise, plus 8 held-out views with exact cameras -> OUT/dataset
2. the multi-view pipeline fits a textured mesh and corrects the cameras -> OUT/result
   (mesh.glb, texture.png, result.json)
3. Blender renders the result at the held-out cameras and on a turntable; the figures go to
   OUT/evaluation (report.json, report.html) and are printed here.
Each step reuses its output when it is already complete (delete OUT or pass --overwrite to redo).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bootstrap  # noqa: E402

_bootstrap.ensure_environment()

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402


DATASET_ARGS = ["example", "--views", "24", "--size", "128", "--holdout", "8",
                "--noise-rot", "3", "--noise-trans", "0.03", "--lighting", "studio", "--seed", "0"]


def _step(title: str, done_marker: Path, run) -> None:
    if done_marker.exists():
        print(f"[demo] {title}: already done ({done_marker.parent})", flush=True)
        return
    print(f"[demo] {title} ...", flush=True)
    t0 = time.perf_counter()
    rc = run()
    if rc == 130:
        raise KeyboardInterrupt
    if rc:
        raise SystemExit(f"demo: {title} failed (exit status {rc})")
    print(f"[demo] {title}: done in {time.perf_counter() - t0:.1f} s", flush=True)


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

    from texforge.blender import dataset_render
    from texforge.blender.evaluate_render import evaluate
    from texforge.pipelines.multiview.run_folder import reconstruct_folder

    def library(call):
        call()
        return 0

    t0 = time.perf_counter()
    _step("1/3 render the example into a multi-view dataset", dataset / "dataset.json",
          lambda: dataset_render.main([*DATASET_ARGS, "--out", str(dataset)]))
    _step("2/3 reconstruct", result / "result.json",
          lambda: library(lambda: reconstruct_folder(dataset, result, preset=args.preset, seed=0, overwrite=True,
                                                     log=lambda m: print(f"[demo]   {m}", flush=True))))
    _step("3/3 evaluate with Blender renders", evaluation / "report.json",
          lambda: library(lambda: evaluate(result, dataset, evaluation, overwrite=True)))

    metrics = json.loads((evaluation / "report.json").read_text())["metrics"]
    recon = json.loads((result / "result.json").read_text())
    fmt = lambda key, spec: "-" if metrics.get(key) is None else format(metrics[key], spec)  # noqa: E731
    print(f"\n[demo] TexForge on the embedded example ({time.perf_counter() - t0:.0f} s in all)")
    print(f"[demo]   held-out views      mask IoU {fmt('iou', '.3f')}   PSNR {fmt('psnr', '.1f')} dB   "
          f"SSIM {fmt('ssim', '.3f')}")
    print(f"[demo]   surface             Chamfer-L1 {fmt('chamfer_l1_rel', '.2%')} of the bbox diagonal   "
          f"F-score@1% {fmt('fscore_1', '.3f')}  @2% {fmt('fscore_2', '.3f')}")
    print(f"[demo]   cameras             rotation error {fmt('cam_rot_deg_before', '.2f')} deg -> "
          f"{fmt('cam_rot_deg_after', '.2f')} deg after refinement")
    print(f"[demo]   pruned frames       {[p['name'] for p in recon.get('pruned', [])] or 'none'}")
    print(f"[demo]   result              {result / 'mesh.glb'}  ({result / 'texture.png'})")
    print(f"[demo]   report              {evaluation / 'report.html'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\n[demo] cancelled; completed steps are kept, run again to resume", file=sys.stderr)
        sys.exit(130)
