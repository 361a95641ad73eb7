"""The README's "Command line" synopsis names exactly the options each script's parser accepts.

Each script runs with ``--help`` in a subprocess whose ``argparse`` reports the parser's options
(hidden ones left out) instead of parsing; ``_bootstrap`` is replaced by a stub there, so no script
sets up an environment or does any work."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPTION = re.compile(r"(?<![\w-])--[a-z][\w-]*")

# Runs every script given on the command line up to its argument parsing; prints {script: [options]}.
HARNESS = r"""
import argparse, json, runpy, sys, types
from pathlib import Path

class _Parsed(Exception):
    pass

def _report(self, *args, **kwargs):
    raise _Parsed(sorted(s for a in self._actions if a.help != argparse.SUPPRESS
                         for s in a.option_strings if s.startswith("--") and s != "--help"))

argparse.ArgumentParser.parse_args = argparse.ArgumentParser.parse_known_args = _report
root = Path(sys.argv[1])
stub = types.ModuleType("_bootstrap")
stub.ROOT, stub.ensure_environment = root, lambda *a, **k: None
sys.modules["_bootstrap"] = stub
sys.path.insert(0, str(root / "scripts"))
found = {}
for name in sys.argv[2:]:
    sys.argv = [name, "--help"]
    try:
        runpy.run_path(str(root / "scripts" / name), run_name="__main__")
    except _Parsed as e:
        found[name] = e.args[0]
print("OPTIONS " + json.dumps(found))
"""


def readme_synopsis() -> dict[str, set[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Command line", 1)[1]
    block = section.split("```", 2)[1]
    entries: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        m = re.match(r"python scripts/(\S+\.py)\b", line.strip())
        if m:
            current = m.group(1)
            entries[current] = line
        elif current and line.strip():
            entries[current] += " " + line
    return {name: set(OPTION.findall(line)) for name, line in entries.items()}


def scripts_with_a_parser() -> set[str]:
    return {p.name for p in (ROOT / "scripts").glob("*.py")
            if not p.name.startswith("_") and "ArgumentParser" in p.read_text(encoding="utf-8")}


def test_readme_synopsis_matches_every_scripts_help():
    synopsis = readme_synopsis()
    missing = scripts_with_a_parser() - set(synopsis)
    assert not missing, f"scripts with options but no line in the README's Command line block: {sorted(missing)}"
    out = subprocess.run([sys.executable, "-c", HARNESS, str(ROOT), *sorted(synopsis)], capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    line = [l for l in out.stdout.splitlines() if l.startswith("OPTIONS ")]
    assert line, out.stdout[-2000:] + out.stderr[-2000:]
    parsers = json.loads(line[-1][len("OPTIONS "):])
    assert set(parsers) == set(synopsis), f"no argument parser reached in {sorted(set(synopsis) - set(parsers))}"
    for name, options in synopsis.items():
        real = set(parsers[name])
        assert options == real, (f"README synopsis of {name}: missing {sorted(real - options)}, "
                                 f"not accepted {sorted(options - real)}")
    assert {"--max-size", "--overwrite"} <= synopsis["reconstruct.py"]
