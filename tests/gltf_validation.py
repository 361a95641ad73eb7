"""Khronos gltf-validator for tests: the npm package is a JavaScript library, run through node.

scripts/run_tests.py installs it into .venv/node and passes its folder in TEXFORGE_GLTF_VALIDATOR."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_VALIDATE_JS = """
const v = require(process.argv[2]);
const data = new Uint8Array(require('fs').readFileSync(process.argv[3]));
v.validateBytes(data, {maxIssues: 200}).then(r => console.log(JSON.stringify(r.issues)))
  .catch(e => { console.error(String(e)); process.exit(2); });
"""


def validator_folder() -> Path | None:
    candidates = [ROOT / ".venv" / "node" / "node_modules" / "gltf-validator"]
    if os.environ.get("TEXFORGE_GLTF_VALIDATOR"):
        candidates.insert(0, Path(os.environ["TEXFORGE_GLTF_VALIDATOR"]))
    return next((c for c in candidates if (c / "package.json").is_file()), None)


def validate_glb(path: Path) -> dict:
    """The validator's ``issues`` object (numErrors, numWarnings, messages) for one GLB file.
    Skips the calling test when node or the validator is not installed."""
    pkg = validator_folder()
    if pkg is None or shutil.which("node") is None:
        pytest.skip("Khronos gltf-validator not installed (scripts/run_tests.py installs it into .venv/node "
                    "when npm is available)")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "validate.js"
        script.write_text(_VALIDATE_JS)
        r = subprocess.run(["node", str(script), str(pkg), str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"gltf-validator failed to run: {r.stderr}"
    return json.loads(r.stdout)
