"""Take the documentation's screenshot: two editors on one article, side by side.

Runs the whole demo on free loopback ports with a throw-away database, signs
Alice and Bob in with Debian's Chromium (through Playwright), lets Bob save a
change while Alice reads, and writes ``docs/_static/presence.png``::

    .venv/bin/python demo/screenshot.py [--output PATH]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.launcher import REPO_DIR, running_demo

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 860, "height": 760}
GAP = 24
BACKGROUND = (221, 225, 232)
TIMEOUT_MS = 20_000


def sign_in(browser, url: str, username: str):
    context = browser.new_context(base_url=url, viewport=VIEWPORT, device_scale_factor=1)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"^https?://[^/]+/$"))
    return page


def capture(workdir: Path) -> tuple[Path, Path]:
    from playwright.sync_api import sync_playwright

    with running_demo(workdir) as site, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            alice = sign_in(browser, site.url, "alice")
            bob = sign_in(browser, site.url, "bob")
            article = "/articles/1/"

            alice.goto(article)
            alice.wait_for_selector("#presence[data-state=live]", timeout=TIMEOUT_MS)
            bob.goto(article + "edit/")
            bob.wait_for_selector("#presence[data-state=live]", timeout=TIMEOUT_MS)
            alice.wait_for_selector("#presence .intent-editing", timeout=TIMEOUT_MS)
            bob.wait_for_selector("#presence .member", timeout=TIMEOUT_MS)

            # Bob types a new title: his form, as he is about to save it.
            title = "City council approves the riverside tram line, 31 to 12"
            bob.fill("#id_title", title)
            bob.locator("#id_title").blur()
            bob.wait_for_timeout(1_000)  # the presence bar's fade-in
            bob_png = workdir / "bob.png"
            bob.screenshot(path=str(bob_png))

            # He saves it from a second tab, so that his form stays open; it would
            # now say it is older than the article (the collision guard), so its
            # picture was taken first.
            saving = bob.context.new_page()
            saving.goto(article + "edit/")
            saving.fill("#id_title", title)
            saving.click("#article-form button[type=submit]")
            saving.wait_for_url("**" + article)
            saving.close()
            alice.wait_for_selector("#changed-notice:not([hidden])", timeout=TIMEOUT_MS)
            # Let the highlight of the changed fields fade before taking the picture.
            alice.wait_for_timeout(2_000)

            alice_png = workdir / "alice.png"
            alice.screenshot(path=str(alice_png))
        finally:
            browser.close()
    return alice_png, bob_png


def side_by_side(left: Path, right: Path, output: Path) -> None:
    from PIL import Image

    with Image.open(left) as one, Image.open(right) as two:
        width = one.width + two.width + 3 * GAP
        height = max(one.height, two.height) + 2 * GAP
        canvas = Image.new("RGB", (width, height), BACKGROUND)
        canvas.paste(one, (GAP, GAP))
        canvas.paste(two, (2 * GAP + one.width, GAP))
    output.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(output, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output", type=Path, default=REPO_DIR / "docs" / "_static" / "presence.png"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pusherable-screenshot-") as tmp:
        alice, bob = capture(Path(tmp))
        side_by_side(alice, bob, args.output)
    print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
