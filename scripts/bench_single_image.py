"""Benchmark of single-image reconstruction (issue 12) on a collection's held-out objects.

    python scripts/bench_single_image.py MODEL COLLECTION --out DIR [--objects N] [--preset tiny|small|full]
           [--runs encoder,inversion,encoder_nocam,inversion_nocam,mask_iou,texture_l1,camera_fixed]

View 0 of each of the first N held-out objects is the photo; each run (encoder only or inversion, with
view 0's exact camera or none; the ablations mask_iou, texture_l1, camera_fixed switch one inversion
loss / the camera fine-tuning) is scored on input-view IoU, held-out-view IoU / PSNR (exact cameras;
runs with a camera only), KID on EffNet-Lite0 features of renders from 12 azimuths against the
held-out objects' views, and CPU seconds per image. Writes DIR/bench.json (after every run) and
DIR/bench.md. See texforge.pipelines.inversion.benchmark.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench_single_image.py", description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="category-model folder")
    p.add_argument("collection", help="the collection it was trained on (its held-out split is used)")
    p.add_argument("--out", required=True, help="folder for bench.json and bench.md")
    p.add_argument("--objects", type=int, default=20, metavar="N")
    p.add_argument("--preset", default="small", choices=("tiny", "small", "full"))
    p.add_argument("--runs", default="encoder,inversion,encoder_nocam,inversion_nocam",
                   help="comma-separated runs (default %(default)s)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from texforge.pipelines.inversion.benchmark import RUNS, markdown_table, run_benchmark
    from texforge.runtime.errors import InputError

    runs = [r for r in args.runs.split(",") if r]
    unknown = [r for r in runs if r not in RUNS]
    if unknown:
        print(f"error: unknown runs {unknown}; choose from {sorted(RUNS)}", file=sys.stderr)
        return 2
    try:
        report = run_benchmark(args.model, args.collection, runs, args.objects, args.preset, args.out)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    table = markdown_table(report)
    (Path(args.out) / "bench.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
