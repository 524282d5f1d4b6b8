"""Pipeline stages in threads joined by bounded queues, with errors carried to the caller."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

_END = object()


class StageTimer:
    """Seconds spent per stage, summed across threads."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    @contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        """Time the block as part of `stage`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - started)

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.seconds.items()}


class Producer:
    """Runs an iterable in a thread and hands its items over a bounded queue."""

    def __init__(self, items: Iterable[Any], maxsize: int, timer: StageTimer, stage: str) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items, timer, stage), daemon=True, name=stage)
        self._thread.start()

    def _run(self, items: Iterable[Any], timer: StageTimer, stage: str) -> None:
        iterator = iter(items)
        try:
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    break
                timer.add(stage, time.perf_counter() - start)
                self._put(item)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            self._error = exc
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
            self._put(_END)

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is _END:
                if self._error is not None:
                    raise self._error
                return
            yield item

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class Consumer:
    """Feeds items to `handle` in a thread; `put` blocks when the queue is full."""

    def __init__(self, handle: Callable[[Any], None], maxsize: int, timer: StageTimer, stage: str) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(handle, timer, stage), daemon=True, name=stage)
        self._thread.start()

    def _run(self, handle: Callable[[Any], None], timer: StageTimer, stage: str) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if self._error is not None:
                continue
            start = time.perf_counter()
            try:
                handle(item)
            except BaseException as exc:  # noqa: BLE001 - re-raised by put()/close()
                self._error = exc
            timer.add(stage, time.perf_counter() - start)

    def put(self, item: Any) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def close(self) -> None:
        """Wait for the queue to drain; re-raise the handler's error if any."""
        self._queue.put(_END)
        self._thread.join()
        if self._error is not None:
            raise self._error
