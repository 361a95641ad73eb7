"""Batch reconstruction and evaluation: render_dataset -> reconstruct -> evaluate over many scenes.

    python scripts/batch.py SCENES --out DIR [--shard I/N] [--views N] [--size PX] [--preset P] [--seed S]
    blender -b --factory-startup --python-exit-code 1 -P scripts/batch.py -- SCENES --out DIR ...

SCENES is a folder of meshes / datasets, a .txt or .json scene list, or ``example``; every scene gets
DIR/SCENE/{dataset,result,evaluate}, resumable after a kill, and DIR/aggregate.json / .html summarise
the done scenes. The scene-list format, the per-scene options, sharding, the stage protocol and what
is repeatable: texforge_blender.batch, which does the work.
"""

from __future__ import annotations

import argparse
import sys


def parse_args(argv):
    from texforge_blender.batch import OPTIONS
    p = argparse.ArgumentParser(prog="batch.py", description=__doc__.split("\n\n")[0])
    p.add_argument("scenes", help="folder of meshes / datasets, or a .txt / .json scene list, or 'example'")
    p.add_argument("--out", required=True, help="output folder (one sub-folder per scene)")
    p.add_argument("--shard", default=None, help="I/N: run only shard I (0-based) of N")
    for key, (typ, _, flag) in OPTIONS.items():
        p.add_argument(flag, dest=key, type=typ, default=None, help=f"default for every scene's '{key}'")
    return p.parse_args(argv)


def main(argv=None) -> int:
    if argv is None:  # inside Blender the script's own arguments follow "--"
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    from texforge_blender.batch import OPTIONS, run_batch
    args = parse_args(argv)
    defaults = {k: getattr(args, k) for k in OPTIONS if getattr(args, k) is not None}
    try:
        return run_batch(args.scenes, args.out, args.shard, defaults)
    except ValueError as e:
        print(f"batch.py: error: {e}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
