"""TexForge Blender extension: photographs to textured, UV-mapped 3D assets.

Layout by role: ``ui/`` (panels, preferences, scene properties), ``operators/`` (one module per user
action), ``convert/`` (Blender data <-> the library's arrays), ``runtime/`` (worker-thread jobs and the modal
operator base every long operator uses, the PyTorch check and install). Everything here imports bpy; the library ``texforge`` (torch) is imported inside
operators, never at registration, so the extension enables even where PyTorch is missing.
Each module in ``_MODULES`` has its own register() / unregister().
"""

import importlib

_MODULE_NAMES = (
    "ui.properties",
    "ui.preferences",
    "ui.panels",
    "runtime.job_operator",
    "operators.install_torch",
    # multi-view workflow
    "operators.reconstruct",
    "operators.turntable",
    "operators.transforms",
    "operators.import_capture",
    "operators.export",
    "operators.preview",
    "operators.texture_variations",
    # single-image workflow
    "operators.reconstruct_single",
    "operators.swap",
    "ui.panels_single_image",
    "ui.panels_workflow",
    # category models
    "operators.train_category",
    "operators.generate_object",
    "ui.panels_category",
)

_modules = []


def register():
    _modules.clear()
    try:
        for name in _MODULE_NAMES:
            module = importlib.import_module(f"{__package__}.{name}")
            module.register()
            _modules.append(module)
    except Exception:
        # a failed enable leaves the modules before it unregistered; Blender shows the original error
        try:
            unregister()
        except Exception:  # noqa: BLE001 - the first error is the one to report
            pass
        raise


def unregister():
    errors = []
    for module in reversed(_modules):
        try:
            module.unregister()
        except Exception as exc:  # keep unregistering the rest, report the first failure after
            errors.append(exc)
    _modules.clear()
    if errors:
        raise errors[0]
