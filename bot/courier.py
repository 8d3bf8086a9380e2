"""Instant replies: the answers a message queued in the outbox are sent by the process that queued
them, from a thread of its own, as soon as the message's transaction has committed.

The scheduler's delivery poll is the safety net (a process that dies with rows in its queue, a
failed send's retry): a row is claimed once, by whichever comes first (storage/outbox.py: `claim_keys`
takes only rows still pending and due; the poll's `claim` skips rows another worker holds), so it goes
out once either way, across processes. The thread starts on first use in each process (a gunicorn
worker after the fork) and keeps one database connection.
"""
from __future__ import annotations

import logging
import os
import queue
import threading

from .jobs.deliver import deliver_keys, worker_name

log = logging.getLogger(__name__)


class Courier:
    def __init__(self, runtime):
        self.runtime = runtime
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.pid: int | None = None
        self.pending = 0  # keys handed over and not yet through a delivery (for idle())
        self.done = threading.Condition(self.lock)

    def kick(self, keys: list[str]) -> None:
        """Send the outbox rows with these keys now (call after their transaction committed)."""
        with self.lock:
            if self.thread is None or self.pid != os.getpid() or not self.thread.is_alive():
                self.queue = queue.SimpleQueue()  # a forked child does not inherit the parent's work
                self.pending, self.pid = 0, os.getpid()
                self.thread = threading.Thread(target=self._loop, name="courier", daemon=True)
                self.thread.start()
            self.pending += len(keys)
        self.queue.put(list(keys))

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until every key handed over has been through a delivery (tests, benchmarks)."""
        with self.lock:
            return self.done.wait_for(lambda: self.pending == 0, timeout)

    def _loop(self) -> None:
        worker = f"{worker_name()}:reply"  # never the same name as the poll of this process
        q = self.queue
        database = self.runtime.database
        while True:
            keys = q.get()
            while True:  # whatever else arrived meanwhile goes in the same claim
                try:
                    keys += q.get_nowait()
                except queue.Empty:
                    break
            try:
                database.connect(reuse_if_open=True)
                deliver_keys(self.runtime, keys, self.runtime.now(), worker)
            except Exception:  # noqa: BLE001  the rows stay pending (or leased): the poll sends them
                log.exception("instant delivery of %d outbox rows failed; the delivery poll will send them",
                              len(keys))
                if not database.is_closed() and not database.in_transaction():
                    database.close()
            finally:
                with self.lock:
                    self.pending = max(0, self.pending - len(keys))
                    self.done.notify_all()
