"""What a long pull shows and how it stops: per-stream progress, notices of waits, and Ctrl-C.

On a terminal each stream has a tqdm bar (records, total when known, rate, ETA); without one, a
ticker prints one line per running stream every 10 seconds. The first Ctrl-C (SIGINT) sets a stop
flag and says so at once; streams stop after the page in hand (finished streams stay recorded, so
the next run resumes). Sleeps between retries and rate-limit windows wake up on the flag. A second
Ctrl-C exits at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from tqdm import tqdm

EXIT_INTERRUPTED = 130
STOP_NOTICE = "stopping after the current page… (press Ctrl-C again to quit at once; the pull stays resumable)\n"


class StopRequested(KeyboardInterrupt):
    """The user asked the pull to stop (first Ctrl-C): raised where a page ends."""


class StopFlag:
    """A thread-safe stop request, with a sleep that wakes up when it is set."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise StopRequested()

    def sleep(self, seconds: float) -> None:
        """``time.sleep`` that ends early, raising :class:`StopRequested`, once a stop is asked for."""
        if self._event.wait(max(0.0, seconds)):
            raise StopRequested()


def _stderr_fd() -> int:
    try:
        return sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # replaced by a capture (tests, notebooks)
        return 2


@contextlib.contextmanager
def sigint_stops(flag: StopFlag, err_fd: int | None = None) -> Iterator[None]:
    """First SIGINT: set ``flag`` and print the notice at once. Second: exit now (130).

    Only the main thread may install a handler; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fd = err_fd if err_fd is not None else _stderr_fd()

    def handler(signum: int, frame: Any) -> None:
        if flag.is_set():
            os.write(fd, b"\nsyncaudit: interrupted again: exiting now\n")
            os._exit(EXIT_INTERRUPTED)
        flag.set()
        os.write(fd, ("\nsyncaudit: " + STOP_NOTICE).encode("utf-8"))

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class StreamProgress:
    """One stream's counter: call it with the records of each page; ``set_total`` when the total is known."""

    def __init__(self, board: ProgressBoard, label: str, position: int) -> None:
        self.board = board
        self.label = label
        self.records = 0
        self.total: int | None = None
        self.started = time.monotonic()
        self.bar: tqdm | None = None
        if board.bars:
            self.bar = tqdm(desc=label, unit=" rec", position=position, leave=False, file=board.out, dynamic_ncols=True)

    def __call__(self, n: int) -> None:
        self.records += n
        if self.bar is not None:
            self.bar.update(n)
        self.board.flag.check()  # a page has just been written: the place to stop

    def set_total(self, total: int | None) -> None:
        self.total = total
        if self.bar is not None and total is not None:
            self.bar.total = total
            self.bar.refresh()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.records / elapsed
        of = f" of {self.total:,}" if self.total else ""
        eta = ""
        if self.total and rate > 0 and self.total > self.records:
            eta = f", ETA {_duration((self.total - self.records) / rate)}"
        return f"{self.label}: {self.records:,}{of} records, {rate:,.0f}/s{eta}"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.board._closed(self)


class ProgressBoard:
    """The progress of every running stream, as bars (terminal) or periodic lines (logs)."""

    def __init__(self, out: TextIO, flag: StopFlag, *, bars: bool | None = None, interval_s: float = 10.0) -> None:
        self.out = out
        self.flag = flag
        if bars is None:
            bars = bool(getattr(out, "isatty", lambda: False)())
        self.bars = bars
        self.interval_s = interval_s
        self._active: list[StreamProgress] = []
        self._lock = threading.Lock()
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    def stream(self, label: str, position: int) -> StreamProgress:
        p = StreamProgress(self, label, position)
        with self._lock:
            self._active.append(p)
            if not self.bars and self._ticker is None:
                self._ticker = threading.Thread(target=self._tick, name="syncaudit-progress", daemon=True)
                self._ticker.start()
        return p

    def _closed(self, p: StreamProgress) -> None:
        with self._lock:
            if p in self._active:
                self._active.remove(p)

    def _tick(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                lines = [p.line() for p in self._active]
            for text in lines:
                self.note(text)

    def note(self, text: str) -> None:
        """One line for the user (a wait, a retry, a progress line), kept clear of the bars."""
        if self.bars:
            tqdm.write(text, file=self.out)
        else:
            print(text, file=self.out, flush=True)

    def close(self) -> None:
        self._stop.set()
        if self.bars:
            self.out.write("\r")  # bars closed below the first line leave the cursor mid-line
            self.out.flush()
