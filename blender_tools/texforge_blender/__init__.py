"""TexForge's Blender side: everything here imports ``bpy``, and builds on the library ``texforge``.

Camera objects <-> the project's camera arrays (``camera``), and the headless tools that the scripts and
the tests run inside Blender: scene set-up and renders of known cameras (``render_views``), synthetic
datasets (``dataset_render``), evaluation renders (``evaluate_render``) and the built-in example object
(``example_object``). It lives outside ``backend/`` so that ``texforge`` never sees Blender; the add-on
(``addon/``), the scripts and the tests import from here, and it ships in the same wheel.
"""
