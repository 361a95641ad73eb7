"""Render a category collection (many objects, random views and lights) for the category models.

    python scripts/render_collection.py SOURCE --out DIR [--objects N] [--heldout K] [--views V] [--size PX]
        [--seed S] [--workers W] [--shard I/N] [--lighting random|studio|flat] [--samples S]

SOURCE is a folder of meshes (OBJ / glTF / GLB / PLY / .blend) or a procedural family
(procedural:vase, procedural:bottle). Running the same command again resumes an interrupted
collection. See blender_tools/texforge_blender/collection_render.py and texforge/data/collection.py for the layout.
"""

import sys

if __name__ == "__main__":
    from texforge_blender.collection_render import main

    sys.exit(main(sys.argv[1:]))
