"""The example notebook, docs/quickstart.ipynb, runs from top to bottom on a small budget (its
`parameters` cell replaced), and the repo keeps it without outputs."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "quickstart.ipynb"
SMALL_BUDGET = "N_TRIALS = 3\nEPOCHS = 2\nDAYS = 400\nSEEDS = 1"


def test_the_notebook_is_kept_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.serial  # a kernel of its own, training beside the other tests' workers
def test_the_quickstart_notebook_runs(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1
    parameters[0].source = SMALL_BUDGET
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert (tmp_path / "quickstart.db").is_file()
    texts = " ".join(str(output.get("data", {}).get("text/plain", "")) for output in outputs)
    assert "sales_lo_95" in texts and "roas" in texts
