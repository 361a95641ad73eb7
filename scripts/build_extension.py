"""Build the TexForge Blender extension and check it with Blender's own validator.

    python scripts/build_extension.py --out DIR      ->  DIR/texforge-<version>.zip

The zip root is the add-on's package: the files of addon/ at the root, the library ``texforge`` (from
backend/) and its Blender side ``texforge_blender`` (from blender_tools/) as one pure-Python wheel under
``wheels/`` that the manifest lists (Blender installs it into its extensions' site-packages, so inside
Blender the library is imported as ``texforge``, as everywhere else), blender_manifest.toml and LICENSE:
the list in README's "Installing the extension", which tests/test_extension.py holds the zip to. Caches,
tests and virtual environments are left out.
Blender's extension tool (``blender_ext.py``, shipped inside the bpy wheel) builds the zip from a
staging folder and then validates the zip; no Blender binary is needed.
Set TEXFORGE_BLENDER_EXT to use another blender_ext.py (e.g. one from a Blender install).
"""

from __future__ import annotations

import sys

if sys.version_info < (3, 11):
    sys.exit("build_extension.py needs Python 3.11 or newer (like Blender 4.2-5.0 and its extension tool)")

import argparse
import ast
import importlib.util
import io
import os
import shutil
import subprocess
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = "blender_manifest.toml"
# (source folder, package) of what the wheel holds; pyproject.toml finds the same two
PACKAGES = [("backend", "texforge"), ("blender_tools", "texforge_blender")]
EXCLUDED_DIRS = {"__pycache__", "tests", ".venv", ".git", ".pytest_cache", "node_modules"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".egg-info")
EXT_TOOL_REL = Path("scripts/addons_core/bl_pkg/cli/blender_ext.py")
TAGS_REL = Path("scripts/modules/_bpy_internal/extensions/tags.py")


class BuildError(RuntimeError):
    """A build problem with a message meant for the user."""


def _bpy_dirs() -> list[Path]:
    """Folders of installed bpy wheels: this interpreter's, then the project's .venv (bpy is not imported)."""
    dirs = []
    try:
        spec = importlib.util.find_spec("bpy")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        dirs += [Path(p) for p in spec.submodule_search_locations]
    for pattern in ("lib/python3*/site-packages/bpy", "Lib/site-packages/bpy"):
        dirs += sorted((ROOT / ".venv").glob(pattern))
    return dirs


def find_blender_ext() -> tuple[Path, Path | None]:
    """(blender_ext.py, tags.py or None) from the bpy wheel; BuildError naming the fix when bpy is absent."""
    override = os.environ.get("TEXFORGE_BLENDER_EXT")
    if override:
        tool = Path(override)
        if not tool.is_file():
            raise BuildError(f"TEXFORGE_BLENDER_EXT={override} is not a file")
        return tool, None
    for bpy_dir in _bpy_dirs():
        # bpy/<major.minor>/scripts/...: take the newest Blender version folder in the wheel
        for version_dir in sorted(bpy_dir.glob("[0-9]*.[0-9]*"), reverse=True):
            tool = version_dir / EXT_TOOL_REL
            if tool.is_file():
                tags = version_dir / TAGS_REL
                return tool, tags if tags.is_file() else None
    raise BuildError(
        "Blender's extension tool was not found: the bpy module (pip package 'bpy==5.0.1', Python 3.11) is "
        f"not installed for {sys.executable}, nor in {ROOT / '.venv'}. Run `python scripts/run_tests.py` once "
        "to create the project's environment, or `pip install bpy==5.0.1`, or set TEXFORGE_BLENDER_EXT to "
        "a blender_ext.py from a Blender install (<blender>/5.0/scripts/addons_core/bl_pkg/cli/blender_ext.py)."
    )


def _backend_version() -> str:
    tree = ast.parse((ROOT / "backend" / "texforge" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise BuildError("backend/texforge/__init__.py defines no __version__")


def read_manifest() -> dict:
    """The manifest, after checking that its id and version agree with pyproject.toml and the backend."""
    path = ROOT / MANIFEST
    if not path.is_file():
        raise BuildError(f"{path} is missing")
    with path.open("rb") as f:
        manifest = tomllib.load(f)
    with (ROOT / "pyproject.toml").open("rb") as f:
        project_version = tomllib.load(f)["project"]["version"]
    versions = {MANIFEST: manifest.get("version"), "pyproject.toml": project_version,
                "backend/texforge/__init__.py": _backend_version()}
    if len(set(versions.values())) != 1:
        raise BuildError("version mismatch: " + ", ".join(f"{k} says {v}" for k, v in versions.items()))
    if manifest.get("id") != "texforge":
        raise BuildError(f"{MANIFEST}: id must be 'texforge', found {manifest.get('id')!r}")
    return manifest


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n in EXCLUDED_DIRS or n.endswith(EXCLUDED_SUFFIXES)}


def wheel_name(version: str) -> str:
    return f"texforge-{version}-py3-none-any.whl"


def build_wheel(dest: Path, version: str) -> Path:
    """The library as a pure-Python wheel in ``dest`` (built from a copy, so the checkout stays clean)."""
    with tempfile.TemporaryDirectory(prefix="texforge-wheel-") as tmp:
        src = Path(tmp) / "src"
        for folder, package in PACKAGES:
            shutil.copytree(ROOT / folder / package, src / folder / package, ignore=_ignore)
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (ROOT / name).is_file():
                shutil.copy2(ROOT / name, src / name)
        cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
               "--disable-pip-version-check", "-w", str(dest), str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"building the texforge wheel failed:\n{(proc.stdout + proc.stderr).strip()}")
    wheel = dest / wheel_name(version)
    if not wheel.is_file():
        raise BuildError(f"pip wheel did not produce {wheel.name}; found {sorted(p.name for p in dest.iterdir())}")
    return wheel


