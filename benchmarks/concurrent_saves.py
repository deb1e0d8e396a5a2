"""Simultaneous saves of one article by two editors, on the newsroom demo.

Runs the demo (Django's threaded development server on a fresh SQLite file, and
the bundled Pusher-compatible server) on free loopback ports, logs in alice and
bob, and runs ``--pairs`` pairs: both open the article's edit form, then both
post it at the same moment. Half the pairs change different fields (alice the
title, bob the standfirst), half the same one (both the title).

Each answer is counted as ``saved`` (a redirect), ``refused`` (the form again,
with an error) or ``errors`` (a 5xx); anything else is ``unexpected``. After
each pair the stored article must reflect every saved change, unless the other
save of the pair changed the same field, and nothing else: a difference is a
lost update. Exits 1 on an error, an unexpected answer or a lost update.

``tests/test_concurrent_saves.py`` runs the same pairs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EDITORS = ("alice", "bob")
PASSWORD = "demo"  # the demo's seeded password (demo/newsroom/management/commands/seed_demo.py)
LOGIN_PATH = "/accounts/login/"
FORM_ID = "article-form"
# The start of pusherable.dbretry.DATABASE_BUSY_MESSAGE, as the page shows it.
BUSY_TEXT = "The database was busy"
TIMEOUT = 60.0  # seconds per request: a save that waits on a lock must not hang the run


class _FormFields(HTMLParser):
    """The values a browser would submit from the form with id ``form_id``."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.fields: dict[str, str] = {}
        self._inside = False
        self._textarea: str | None = None
        self._select: str | None = None
        self._first_option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._inside = values.get("id") == self.form_id
        if not self._inside:
            return
        name = values.get("name")
        if tag == "input" and name and values.get("type") not in ("submit", "button"):
            if values.get("type") in ("checkbox", "radio") and "checked" not in values:
                return
            self.fields[name] = values.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""
        elif tag == "select" and name:
            self._select, self._first_option = name, None
        elif tag == "option" and self._select:
            if self._first_option is None:
                self._first_option = values.get("value", "")
            if "selected" in values:
                self.fields[self._select] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select:
            # A select with nothing marked selected submits its first option.
            self.fields.setdefault(self._select, self._first_option or "")
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            # The HTML parser keeps the newline right after <textarea>; browsers drop it.
            value = self.fields[self._textarea] + data
            self.fields[self._textarea] = value.removeprefix("\n")


def form_fields(html: str, form_id: str = FORM_ID) -> dict[str, str]:
    """The fields of the form ``form_id`` in ``html``, as a browser would post them."""
    parser = _FormFields(form_id)
    parser.feed(html)
    parser.close()
    return parser.fields


