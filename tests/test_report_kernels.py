"""Batch kernels: encrypted kernel traffic (so no 'without encryption' warning) and the kernel's log without noise."""

from __future__ import annotations

from pathlib import Path

import nbformat
import zmq

from syncaudit.report.kernels import BatchKernelManager, forward_kernel_log
from syncaudit.report.runner import run_notebook


def test_the_shutdown_interrupt_line_is_dropped_and_everything_else_kept() -> None:
    seen: list[str] = []
    forward_kernel_log(
        [
            b"[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.\n",
            b"[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel\n",
            b"[IPKernelApp] ERROR | Exception in message handler:\n",
            b"Traceback (most recent call last):\n",
            b"caf\xc3\xa9 \xff\n",
        ],
        seen.append,
    )
    assert seen == [
        "[IPKernelApp] ERROR | Exception in message handler:\n",
        "Traceback (most recent call last):\n",
        "café \ufffd\n",
    ]


def test_batch_kernels_encrypt_their_traffic_when_pyzmq_can() -> None:
    assert BatchKernelManager(kernel_name="python3").transport_encryption == (
        "auto" if zmq.has("curve") else "disabled"
    )


def test_a_batch_kernel_says_nothing_but_its_own_stderr(tmp_path: Path, capfd) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import os\nos.write(2, b'disk almost full\\n')\nprint('done')")]
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    run = run_notebook(tmp_path / "nb.ipynb", tmp_path / "out.ipynb", {})
    assert run.status == "ok", run.error
    err = capfd.readouterr().err
    assert "disk almost full" in err  # a kernel's real messages still reach the operator
    if zmq.has("curve"):
        assert "without encryption" not in err, err
    assert "KeyboardInterrupt caught" not in err