def stage(dest: Path, version: str) -> Path:
    """Lay out the extension package in ``dest`` (created) exactly as the zip root will be."""
    addon_dir = ROOT / "addon"
    if not (addon_dir / "__init__.py").is_file():
        raise BuildError(f"{addon_dir / '__init__.py'} is missing")
    shutil.copytree(addon_dir, dest, ignore=_ignore)
    if (dest / "wheels").exists():
        raise BuildError("addon/ must not contain a 'wheels' entry: the library wheel is built there")
    wheel = build_wheel(dest / "wheels", version)
    manifest_text = (ROOT / MANIFEST).read_text(encoding="utf-8")
    # The manifest in the repository names no wheel; the built one lists the wheel it ships. A top-level
    # key must come before the first [table], so it goes right after the version line.
    manifest_text = manifest_text.replace(f'version = "{version}"\n',
                                          f'version = "{version}"\nwheels = ["./wheels/{wheel.name}"]\n', 1)
    (dest / MANIFEST).write_text(manifest_text, encoding="utf-8")
    if (ROOT / "LICENSE").is_file():
        shutil.copy2(ROOT / "LICENSE", dest / "LICENSE")
    return dest


def _run_tool(tool: Path, *args: str) -> str:
    cmd = [sys.executable, str(tool), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise BuildError(f"`blender_ext.py {args[0]}` failed (exit code {proc.returncode}):\n{output}")
    return output


def check_zip(zip_path: Path, version: str) -> list[str]:
    """The zip's file names, after checking its layout (package at the root, the library wheel holding
    only the library, no caches, nothing of the repository's tests, scripts or docs)."""
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        wheel = f"wheels/{wheel_name(version)}"
        in_wheel = zipfile.ZipFile(io.BytesIO(zf.read(wheel))).namelist() if wheel in names else []
    stray = [n for n in in_wheel
             if not n.startswith((*(f"{package}/" for _, package in PACKAGES), f"texforge-{version}.dist-info/"))]
    if stray:
        raise BuildError(f"{wheel} holds files outside the library: {stray[:10]}")
    required = ["__init__.py", MANIFEST, f"wheels/{wheel_name(version)}"]
    missing = [n for n in required if n not in names]
    if missing:
        raise BuildError(f"{zip_path.name} lacks {missing}; found {sorted(names)[:20]}")
    bad = [n for n in names if set(Path(n).parts) & EXCLUDED_DIRS or n.endswith(EXCLUDED_SUFFIXES)
           or n.startswith(("addon/", "backend/", "scripts/", "docs/"))]
    if bad:
        raise BuildError(f"{zip_path.name} contains files that must not ship: {bad[:10]}")
    return names


def build(out_dir: Path, validate: bool = True) -> Path:
    """Build ``out_dir/texforge-<version>.zip`` (replacing an older build of the same name) and validate it."""
    manifest = read_manifest()
    tool, tags = find_blender_ext()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    tag_args = ["--valid-tags", str(tags)] if tags else []
    with tempfile.TemporaryDirectory(prefix="texforge-build-") as tmp:
        source = stage(Path(tmp) / manifest["id"], manifest["version"])
        partial = Path(tmp) / zip_path.name
        print(f"[build] staging {source}", flush=True)
        _run_tool(tool, "build", "--source-dir", str(source), "--output-filepath", str(partial), *tag_args)
        check_zip(partial, manifest["version"])
        if validate:
            print(_run_tool(tool, "validate", *tag_args, str(partial)), flush=True)
        shutil.move(str(partial), zip_path)  # only a validated zip reaches the output folder
    print(f"[build] wrote {zip_path} ({zip_path.stat().st_size / 1024:.0f} KiB)", flush=True)
    return zip_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output folder (created)")
    parser.add_argument("--no-validate", action="store_true", help="skip `blender_ext.py validate`")
    args = parser.parse_args(argv)
    try:
        build(args.out, validate=not args.no_validate)
    except BuildError as exc:
        print(f"[build] error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
