"""Set up (or reuse) the environment and run the test suite.

    python scripts/run_tests.py            # the CI suite (everything but tests marked slow)
    python scripts/run_tests.py --slow     # also the long quality runs
    python scripts/run_tests.py -- -k camera   # extra arguments go to pytest
"""

import sys

import _bootstrap  # noqa: E402  (a sibling: Python puts a script's own folder first on its path)

_bootstrap.ensure_environment()

import os  # noqa: E402
import subprocess  # noqa: E402

args = sys.argv[1:]
marker = ["-m", "not slow"]
if "--slow" in args:
    args.remove("--slow")
    marker = []
if args[:1] == ["--"]:
    args = args[1:]
validator = _bootstrap.ensure_node_package("gltf-validator")  # Khronos glTF validator (a JS library)
env = dict(os.environ)
# torch's OpenMP threads spin-wait by default; while Blender subprocesses share the 2 CI cores that
# made small steps up to 25x slower (docs/BENCHMARKS.md). Passive waiting costs nothing here.
env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if validator:
    env["TEXFORGE_GLTF_VALIDATOR"] = str(validator)
cmd = [sys.executable, "-m", "pytest", *marker, *args]
print("[tests]", " ".join(cmd[2:]), flush=True)
sys.exit(subprocess.call(cmd, cwd=_bootstrap.ROOT, env=env))
