"""Shared helpers for the scripts that tests run in fresh subprocesses (``.venv/bin/python script.py``).

Each script prints one line ``RESULT: {json}`` with the facts it observed; the test asserts on them, so a
failing check names the fact instead of a traceback from inside Blender.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import sys


class ModuleBlocker(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``import <name>`` fail for the given top-level names, as if they were not installed.

    mode "missing": find_spec raises ModuleNotFoundError (importlib.util.find_spec fails too);
    mode "broken": the module is found but executing it raises ImportError (a broken install).
    Every attempt is recorded in ``attempts``.
    """

    def __init__(self, names, mode="missing"):
        self.names = set(names)
        self.mode = mode
        self.attempts: list[str] = []

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] not in self.names:
            return None
        self.attempts.append(fullname)
        if self.mode == "missing":
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked by the test)", name=fullname)
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise ImportError(f"{module.__name__} is broken (simulated by the test): libtorch_cpu.so not found")


def block(names, mode="missing") -> ModuleBlocker:
    for name in list(sys.modules):
        if name.split(".")[0] in set(names):
            del sys.modules[name]
    blocker = ModuleBlocker(names, mode)
    sys.meta_path.insert(0, blocker)
    return blocker


class _Anything:
    """What layout.operator() returns: accepts the operator's own properties only."""

    def __init__(self, allowed):
        object.__setattr__(self, "_allowed", allowed)

    def __setattr__(self, key, value):
        if key not in self._allowed:
            raise AttributeError(f"operator has no property {key!r}")
        object.__setattr__(self, key, value)


class RecordingLayout:
    """Stands in for bpy.types.UILayout when calling a draw function without a window (bpy has no UI).

    Records labels, operators and props in ``items`` (shared with sub-layouts) and checks that every
    operator is registered and every prop exists on its data, as Blender's layout would.
    """

    def __init__(self, items=None):
        object.__setattr__(self, "items", [] if items is None else items)

    def __setattr__(self, key, value):  # alert, enabled, use_property_split, ...
        object.__setattr__(self, key, value)

    def _child(self, *args, **kwargs):
        return RecordingLayout(self.items)

    box = row = column = split = column_flow = grid_flow = _child

    def label(self, text="", icon="NONE", **kwargs):
        self.items.append(("label", text))

    def separator(self, **kwargs):
        pass

    def progress(self, factor=0.0, type="BAR", text="", **kwargs):
        self.items.append(("progress", text, factor))

    def template_list(self, listtype_name, list_id, dataptr, propname, *args, **kwargs):
        if propname not in dataptr.bl_rna.properties:
            raise AttributeError(f"{dataptr!r} has no property {propname!r}")
        self.items.append(("template_list", listtype_name))

    def prop(self, data, name, **kwargs):
        if name not in data.bl_rna.properties:
            raise AttributeError(f"{data!r} has no property {name!r}")
        self.items.append(("prop", name))

    def operator(self, idname, text="", **kwargs):
        import bpy

        module, name = idname.split(".")
        rna = getattr(getattr(bpy.ops, module), name).get_rna_type()  # raises if not registered
        self.items.append(("operator", idname, text))
        return _Anything(set(rna.properties.keys()))

    def texts(self) -> list[str]:
        return [item[1] for item in self.items if item[0] == "label"]


def module_names(package_dir, prefix: str) -> list[str]:
    """Dotted names of every .py module under ``package_dir`` (namespace folders without __init__ too)."""
    from pathlib import Path

    names = []
    for path in sorted(Path(package_dir).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(package_dir).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        names.append(".".join((prefix, *parts)))
    return names


def emit(result: dict) -> None:
    print("RESULT: " + json.dumps(result), flush=True)
