"""Keep the notebook's text copy (jupytext percent format) in step with it.

Usage:
    python tools/sync_notebook.py          rewrite notebooks/*.py from the notebooks
    python tools/sync_notebook.py --check  fail if a text copy is out of date

The `.py` copy holds the same cells without outputs, so a change to the lesson
reads as a plain diff in review.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
FORMAT = "py:percent"


def text_copy(notebook_path: Path) -> str:
    """Return the percent-format text of a notebook, without outputs."""
    notebook = jupytext.read(notebook_path)
    return jupytext.writes(notebook, fmt=FORMAT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    arguments = parser.parse_args()

    stale = []
    for notebook_path in sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        text_path = notebook_path.with_suffix(".py")
        expected = text_copy(notebook_path)
        current = text_path.read_text(encoding="utf-8") if text_path.exists() else None
        if current == expected:
            continue
        if arguments.check:
            stale.append(text_path)
        else:
            text_path.write_text(expected, encoding="utf-8")
            print(f"Wrote {text_path.relative_to(NOTEBOOK_DIR.parent)}")

    if stale:
        names = ", ".join(str(path.relative_to(NOTEBOOK_DIR.parent)) for path in stale)
        print(
            f"error: {names} is out of step with its notebook; run `make sync` and "
            "commit the result.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
