"""Run every benchmark script in this folder, one after the other (``make bench``).

A benchmark is any ``*.py`` file here except this one and files starting with
``_`` (shared helpers). Each runs in its own interpreter; extra arguments are
not passed on, so every script runs with its documented defaults.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[Path]:
    return sorted(
        path
        for path in HERE.glob("*.py")
        if path.name != Path(__file__).name and not path.name.startswith("_")
    )


def main() -> int:
    failed = []
    for script in discover():
        print(f"=== {script.name} ===", flush=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, check=False)
        print(
            f"=== {script.name}: exit {result.returncode} in {time.perf_counter() - start:.0f}s\n"
        )
        if result.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
