"""Khronos gltf-validator for tests: the npm package is a JavaScript library, run through node.

scripts/run_tests.py installs it into .venv/node and passes its folder in TEXFORGE_GLTF_VALIDATOR.
A missing validator fails the calling test: a skipped check would let an invalid GLB through unseen."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTALL_HINT = ("install it with `python3 scripts/run_tests.py` (needs node and npm; it runs `npm install --prefix "
                ".venv/node gltf-validator`), or set TEXFORGE_GLTF_VALIDATOR to an installed gltf-validator folder")

_VALIDATE_JS = """
const v = require(process.argv[2]);
const data = new Uint8Array(require('fs').readFileSync(process.argv[3]));
v.validateBytes(data, {maxIssues: 200}).then(r => console.log(JSON.stringify({issues: r.issues, info: r.info})))
  .catch(e => { console.error(String(e)); process.exit(2); });
"""


def validator_folder() -> Path | None:
    candidates = [ROOT / ".venv" / "node" / "node_modules" / "gltf-validator"]
    if os.environ.get("TEXFORGE_GLTF_VALIDATOR"):
        candidates.insert(0, Path(os.environ["TEXFORGE_GLTF_VALIDATOR"]))
    return next((c for c in candidates if (c / "package.json").is_file()), None)


def validator_problem() -> str | None:
    """Why the validator cannot run here (None when it can)."""
    if shutil.which("node") is None:
        return f"node is not on PATH, so Khronos gltf-validator cannot run; install Node.js, then {INSTALL_HINT}"
    if validator_folder() is None:
        where = os.environ.get("TEXFORGE_GLTF_VALIDATOR") or ROOT / ".venv" / "node" / "node_modules"
        return f"Khronos gltf-validator not found (looked in {where}); {INSTALL_HINT}"
    return None


def validation_report(path: Path) -> dict:
    """The validator's report for one GLB file: ``issues`` (numErrors, numWarnings, messages) and ``info``
    (hasTextures, hasMaterials, drawCallCount, ...). Fails the calling test when the validator is missing."""
    problem = validator_problem()
    if problem:
        pytest.fail(problem)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "validate.js"
        script.write_text(_VALIDATE_JS)
        r = subprocess.run(["node", str(script), str(validator_folder()), str(path)], capture_output=True,
                           text=True, timeout=120)
    assert r.returncode == 0, f"gltf-validator failed to run: {r.stderr}"
    return json.loads(r.stdout)


def validate_glb(path: Path) -> dict:
    """The validator's ``issues`` object for one GLB file (see validation_report)."""
    return validation_report(path)["issues"]
