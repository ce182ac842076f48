"""The kernel manager of batch runs: an encrypted kernel connection, and the kernel's log without shutdown noise.

Two lines used to reach the batch's output from every kernel:

- ``Kernel is running over TCP without encryption``: ipykernel's true warning that anyone on the machine
  could read the kernel's traffic (our outputs carry CRM data). The kernel manager now provisions CurveZMQ
  keys (jupyter_client's ``transport_encryption = "auto"``) whenever pyzmq and the kernelspec support it,
  so the traffic is encrypted and the warning is gone for a good reason. Where they do not, the warning
  stays: it is then true. (The pinned ipykernel 6.x declares no Curve support and prints no such warning;
  ipykernel 7 was dropped for execute requests left unanswered, see requirements.txt.)
- ``[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel``: jupyter_client interrupts a kernel before
  shutting it down; when the signal lands while the kernel is still tidying up after the last cell (the
  reply already sent), ipykernel logs it as an error. A batch only interrupts a kernel at shutdown or on a
  timeout (which fails the cell and is reported as such), so the line is noise and is dropped from the
  kernel's stderr; every other line of it passes through unchanged.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

import zmq
from jupyter_client.manager import AsyncKernelManager
from traitlets import default

NOISE = re.compile(rb"^\[IPKernelApp\] ERROR \| KeyboardInterrupt caught in kernel\.?\s*$")


def forward_kernel_log(lines: Iterable[bytes], write: Callable[[str], Any]) -> None:
    """Pass a kernel's stderr lines to ``write``, without the known shutdown noise."""
    for line in lines:
        if not NOISE.match(line):
            write(line.decode("utf-8", errors="replace"))


def _pump(stream: BinaryIO) -> None:
    def write(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    with stream:
        forward_kernel_log(stream, write)


class BatchKernelManager(AsyncKernelManager):
    """A kernel manager for papermill runs: encrypted transport when possible, stderr filtered."""

    @default("transport_encryption")
    def _encrypt_when_possible(self) -> str:
        return "auto" if zmq.has("curve") else "disabled"

    async def start_kernel(self, **kw: Any) -> None:
        if "stderr" in kw:
            return await super().start_kernel(**kw)
        read_fd, write_fd = os.pipe()
        pump = threading.Thread(target=_pump, args=(os.fdopen(read_fd, "rb"),), name="kernel-stderr", daemon=True)
        pump.start()
        try:
            await super().start_kernel(stderr=write_fd, **kw)
        finally:
            os.close(write_fd)  # the kernel holds its own copy; the pump ends when the kernel exits
