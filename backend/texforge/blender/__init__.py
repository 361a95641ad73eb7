"""The Blender side of the library: everything here imports ``bpy``.

Camera objects <-> the project's camera arrays (``camera``), and the headless tools that the scripts and
the tests run inside Blender: scene set-up and renders of known cameras (``render_views``), synthetic
datasets (``dataset_render``), evaluation renders (``evaluate_render``) and the built-in example object
(``example_object``). Nothing outside this subpackage imports it, so the rest of ``texforge`` runs
without Blender; the add-on (``addon/``) imports from here.
"""
