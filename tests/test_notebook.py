"""Checks on the committed tutorial notebook that need no kernel.

nbval re-executes the notebook and compares its outputs (see pyproject.toml);
these tests check what nbval does not: that the committed copy was run top to
bottom, shows every figure, carries no error or stderr noise, and that its
text copy is up to date.
"""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "mnist_tutorial.ipynb"
FIGURE_FUNCTIONS = (
    "plot_samples",
    "plot_class_distribution",
    "plot_pixel_histograms",
    "plot_history",
    "plot_confusion_matrix",
    "plot_mistakes",
)


@pytest.fixture(scope="module")
def notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def _code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_committed_notebook_was_run_top_to_bottom_once(notebook):
    counts = [cell.execution_count for cell in _code_cells(notebook)]

    assert counts == list(range(1, len(counts) + 1))


def test_committed_notebook_shows_every_figure(notebook):
    for function in FIGURE_FUNCTIONS:
        cells = [c for c in _code_cells(notebook) if f"plots.{function}(" in c.source]
        assert cells, f"no cell calls plots.{function}"

        images = [
            output
            for output in cells[0].outputs
            if "image/png" in output.get("data", {})
        ]
        assert len(images) == 1, f"plots.{function} shows {len(images)} figures"


def test_committed_notebook_has_no_errors_or_stderr(notebook):
    for cell in _code_cells(notebook):
        for output in cell.outputs:
            assert output.output_type != "error", cell.source
            assert output.get("name") != "stderr", output.get("text")


def test_committed_notebook_reports_test_accuracy_above_99_3_percent(notebook):
    text = "".join(
        output.get("text", "")
        for cell in _code_cells(notebook)
        for output in cell.outputs
    )

    match = re.search(r"^Test accuracy: (\d+\.\d+)%$", text, re.MULTILINE)

    assert match, "the notebook prints no 'Test accuracy: NN.NN%' line"
    assert float(match.group(1)) >= 99.3


def test_code_cells_are_short(notebook):
    for cell in _code_cells(notebook):
        lines = cell.source.strip().splitlines()
        assert len(lines) <= 25, cell.source


def test_text_copy_is_in_sync_with_notebook():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "sync_notebook.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
