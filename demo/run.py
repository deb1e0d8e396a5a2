"""Run the newsroom demo: ``make demo``, or ``python demo/run.py [options]``.

Migrates and seeds the demo's database, starts the Pusher-compatible server that
ships with django-pusherable and Django's development server side by side, and
stops both on Ctrl-C or as soon as one of them dies.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.launcher import (
    REPO_DIR,
    demo_env,
    port_is_open,
    prepare_database,
    start_django,
    stop_process,
    wait_for_port,
)

# The demo's credentials for the bundled server (see newsroom_project/settings.py).
APP_ID = "100001"  # the Pusher protocol wants digits
KEY = "newsroom-key"
SECRET = "newsroom-secret"

BANNER = """
  The newsroom demo is running:

      {url}

  Log in as alice / demo or bob / demo (editors) and carol / demo (a reader).
  Open a second browser or a private window to be two people on one article.
  Press Ctrl-C to stop.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--host", default=env("DEMO_HOST", "127.0.0.1"), help="Django's address (DEMO_HOST)"
    )
    parser.add_argument(
        "--port", type=int, default=int(env("DEMO_PORT", "8000")), help="Django's port (DEMO_PORT)"
    )
    parser.add_argument(
        "--pusher-host",
        default=env("DEMO_PUSHER_HOST", "127.0.0.1"),
        help="the bundled server's address (DEMO_PUSHER_HOST)",
    )
    parser.add_argument(
        "--pusher-port",
        type=int,
        default=int(env("DEMO_PUSHER_PORT", "6001")),
        help="the bundled server's port (DEMO_PUSHER_PORT)",
    )
    parser.add_argument(
        "--database",
        default=env("DEMO_DATABASE", str(REPO_DIR / "demo" / "db.sqlite3")),
        help="the SQLite file (DEMO_DATABASE)",
    )
    return parser.parse_args(argv)


def server_options() -> set[str]:
    """The long options ``python -m pusherable.server`` accepts, from its ``--help``."""
    result = subprocess.run(
        [sys.executable, "-m", "pusherable.server", "--help"],
        env=demo_env(),
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    return {word.rstrip(",=") for word in result.stdout.split() if word.startswith("--")}


def start_pusher_server(args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "pusherable.server",
        "--host",
        args.pusher_host,
        "--port",
        str(args.pusher_port),
        "--app-id",
        APP_ID,
        "--key",
        KEY,
        "--secret",
        SECRET,
    ]
    # Webhooks tell Django who joins and leaves (the demo logs it).
    if "--webhook-url" in server_options():
        command += ["--webhook-url", f"http://{args.host}:{args.port}/pusherable/webhook/"]
    process = subprocess.Popen(  # noqa: S603 (a fixed command line)
        command, env=env, cwd=REPO_DIR, start_new_session=True
    )
    try:
        wait_for_port(args.pusher_host, args.pusher_port, process=process)
    except BaseException:
        stop_process(process)
        raise
    return process


PUSHER_JS = REPO_DIR / "node_modules" / "pusher-js" / "dist" / "web" / "pusher.min.js"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not PUSHER_JS.exists():
        print(
            "pusher-js is not installed: run `npm ci` (or `make demo`, which does).",
            file=sys.stderr,
        )
        return 2
    for host, port, flag in [
        (args.host, args.port, "--port"),
        (args.pusher_host, args.pusher_port, "--pusher-port"),
    ]:
        if port_is_open(host, port):
            print(f"Port {port} on {host} is taken; choose another with {flag}.", file=sys.stderr)
            return 2

    env = demo_env(
        database=args.database,
        pusher_host=args.pusher_host,
        pusher_port=args.pusher_port,
        pusher_app_id=APP_ID,
        pusher_key=KEY,
        pusher_secret=SECRET,
    )
    # Ctrl-C raises KeyboardInterrupt even where the shell started us with SIGINT
    # ignored, and SIGTERM (from a supervisor or `kill`) stops the demo the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    try:
        prepare_database(env)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1

    processes: dict[str, subprocess.Popen] = {}
    try:
        try:
            processes["The bundled server"] = start_pusher_server(args, env)
            processes["Django's development server"] = start_django(args.host, args.port, env=env)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(BANNER.format(url=f"http://{args.host}:{args.port}/"), flush=True)
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(
                        f"{name} exited with status {process.returncode}; stopping the demo.",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping the demo.")
        return 0
    finally:
        # Django first, so that it sends nothing to a server that is gone.
        for process in reversed(processes.values()):
            stop_process(process)


if __name__ == "__main__":
    sys.exit(main())
