"""Runs the JavaScript tests of ``pusherable.js`` and its add-ons (``tests/js/``) with Node's
test runner."""

import subprocess
from pathlib import Path

import pytest

from tests.tools import require_node

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "pusherable" / "static" / "pusherable"
#: Every script the browser loads from this package, none built from anything.
SCRIPTS = [
    "pusherable.js",
    "pusherable-forms.js",
    "pusherable-catchup.js",
    "pusherable-fields.js",
    "pusherable-lock.js",
    "admin.js",
]


@pytest.mark.node
def test_pusherable_js_suite():
    node = require_node()
    result = subprocess.run(
        [node, "--test", "tests/js/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout


@pytest.mark.node
@pytest.mark.parametrize("name", SCRIPTS)
def test_pusherable_js_is_plain_es2017(name):
    node = require_node()
    script = STATIC / name
    subprocess.run([node, "--check", str(script)], check=True, timeout=60)
    source = script.read_text()
    # Syntax newer than ES2017 that older browsers reject.
    for newer in ("?.", "??", "catch {", "...", "#private"):
        assert newer not in source, newer