def log_in(base_url: str, username: str, password: str = PASSWORD) -> requests.Session:
    """A session logged in to the demo, with its CSRF cookie."""
    session = requests.Session()
    page = session.get(base_url + LOGIN_PATH, timeout=TIMEOUT)
    page.raise_for_status()
    token = session.cookies.get("csrftoken")
    answer = session.post(
        base_url + LOGIN_PATH,
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    if answer.status_code != 302:
        raise RuntimeError(f"{username} could not log in: HTTP {answer.status_code}")
    return session


@dataclass
class Save:
    """One POST of a pair and what it answered."""

    user: str
    changes: dict[str, str]
    status: int = 0
    kind: str = ""  # "saved", "refused", "error" or "unexpected"
    busy: bool = False  # refused because the database stayed busy


@dataclass
class Tally:
    """The outcome of a run: counts by kind, and every lost update found."""

    saved: int = 0
    merged: int = 0  # saves that went through after, and merged with, the other one
    refused: int = 0
    errors: int = 0
    unexpected: int = 0
    busy: int = 0
    lost: list[str] = field(default_factory=list)

    def add(self, save: Save) -> None:
        counter = "errors" if save.kind == "error" else save.kind
        setattr(self, counter, getattr(self, counter) + 1)
        self.busy += save.busy

    def summary(self) -> str:
        text = (
            f"saved {self.saved} (merged {self.merged}) / refused {self.refused}"
            f" (database busy: {self.busy}) / errors {self.errors}"
        )
        if self.unexpected:
            text += f" / unexpected {self.unexpected}"
        return f"{text} / lost updates {len(self.lost)}"


def classify(answer: requests.Response) -> str:
    if answer.status_code >= 500:
        return "error"
    if answer.status_code in (301, 302, 303):
        return "saved"
    if answer.status_code == 200 and 'class="errorlist' in answer.text:
        return "refused"
    return "unexpected"


def pair_changes(index: int) -> list[dict[str, str]]:
    """What alice and bob change in pair ``index``: disjoint fields, or the same one."""
    if index % 2 == 0:
        return [{"title": f"Title by alice {index}"}, {"standfirst": f"Standfirst by bob {index}"}]
    return [{"title": f"Title by alice {index}"}, {"title": f"Title by bob {index}"}]


def lost_updates(original: dict[str, str], saves: list[Save], final: dict[str, str]) -> list[str]:
    """How ``final`` differs from ``original`` plus the saved changes."""
    lost = []
    saved = [save for save in saves if save.kind == "saved"]
    for name, before in original.items():
        if name == "csrfmiddlewaretoken" or name.startswith("pusherable"):
            continue  # tokens: expected to change with every save
        written = {save.changes[name] for save in saved if name in save.changes}
        expected = written or {before}
        if final.get(name) not in expected:
            lost.append(f"{name}: {final.get(name)!r}, expected one of {sorted(expected)!r}")
    return lost


def run_pair(
    sessions: list[requests.Session], url: str, index: int
) -> tuple[list[Save], list[str]]:
    """Both editors open ``url``, then post their changes at the same moment."""
    forms = []
    for session in sessions:
        page = session.get(url, timeout=TIMEOUT)
        page.raise_for_status()
        forms.append(form_fields(page.text))
    original = dict(forms[0])
    saves = [
        Save(user, changes) for user, changes in zip(EDITORS, pair_changes(index), strict=True)
    ]
    barrier = threading.Barrier(len(sessions))

    def post(session: requests.Session, form: dict[str, str], save: Save) -> None:
        data = {**form, **save.changes}
        try:
            barrier.wait(timeout=TIMEOUT)
            answer = session.post(url, data=data, timeout=TIMEOUT, allow_redirects=False)
        except requests.RequestException:
            save.kind = "error"  # no answer at all: as bad as a 500
            return
        save.status = answer.status_code
        save.kind = classify(answer)
        save.busy = save.kind == "refused" and BUSY_TEXT in answer.text

    threads = [
        threading.Thread(target=post, args=(session, form, save), name=f"save-{save.user}")
        for session, form, save in zip(sessions, forms, saves, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2 * TIMEOUT)
    final = form_fields(sessions[0].get(url, timeout=TIMEOUT).text)
    return saves, lost_updates(original, saves, final)


def run_pairs(
    base_url: str,
    pairs: int = 20,
    *,
    edit_path: str = "/articles/1/edit/",
    progress: Callable[[int, list[Save]], None] | None = None,
) -> Tally:
    """Run ``pairs`` pairs of simultaneous saves against the demo at ``base_url``."""
    sessions = [log_in(base_url, user) for user in EDITORS]
    tally = Tally()
    try:
        for index in range(pairs):
            saves, lost = run_pair(sessions, base_url + edit_path, index)
            for save in saves:
                tally.add(save)
            # Both saved from forms opened before either: the second merged the first.
            tally.merged += all(save.kind == "saved" for save in saves)
            tally.lost.extend(f"pair {index}: {line}" for line in lost)
            if progress is not None:
                progress(index, saves)
    finally:
        for session in sessions:
            session.close()
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=20, help="pairs of saves (default 20)")
    parser.add_argument("--url", help="a demo already running there (default: start one)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per pair")
    args = parser.parse_args(argv)

    def progress(index: int, saves: list[Save]) -> None:
        if args.verbose:
            print(f"pair {index}: " + ", ".join(f"{s.user} {s.status} {s.kind}" for s in saves))

    if args.url:
        tally = run_pairs(args.url.rstrip("/"), args.pairs, progress=progress)
    else:
        from demo.launcher import running_demo

        with tempfile.TemporaryDirectory() as workdir, running_demo(Path(workdir)) as site:
            tally = run_pairs(site.url, args.pairs, progress=progress)
    print(f"{args.pairs} pairs of simultaneous saves: {tally.summary()}")
    for line in tally.lost:
        print(f"  lost update, {line}")
    return 1 if tally.errors or tally.unexpected or tally.lost else 0


if __name__ == "__main__":
    sys.exit(main())
