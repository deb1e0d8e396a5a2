"""Runs the JavaScript tests of ``pusherable.js`` and its add-ons (``tests/js/``) with Node's
test runner, in jsdom; checks what every static script must be (plain ES2017, small, loaded
by the tag, no copy of the protocol's prefixes)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from pusherable.protocol_rules import browser_rules
from pusherable.templatetags.pusherable_tags import SCRIPTS as TAG_SCRIPTS
from tests.tools import require_node, require_npm_package

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "pusherable" / "static" / "pusherable"
#: Every script the browser loads from this package, none built from anything.
SCRIPTS = sorted(path.name for path in STATIC.glob("*.js"))
#: The longest a script may grow (the core is the longest): past it, split it by
#: concern, as pusherable.js was into the files of SCRIPTS.
MAX_LINES = 500


@pytest.mark.node
def test_pusherable_js_suite():
    node = require_node()
    require_npm_package("jsdom")
    # The page configuration's protocol key, as the server writes it (tests/js/fakes.js).
    env = {**os.environ, "PUSHERABLE_PROTOCOL": json.dumps(browser_rules())}
    result = subprocess.run(
        [node, "--test", "tests/js/"],
        cwd=ROOT,
        env=env,
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


def test_every_script_is_loaded_by_the_tag_or_the_admin():
    loaded = {path.split("/", 1)[1] for path in TAG_SCRIPTS} | {"admin.js"}
    assert set(SCRIPTS) == loaded


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_stay_small(name):
    lines = (STATIC / name).read_text().count("\n")
    assert lines <= MAX_LINES, f"{name}: {lines} lines"


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_keep_no_copy_of_the_protocol_prefixes(name):
    source = (STATIC / name).read_text()
    rules = browser_rules()
    prefixes = [*rules["prefixes"].values(), *rules["protocolEventPrefixes"]]
    for prefix in prefixes:
        # Event names of pusher-js's own API ('pusher:subscription_succeeded') are not
        # prefixes; a prefix alone in a string literal is a copy.
        assert f"'{prefix}'" not in source and f"/^({prefix}" not in source, prefix
