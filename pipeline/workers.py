"""Worker processes that parse texts for the NER stage, tied to the process that started them.

spaCy's own ``nlp.pipe(n_process=...)`` starts plain ``multiprocessing`` workers: when their
parent is SIGKILLed (the OOM killer, a crash test) they stay blocked on their queue forever,
and a Ctrl-C in a terminal reaches them too, so each prints a KeyboardInterrupt traceback.
These workers instead

- are forked from the loaded pipeline (nothing is pickled, the model's memory is shared);
- ask the kernel to SIGKILL them when their parent dies (Linux ``PR_SET_PDEATHSIG``;
  elsewhere a thread watches the parent's pid);
- ignore SIGINT: the parent gets the KeyboardInterrupt and stops them;
- send back each batch as ``Doc.to_bytes()``, which the parent reads in order.

``PR_SET_PDEATHSIG`` fires when the *thread* that forked a worker ends, so the generator
must be consumed by the thread that started it (the CLI's main thread does).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import TYPE_CHECKING, Any

from spacy.language import Language
from spacy.tokens import Doc

if TYPE_CHECKING:  # ForkContext does not exist on Windows, where nothing forks
    from multiprocessing.context import ForkContext

PR_SET_PDEATHSIG = 1
#: Seconds a worker gets to exit after its last batch, then after SIGTERM.
JOIN_TIMEOUT = 5.0
#: Seconds between checks of the parent's pid where PR_SET_PDEATHSIG is unavailable.
WATCH_INTERVAL = 1.0


def can_fork() -> bool:
    """Whether workers can be forked here (not on Windows)."""
    return "fork" in multiprocessing.get_all_start_methods()


def pipe(nlp: Language, texts: Iterable[str], *, n_process: int,
         batch_size: int) -> Iterator[Doc]:
    """Parse ``texts`` with ``nlp`` in ``n_process`` worker processes; docs come back in
    order. A worker's error or death raises RuntimeError here, after every worker is gone."""
    ctx = multiprocessing.get_context("fork")
    workers: list[_Worker] = []
    finished = False
    try:
        for _ in range(n_process):
            workers.append(_Worker(ctx, nlp))
            workers[-1].start()
        source = iter(texts)
        waiting: deque[_Worker] = deque()  # the worker of each batch sent, in order

        def send(worker: _Worker) -> None:
            batch = list(islice(source, batch_size))
            if batch:
                worker.inbox.put(batch)
                waiting.append(worker)

        for worker in workers * 2:  # two batches each: one parsed, one queued
            send(worker)
        while waiting:
            worker = waiting.popleft()
            parsed = worker.receive()
            send(worker)  # keep it busy while these docs are linked
            for data in parsed:
                yield Doc(nlp.vocab).from_bytes(data)
        finished = True
    finally:
        for worker in workers:
            worker.stop(gently=finished)


class _Worker:
    """One forked worker process with its inbox (texts) and its outbox (parsed docs)."""

    def __init__(self, ctx: ForkContext, nlp: Language) -> None:
        self.inbox: Queue[list[str] | None] = ctx.Queue()
        self.inbox.cancel_join_thread()  # never hang at exit on a batch nobody will read
        self.outbox, self._sender = ctx.Pipe(duplex=False)
        self.process: BaseProcess = ctx.Process(
            target=_work, args=(nlp, self.inbox, self._sender, os.getpid()), daemon=True,
            name="spacewatch-ner")

    def start(self) -> None:
        """Fork the worker. A Ctrl-C between the fork and the worker's own SIGINT handling
        would give it a traceback: SIGINT stays blocked until the child ignores it (a
        SIGINT meant for this process is delivered when the mask is restored)."""
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.process.start()
        finally:
            self._sender.close()  # the worker holds the only writing end: its death is EOF
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def receive(self) -> list[bytes]:
        """The next parsed batch of this worker."""
        try:
            status, payload = self.outbox.recv()
        except EOFError:
            self.process.join(JOIN_TIMEOUT)
            raise RuntimeError(f"NER worker process {self.process.pid} died "
                               f"(exit code {self.process.exitcode})") from None
        if status != "ok":
            raise RuntimeError(f"NER worker process failed: {payload}")
        return list(payload)

    def stop(self, *, gently: bool) -> None:
        """End the worker: after its last batch (``gently``) or at once."""
        if gently and self.process.is_alive():
            self.inbox.put(None)
            self.process.join(JOIN_TIMEOUT)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(JOIN_TIMEOUT)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.inbox.close()
        self.outbox.close()


def _work(nlp: Language, inbox: Queue[list[str] | None], outbox: Connection,
          parent: int) -> None:
    """The worker's loop: parse each batch from the inbox, send its docs as bytes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handlers are not ours
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _die_with_parent(parent)
    while True:
        try:
            batch = inbox.get()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        try:
            result: tuple[str, Any] = ("ok", [doc.to_bytes() for doc in
                                              nlp.pipe(batch, batch_size=len(batch))])
        except Exception as exc:  # reported to the parent, which retries in-process
            result = ("error", f"{type(exc).__name__}: {exc}")
        try:
            outbox.send(result)
        except OSError:  # the parent is gone or stopped listening
            return


def _die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (or watch for it)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux: no prctl
        armed = False
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                         name="parent-watch").start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_INTERVAL)
    os._exit(1)
