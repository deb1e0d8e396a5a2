"""pusher-js in the page: pinned by its hash from another origin, a static path otherwise."""

import base64
import hashlib
import json
from pathlib import Path

import pytest
from django.core.checks import Warning
from django.test import override_settings

from pusherable.checks import check_pusher_js_integrity
from pusherable.conf import PUSHER_JS_INTEGRITY, PUSHER_JS_URL, PUSHER_JS_VERSION
from pusherable.page_config import pusher_js_script
from tests.tools import require_npm_package

ROOT = Path(__file__).resolve().parents[1]
NPM_FILE = ROOT / "node_modules" / "pusher-js" / "dist" / "web" / "pusher.min.js"


def test_the_default_is_the_npm_version_the_tests_run_on_jsdelivr():
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["pusher-js"]
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert PUSHER_JS_VERSION == pinned == lock["packages"]["node_modules/pusher-js"]["version"]
    assert (
        f"https://cdn.jsdelivr.net/npm/pusher-js@{pinned}/dist/web/pusher.min.js"
    ) == PUSHER_JS_URL


def test_the_tutorial_s_example_pins_the_same_version():
    example = json.loads((ROOT / "example" / "package.json").read_text())
    assert example["dependencies"]["pusher-js"] == PUSHER_JS_VERSION


def test_the_default_integrity_is_the_hash_of_that_file():
    # jsDelivr serves the npm package's files unchanged: the hash of the copy npm
    # installed is the hash of the one browsers fetch.
    require_npm_package("pusher-js")
    installed = json.loads((NPM_FILE.parents[2] / "package.json").read_text())["version"]
    assert installed == PUSHER_JS_VERSION
    digest = base64.b64encode(hashlib.sha384(NPM_FILE.read_bytes()).digest()).decode()
    assert f"sha384-{digest}" == PUSHER_JS_INTEGRITY


def test_the_default_script_is_pinned():
    assert pusher_js_script() == {"src": PUSHER_JS_URL, "integrity": PUSHER_JS_INTEGRITY}


@pytest.mark.parametrize(
    ("static_url", "expected"),
    [
        ("static/", "/static/pusher-js/pusher.min.js"),
        ("/assets/", "/assets/pusher-js/pusher.min.js"),
    ],
)
def test_a_static_path_follows_static_url(static_url, expected):
    # startproject's STATIC_URL is relative ("static/"): the path is resolved like {% static %}.
    with override_settings(
        STATIC_URL=static_url, PUSHERABLE_PUSHER_JS_URL="pusher-js/pusher.min.js"
    ):
        assert pusher_js_script() == {"src": expected, "integrity": None}


@override_settings(PUSHERABLE_PUSHER_JS_URL="/vendor/pusher.min.js")
def test_the_default_hash_goes_with_the_default_url_only():
    assert pusher_js_script() == {"src": "/vendor/pusher.min.js", "integrity": None}


@override_settings(
    PUSHERABLE_PUSHER_JS_URL="https://js.pusher.com/8.4.0/pusher.min.js",
    PUSHERABLE_PUSHER_JS_INTEGRITY="sha384-own",
)
def test_a_configured_hash_is_kept():
    assert pusher_js_script()["integrity"] == "sha384-own"


def test_w004_not_for_the_pinned_default():
    assert check_pusher_js_integrity() == []


@override_settings(PUSHERABLE_PUSHER_JS_URL="pusher-js/pusher.min.js")
def test_w004_not_for_a_static_file():
    assert check_pusher_js_integrity() == []


@pytest.mark.parametrize(
    "url", ["https://js.pusher.com/8.4.0/pusher.min.js", "//cdn.example/pusher.min.js"]
)
def test_w004_for_another_origin_without_a_hash(url):
    with override_settings(PUSHERABLE_PUSHER_JS_URL=url, PUSHERABLE_PUSHER_JS_INTEGRITY=None):
        [warning] = check_pusher_js_integrity()
    assert isinstance(warning, Warning)
    assert warning.id == "pusherable.W004"
    assert warning.msg == (
        f"pusher-js is loaded from another origin ({url}) without an integrity hash, so "
        "whoever controls that server can run any script on your pages."
    )
    assert "PUSHERABLE_PUSHER_JS_INTEGRITY" in warning.hint
