"""Execute the tutorial notebook headless, save it and an HTML copy, print accuracy.

Usage: python tools/run_notebook.py NOTEBOOK [--output-dir build] [--in-place]

The executed notebook and its HTML rendering go to the output folder (ignored by
git). With --in-place the source notebook is overwritten with the fresh outputs,
which is how the committed outputs are refreshed. Ends with the notebook's own
`Test accuracy: NN.NN%` line, or exits with 1 and the failing cell's error.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import nbformat
import zmq
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter
from traitlets.config import Config

ACCURACY_LINE = re.compile(r"^Test accuracy: \d+\.\d+%$", re.MULTILINE)


def _stream_text(notebook: nbformat.NotebookNode) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append(output.get("text", ""))
    return "".join(texts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--output-dir", type=Path, default=Path("build"))
    parser.add_argument("--in-place", action="store_true")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    arguments = parser.parse_args()

    if not arguments.notebook.is_file():
        print(f"error: no notebook at {arguments.notebook}", file=sys.stderr)
        return 2
    notebook = nbformat.read(arguments.notebook, as_version=4)
    # Encrypt the kernel's local connection where pyzmq can: recent kernels warn
    # on every start when it is plain TCP.
    config = Config()
    config.KernelManager.transport_encryption = (
        "auto" if zmq.has("curve") else "disabled"
    )
    client = NotebookClient(
        notebook,
        timeout=arguments.timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(arguments.notebook.parent)}},
        config=config,
    )
    started = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        print(f"error: the notebook failed in a cell:\n{error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started

    arguments.output_dir.mkdir(parents=True, exist_ok=True)
    executed = arguments.output_dir / arguments.notebook.name
    nbformat.write(notebook, executed)
    html, _ = HTMLExporter().from_notebook_node(notebook)
    html_path = executed.with_suffix(".html")
    html_path.write_text(html, encoding="utf-8")
    if arguments.in_place:
        nbformat.write(notebook, arguments.notebook)

    print(f"Executed {arguments.notebook} in {elapsed:.0f} s")
    print(f"Wrote {executed} and {html_path}")
    accuracy = ACCURACY_LINE.findall(_stream_text(notebook))
    if not accuracy:
        print("error: the notebook printed no 'Test accuracy' line", file=sys.stderr)
        return 1
    print(accuracy[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
