"""Runs the JavaScript tests of ``pusherable.js`` (``tests/js/``) with Node's test runner."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "pusherable" / "static" / "pusherable" / "pusherable.js"


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the JavaScript tests need `node` (>= 18).")
    return node


@pytest.mark.node
def test_pusherable_js_suite():
    node = node_or_skip()
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
def test_pusherable_js_is_plain_es2017():
    node = node_or_skip()
    subprocess.run([node, "--check", str(SCRIPT)], check=True, timeout=60)
    source = SCRIPT.read_text()
    # Syntax newer than ES2017 that older browsers reject.
    for newer in ("?.", "??", "catch {", "...", "#private"):
        assert newer not in source, newer
