"""Render a mesh into a multi-view transforms.json dataset (noisy training cameras + exact ones).

    python scripts/render_dataset.py MESH --out DIR [--views N] [--size PX] [--elevations LO,HI]
        [--holdout K] [--noise-rot DEG] [--noise-trans FRAC] [--noise-focal FRAC]
        [--noise-model exact|gaussian|student] [--noise-dof DOF] [--flip-frames I,J]
        [--close-frames I,J]
        [--lighting flat|studio|turntable] [--exposure-sigma S] [--specular S] [--seed S] [--engine CYCLES] [--samples S] [--overwrite]
    blender -b --factory-startup --python-exit-code 1 -P scripts/render_dataset.py -- MESH --out DIR ...

MESH is an OBJ / GLB / glTF / PLY / .blend file, or the word ``example`` for the embedded procedural
example. See addon/dataset_render.py for what the folder holds.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _arguments() -> list[str]:
    # Inside Blender, sys.argv holds Blender's own options; ours follow "--".
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


if __name__ == "__main__":
    from texforge_blender.dataset_render import main

    status = main(_arguments())
    if status:
        sys.exit(status)
