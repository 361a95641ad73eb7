"""Benchmark of one multi-view reconstruction: seconds per phase, CPU time and peak memory.

    python scripts/bench_multiview.py DATASET [--preset tiny|small|full] [--max-size PX] [--device cpu|cuda]
                                      [--seed S] [--out DIR] [--markdown FILE]

Loads DATASET (training split, scaled to --max-size like reconstruct.py), runs the multi-view pipeline
and prints a table of its phases (the pipeline's own timings: placement, each fit stage, pruning,
inflation search, texture, evaluation), the fit's share, the process's CPU time and its peak resident
memory (getrusage; the whole process, loading included). With --out the result folder is written
too, so that scripts/eval_multiview_quality.py --result DIR can score the same run. Timings are for
benchmarks only, never for pass/fail.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

# phases that are not the fit itself: what the run costs after the geometry is settled
POST_FIT = ("inflate", "texture", "evaluate")


def _arguments() -> list[str]:
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


def parse_args(argv):
    from texforge.data.working_size import DEFAULT_MAX_SIZE

    p = argparse.ArgumentParser(prog="bench_multiview.py", description=__doc__.split("\n\n")[0])
    p.add_argument("dataset", help="dataset folder (transforms.json + images)")
    p.add_argument("--preset", default="small", choices=("tiny", "small", "full"))
    p.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE, metavar="PX",
                   help="working size, as reconstruct.py (default %(default)s; 0: full size)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the result folder here (must not exist or be empty)")
    p.add_argument("--markdown", help="also write the table here (Markdown)")
    return p.parse_args(argv)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # KiB on Linux


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def table(rows: list[tuple[str, float, float]]) -> list[str]:
    """Markdown rows of (phase, wall s, CPU s), with each phase's share of the CPU time."""
    cpu_total = max(sum(r[2] for r in rows), 1e-9)
    lines = ["| phase | wall s | CPU s | share of CPU |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {name} | {wall:.1f} | {cpu:.1f} | {100 * cpu / cpu_total:.0f} % |" for name, wall, cpu in rows]
    return lines


def main(argv=None) -> int:
    args = parse_args(_arguments() if argv is None else argv)
    from texforge.data.transforms_io import load_dataset
    from texforge.pipelines.multiview import MultiviewConfig, run_multiview
    from texforge.pipelines.multiview.run_folder import photo_reader
    from texforge.results import check_out_dir
    from texforge.runtime.errors import Cancelled, InputError

    try:
        if args.out:
            check_out_dir(args.out, False)
        t0, c0 = time.perf_counter(), time.process_time()
        ds = load_dataset(args.dataset, split="train", max_size=args.max_size)
        load_s, load_cpu = time.perf_counter() - t0, time.process_time() - c0
        cfg = MultiviewConfig.preset(args.preset, seed=args.seed)
        tenths = [-1]

        def progress(frac: float, msg: str) -> None:   # a line per 10 %: enough to see it is alive
            if int(10 * frac) > tenths[0]:
                tenths[0] = int(10 * frac)
                print(f"[bench_multiview {time.perf_counter() - t0:7.1f}s] {100 * frac:5.1f}% {msg}", flush=True)

        result = run_multiview(ds, cfg, progress=progress, device=args.device, photos=photo_reader(args.dataset))
        if args.out:
            from texforge.pipelines.multiview.result_io import write_result
            write_result(result, args.out, dataset=str(Path(args.dataset).resolve()))
    except (InputError, FileExistsError) as e:
        print(f"bench_multiview.py: error: {e}", file=sys.stderr)
        return 2
    except (Cancelled, KeyboardInterrupt):
        return 130
    timings, cpu = dict(result.timings), dict(result.cpu_timings)
    total = timings.pop("total")
    rows = [("load", load_s, load_cpu)] + [(k, v, cpu.get(k, 0.0)) for k, v in timings.items()]
    # the fit: every phase but those after it (placement, stages, pruning and refits)
    post_cpu = sum(cpu.get(k, 0.0) for k in POST_FIT)
    fit_cpu = sum(cpu.values()) - post_cpu
    w, h = result.image_size
    lines = [f"{args.dataset}: {len(result.names)} views at {w}x{h}, preset {args.preset}, {args.device}", ""]
    lines += table(rows)
    lines += ["", f"- CPU s: fit {fit_cpu:.1f}, after the fit {post_cpu:.1f} (whole run / fit = "
                  f"{(fit_cpu + post_cpu) / max(fit_cpu, 1e-9):.2f}); wall: run {total:.1f} s",
              f"- process CPU time: {_cpu_s():.1f} s; peak RSS: {_peak_rss_mb():.0f} MB",
              f"- train IoU {result.metrics['train_iou_mean']:.4f}, PSNR {result.metrics['train_psnr_mean']:.2f} dB, "
              f"inflation {result.metrics['inflate_px']:+.3f} px"]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        from texforge.atomic import write_text
        write_text(Path(args.markdown), text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
