"""The Blender extension: manifest, zip layout, Blender's validator, install / enable / disable with real bpy.

The zip is built once per session. Every Blender install runs in a fresh subprocess
(tests/blender_scripts/install_extension.py) with its own BLENDER_USER_RESOURCES, so registrations and
preferences never leak between tests; the script prints the facts it saw as JSON and the asserts live here.
"""

from __future__ import annotations

import json
import io
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "tests" / "blender_scripts"
sys.path.insert(0, str(ROOT / "scripts"))
import build_extension  # noqa: E402

PKG = "bl_ext.user_default.texforge"


def run_script(script: str, *args: str, env_extra: dict | None = None, cwd: Path | None = None) -> dict:
    """Run tests/blender_scripts/<script> with this interpreter in a fresh process; its RESULT json."""
    env = {**os.environ, **(env_extra or {})}
    env.pop("PYTHONPATH", None)  # the script must not see the repository unless it asks for it
    proc = subprocess.run([sys.executable, str(SCRIPTS / script), *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=180)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT: ")]
    assert proc.returncode == 0 and lines, f"{script} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(lines[-1][len("RESULT: "):])
    assert not result.get("errors"), "\n".join(result["errors"])
    return result


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory) -> Path:
    return build_extension.build(tmp_path_factory.mktemp("ext-build"))


def install(zip_path: Path, tmp_path: Path, torch: str) -> dict:
    user = tmp_path / "blender-user"
    user.mkdir()
    return run_script("install_extension.py", str(zip_path), "--torch", torch,
                      env_extra={"BLENDER_USER_RESOURCES": str(user)}, cwd=tmp_path)


# --- manifest and package -----------------------------------------------------------------------------------

def test_manifest_fields_and_versions_agree():
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    import texforge

    assert manifest["schema_version"] == "1.0.0"
    assert manifest["id"] == "texforge" and manifest["type"] == "add-on"
    assert manifest["version"] == pyproject["project"]["version"] == texforge.__version__
    assert tuple(int(x) for x in manifest["blender_version_min"].split(".")) >= (4, 2, 0)
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    tagline = manifest["tagline"]
    assert len(tagline) <= 64 and tagline[-1].isalnum(), tagline
    assert set(manifest["permissions"]) <= {"files", "network", "clipboard", "camera", "microphone"}
    assert "photo" in manifest["permissions"]["files"].lower()
    # the repository's manifest bundles nothing (never numpy/torch: bpy 5.0 pins numpy < 2); the build adds
    # the library's own pure-Python wheel
    assert "wheels" not in manifest
    assert "GPL-3.0-or-later" in (ROOT / "LICENSE").read_text()


