"""The user's category models on disk, read without PyTorch (the panel lists them every redraw).

``MODELS/<name>/`` is a model folder (:mod:`texforge.models.category_model`: model.json and its stages);
``MODELS/.work/<name>/`` holds what training it needs and may resume from: the meshes exported from a
Blender collection (``meshes/``) and the rendered collection (``collection/``). The dot keeps it out of
the model list and out of the way of a file browser.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

MODEL_JSON = "model.json"        # texforge.models.category_model.MODEL_JSON (a test keeps them equal)
MODEL_FORMAT = "texforge-category-model"
WORK = ".work"
_ADDON = __package__.rpartition(".")[0]  # as in ui/preferences.py: "addon" or "bl_ext.<repository>.texforge"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_. -]{0,63}$")


def models_folder(context=None, create: bool = False) -> str:
    """The category-models folder: the add-on preferences' Models Folder, else the extension's user
    folder (a development checkout, which is no extension: Blender's user resource folder)."""
    import bpy

    context = context or bpy.context
    addon = context.preferences.addons.get(_ADDON)
    chosen = getattr(getattr(addon, "preferences", None), "models_dir", "") if addon is not None else ""
    path = bpy.path.abspath(chosen) if chosen else ""
    if not path:
        try:
            path = bpy.utils.extension_path_user(_ADDON, path="models", create=create)
        except ValueError:
            path = os.path.join(bpy.utils.resource_path("USER"), "texforge", "models")
    if create:
        os.makedirs(path, exist_ok=True)
    return path


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: str
    stages: tuple[str, ...]      # finished stages, in training order
    problem: str = ""            # why the folder is not a usable model ('' when it reads)

    @property
    def can_generate(self) -> bool:
        return not self.problem and "gan" in self.stages

    def summary(self) -> str:
        if self.problem:
            return self.problem
        return ", ".join(self.stages) if self.stages else "no finished stage yet"


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a model folder (None when it can)."""
    if not _NAME.match(name or "") or name.strip() != name or name in (".", ".."):
        return (f"model name {name!r}: use 1-64 letters, digits, spaces, '-', '_' or '.', starting with a "
                "letter or digit")
    return None


def model_path(models: str, name: str) -> str:
    return os.path.join(models, name)


def work_path(models: str, name: str, part: str) -> str:
    """``part``: 'meshes' or 'collection'."""
    return os.path.join(models, WORK, name, part)


def read_entry(path: str) -> ModelEntry:
    name = os.path.basename(os.path.normpath(path))
    try:
        with open(os.path.join(path, MODEL_JSON), encoding="utf-8") as f:
            header = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return ModelEntry(name, path, (), f"unreadable {MODEL_JSON} ({type(err).__name__})")
    if not isinstance(header, dict) or header.get("format") != MODEL_FORMAT:
        return ModelEntry(name, path, (), "not a TexForge category model")
    stages = header.get("stages") if isinstance(header.get("stages"), dict) else {}
    order = ("reconstructor", "maps", "gan")
    return ModelEntry(name, path, tuple(s for s in order if s in stages))


def list_models(models: str) -> list[ModelEntry]:
    """Every folder of ``models`` with a model.json, by name (an unreadable folder lists nothing)."""
    try:
        names = sorted(os.listdir(models))
    except OSError:
        return []
    return [read_entry(os.path.join(models, n)) for n in names
            if not n.startswith(".") and os.path.isfile(os.path.join(models, n, MODEL_JSON))]