def readme_zip_contents() -> set[str]:
    """The zip's entries as README's "Installing the extension" section lists them, folder by folder."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = text.index("<!-- zip-contents")
    block = text[text.index("```text\n", marker) + len("```text\n"):]
    block = block[:block.index("```")]
    names = set()
    for line in block.splitlines():
        folder, *files = line.split()
        prefix = "" if folder == "(root)" else folder
        assert folder == "(root)" or folder.endswith("/"), f"README zip list: bad folder {folder!r}"
        names |= {prefix + f for f in files}
    return names


def test_zip_holds_exactly_what_readme_lists(extension_zip):
    """Nothing more (no tests, scripts, docs, caches, headless tools outside the wheel), nothing less."""
    assert extension_zip.name == "texforge-0.1.0.zip"
    names = {n for n in zipfile.ZipFile(extension_zip).namelist() if not n.endswith("/")}
    listed = readme_zip_contents()
    assert names == listed, (f"in the zip but not in README: {sorted(names - listed)}; "
                             f"in README but not in the zip: {sorted(listed - names)}")
    # the list itself is the add-on: every module of addon/ ships (and the README must say so)
    addon_files = {p.relative_to(ROOT / "addon").as_posix() for p in (ROOT / "addon").rglob("*.py")
                   if "__pycache__" not in p.parts}
    assert addon_files <= listed, sorted(addon_files - listed)


def test_wheel_holds_only_the_library(extension_zip):
    with zipfile.ZipFile(extension_zip) as zf, \
            zipfile.ZipFile(io.BytesIO(zf.read("wheels/texforge-0.1.0-py3-none-any.whl"))) as whl:
        in_wheel = set(whl.namelist())
    library = {p.relative_to(ROOT / folder).as_posix() for folder, package in build_extension.PACKAGES
               for p in (ROOT / folder / package).rglob("*.py") if "__pycache__" not in p.parts}
    assert library <= in_wheel, sorted(library - in_wheel)
    extra = {n for n in in_wheel - library if not n.startswith("texforge-0.1.0.dist-info/")}
    assert extra == set(), sorted(extra)
    assert "texforge_blender/dataset_render.py" in in_wheel  # the headless tools ship beside the library


def test_blender_validator_accepts_the_zip(extension_zip):
    tool, tags = build_extension.find_blender_ext()
    proc = subprocess.run([sys.executable, str(tool), "validate", "--valid-tags", str(tags), str(extension_zip)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _copy_sources(dest: Path) -> Path:
    """A minimal copy of the repository for build tests that must break a file."""
    dest.mkdir()
    for name in ("blender_manifest.toml", "pyproject.toml", "LICENSE"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("addon", "backend", "blender_tools"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_build_refuses_mismatched_versions(tmp_path, monkeypatch):
    root = _copy_sources(tmp_path / "src")
    manifest = root / "blender_manifest.toml"
    manifest.write_text(manifest.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    monkeypatch.setattr(build_extension, "ROOT", root)
    with pytest.raises(build_extension.BuildError, match="version mismatch.*0.2.0"):
        build_extension.build(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_build_reports_validator_errors(tmp_path, monkeypatch):
    root = _copy_sources(tmp_path / "src")
    manifest = root / "blender_manifest.toml"
    lines = [('tagline = "Photographs to meshes."' if line.startswith("tagline") else line)
             for line in manifest.read_text().splitlines()]
    manifest.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(build_extension, "ROOT", root)
    with pytest.raises(build_extension.BuildError, match="tagline"):
        build_extension.build(tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.zip"))  # nothing unvalidated reaches the output folder


def test_build_without_bpy_says_how_to_fix(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("TEXFORGE_BLENDER_EXT", raising=False)
    monkeypatch.setattr(build_extension, "_bpy_dirs", lambda: [])
    assert build_extension.main(["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "bpy" in err and "pip install bpy==5.0.1" in err and "Traceback" not in err


# --- install into a temporary Blender user folder -----------------------------------------------------------

def _assert_registered(state: dict) -> None:
    assert state["panel"] and state["panel_category"] == "TexForge", state
    assert state["scene_prop"] and state["prefs"], state
    assert state["operators"] == ["TEXFORGE_OT_install_torch", "TEXFORGE_OT_check_torch"], state
    assert state["load_post_handlers"], state


def _assert_unregistered(state: dict) -> None:
    assert not state["panel"] and not state["scene_prop"] and not state["prefs"], state
    assert state["operators"] == [] and state["load_post_handlers"] == [], state


def _assert_install_lifecycle(r: dict, tmp_path: Path) -> None:
    assert r["install"] == ["FINISHED"] and "user_default" in r["repos"]
    assert Path(r["installed_dir"]).is_relative_to(tmp_path), r["installed_dir"]
    assert r["torch_after_enable"] is False  # register() never imports torch
    _assert_registered(r["enabled"])
    assert r["preset"] == "small" and r["prefs_values"] == {"device": "AUTO", "default_preset": "small"}
    assert r["default_preset_full"] == {"current": "full", "chosen": "small"}
    # the library is `texforge`, from the wheel the extension ships (installed under the user folder);
    # no top-level `backend` module appears
    assert r["backend_name"] == "texforge"
    assert Path(r["backend_file"]).is_relative_to(tmp_path) and "site-packages" in Path(r["backend_file"]).parts
    assert r["toplevel_backend"] == []
    # no online access -> the installer is disabled and says how to allow it
    assert r["online_off"]["online_access"] is False and r["online_off"]["poll"] is False
    assert "Allow Online Access" in r["online_off"]["call"]
    assert r["online_on"] == {"online_access": True, "poll": True}
    assert r["pip_cpu"][:3] == ["-m", "pip", "install"] and "--target" in r["pip_cpu"]
    assert "torch==2.13.0" in r["pip_cpu"] and "https://download.pytorch.org/whl/cpu" in r["pip_cpu"]
    assert "torch==2.13.0" in r["pip_cuda"] and "--extra-index-url" not in r["pip_cuda"]
    assert "scipy>=1.10" in r["pip_cpu"] and "numpy>=1.26,<2" in r["pip_cuda"]
    assert r["cache"] == {"in_user_dir": True, "exists": True}
    assert r["job_ok"] == {"state": "done", "returncode": 0, "tail": ["collected torch", "installed"]}
    assert r["job_failed"]["state"] == "failed" and "exit code 1" in r["job_failed"]["summary"]
    assert r["job_failed"]["tail"] == ["ERROR: no matching distribution"]
    # disable unregisters everything; enabling again works (no leftovers blocking re-registration)
    _assert_unregistered(r["disabled"])
    _assert_registered(r["reenabled"])
    _assert_unregistered(r["disabled_again"])
    assert r["user_site"] == {"in_user_dir": True, "on_path_last": True, "import": 42,
                              "on_path_after_disable": False}


def test_install_enable_disable_with_torch(extension_zip, tmp_path):
    r = install(extension_zip, tmp_path, torch="present")
    _assert_install_lifecycle(r, tmp_path)
    assert r["backend_failed"] == {}, r["backend_failed"]
    # every library module in the shipped wheel imports inside Blender
    wheel = next(n for n in zipfile.ZipFile(extension_zip).namelist() if n.startswith("wheels/texforge-"))
    with zipfile.ZipFile(extension_zip) as zf, zipfile.ZipFile(io.BytesIO(zf.read(wheel))) as whl:
        expected = {name[:-3].replace("/", ".").removesuffix(".__init__")
                    for name in whl.namelist() if name.startswith("texforge") and name.endswith(".py")}
    assert {"texforge_blender.objects", "texforge.pipelines.multiview.pipeline"} <= expected
    assert expected <= set(r["backend_modules"]), expected - set(r["backend_modules"])
    blender_side = Path(r["blender_side_file"])  # the wheel's copy, not the checkout's
    assert blender_side.is_relative_to(tmp_path) and "site-packages" in blender_side.parts
    assert r["panel_texts"] == []  # no warning while torch is importable
    assert r["torch_before_draw"] is False and r["quick_status"][0].startswith("PyTorch is installed")
    assert r["torch_after_draw"] is True  # the preferences import torch lazily, when drawn
    assert r["status"]["available"] and r["status"]["version"] == "2.13.0" and "CPU" in r["status"]["devices"]
    assert "PyTorch 2.13.0 (CPU build)" in r["prefs_texts"] and "Device: CPU" in r["prefs_texts"]
    assert not any("texforge.install_torch" == op[0] for op in r["prefs_operators"])
    # Auto follows what torch sees; CUDA without a GPU is a readable error; a scene override wins
    has_cuda = any(d.startswith("CUDA") for d in r["status"]["devices"])
    assert r["devices"]["AUTO/PREFERENCES"] == ("cuda" if has_cuda else "cpu")
    if has_cuda:
        assert r["devices"]["CUDA/PREFERENCES"] == "cuda"
    else:
        assert r["devices"]["CUDA/PREFERENCES"].startswith("error: Device CUDA was chosen but PyTorch 2.13.0 sees")
    assert r["devices"]["CUDA/CPU"] == "cpu"


def test_install_without_torch_shows_missing_state(extension_zip, tmp_path):
    r = install(extension_zip, tmp_path, torch="missing")
    _assert_install_lifecycle(r, tmp_path)
    assert r["status"]["available"] is False
    assert r["status"]["error"].startswith("PyTorch not found: No module named 'torch'")
    assert r["torch_after_draw"] is False
    for texts in (r["prefs_texts"], r["panel_texts"]):
        assert any(t.startswith("PyTorch not found") for t in texts), texts
        assert not any("Traceback" in t for t in texts), texts
    assert "PyTorch is missing" in r["panel_texts"]
    assert any("pip install torch==2.13.0" in t for t in r["prefs_texts"])
    assert any("Allow Online Access" in t for t in r["prefs_texts"])
    assert ["texforge.install_torch", "Install PyTorch (CPU)"] in r["prefs_operators"]
    assert ["texforge.install_torch", "Install PyTorch (CUDA)"] in r["prefs_operators"]
    # torch present but its import fails: one line of text, no traceback
    assert r["broken_status"]["available"] is False
    assert r["broken_status"]["error"].startswith("PyTorch is installed but failed to import: ImportError")
    assert any(t.startswith("PyTorch is installed but failed") for t in r["broken_prefs_texts"])
    assert r["torch_attempts"] == ["torch"]
    assert all(v.startswith("error: PyTorch") and "pip install torch==2.13.0" in v for v in r["devices"].values())


def test_installer_packages_match_the_backend_dependencies():
    """The in-Blender installer must install what pyproject.toml says the backend needs."""
    from addon.runtime import torch_status

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = {d for d in deps if not d.startswith("torch")}
    assert set(torch_status.RUNTIME_PACKAGES) == wanted
