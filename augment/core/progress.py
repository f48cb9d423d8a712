"""Progress from inside long steps on the driver's console: GAN and classifier epochs (rank 0),
generation parts (every actor).

Workers and actors hold a `ProgressReporter` and send small events through a Ray queue
(`ray.util.queue.Queue`: one actor that needs no CPU), so it works the same on a laptop and on a
cluster, where workers' own output stays in Ray's log files. A thread in the driver shows them: a
live bar with rate and ETA on a terminal (rich), a plain line every ~10 s otherwise (a file, a CI
log, `ray job submit`'s log). AUGMENT_PROGRESS_EVERY_S sets that interval.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

EVERY_ENV = "AUGMENT_PROGRESS_EVERY_S"
DEFAULT_EVERY_S = 10.0
WORKER_EVERY_S = 1.0  # at most one update per second from each worker: a remote call each
# The driver asks the queue's actor this often (two remote calls): 4 times a second cost ~2% of a
# core beside training on a 2-core machine, for lines printed every 10 s.
POLL_S = 1.0


def every_s() -> float:
    try:
        return max(0.05, float(os.environ.get(EVERY_ENV, DEFAULT_EVERY_S)))
    except ValueError:
        return DEFAULT_EVERY_S


class ProgressReporter:
    """What a worker holds (picklable): `line()` for a closing line, `update()` inside a step.

    Without a queue (a plain loop outside Ray, the benchmarks) lines are printed and updates dropped.
    """

    def __init__(self, queue=None, min_interval_s: float = WORKER_EVERY_S):
        self.queue = queue
        self.min_interval_s = min_interval_s
        self._last = 0.0

    def __getstate__(self) -> dict:
        return {"queue": self.queue, "min_interval_s": self.min_interval_s}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["queue"], state["min_interval_s"])

    def line(self, text: str) -> None:
        if self.queue is None:
            print(text, flush=True)
        else:
            self._send({"line": text})

    def update(self, desc: str, done: int, total: int, unit: str, key: object = 0, final: bool = False) -> None:
        """`done` of `total` units of the step named `desc`; `key` tells apart workers that add up
        to one total (generation's parts). Sent at most every `min_interval_s`, and at the end
        (`done == total`, or `final` for one key's last count)."""
        now = time.monotonic()
        last = final or done >= total
        if self.queue is None or (now - self._last < self.min_interval_s and not last):
            return
        self._last = now
        self._send({"desc": desc, "done": done, "total": total, "unit": unit, "key": key})

    def _send(self, event: dict) -> None:
        try:
            self.queue.put_nowait(event)
        except Exception:  # progress is never worth failing a step for (a full or gone queue)
            pass


@dataclass
class _Step:
    desc: str
    total: int
    unit: str
    started: float  # when the first count arrived: the rate is measured from there
    done: dict = field(default_factory=dict)
    first_count: int | None = None

    def count(self) -> int:
        return sum(self.done.values())

    def complete(self) -> bool:
        return self.count() >= self.total

    def status(self, now: float) -> str | None:
        """'  gan epoch 2/5: 12,800/60,000 samples (21%), 310 samples/s, ETA 2 min 32 s'; None
        until a rate can be measured."""
        done, elapsed = self.count(), now - self.started
        if self.first_count is None or done <= self.first_count or elapsed < 0.5:
            return None
        rate = (done - self.first_count) / elapsed
        share = f" ({done / self.total:.0%})" if self.total else ""
        eta = format_duration((self.total - done) / rate)
        return f"  {self.desc}: {done:,}/{self.total:,} {self.unit}{share}, {rate:,.0f} {self.unit}/s, ETA {eta}"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class _Plain:
    """A status line every `every` seconds: for logs, where a redrawn bar would be noise."""

    def __init__(self, echo: Callable[[str], None], every: float):
        self.echo, self.every, self.last = echo, every, time.monotonic()

    def line(self, text: str) -> None:
        self.echo(text)

    def show(self, step: _Step | None, now: float, final: bool = False) -> None:
        if step is None or final or step.complete() or now - self.last < self.every:
            return
        status = step.status(now)
        if status is not None:
            self.last = now
            self.echo(status)

    def close(self) -> None:
        pass


class _Live:
    """rich's live bar on a terminal: lines print above it; it disappears when the step ends."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} {task.fields[unit]}"),
            TimeRemainingColumn(),
            transient=True,
        )
        self.bar.start()
        self.task = None
        self.desc = None

    def line(self, text: str) -> None:
        self.bar.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def show(self, step: _Step | None, now: float, final: bool = False) -> None:
        if step is None:
            return
        if self.task is None or step.desc != self.desc:
            if self.task is not None:
                self.bar.remove_task(self.task)
            self.task, self.desc = self.bar.add_task(step.desc, total=step.total, unit=step.unit), step.desc
        self.bar.update(self.task, completed=step.count())

    def close(self) -> None:
        self.bar.stop()


@contextmanager
def progress_channel(echo: Callable[[str], None] | None = None) -> Iterator[ProgressReporter]:
    """Inside a Ray session: a reporter to hand to workers, shown on this console until the block ends."""
    import ray
    from ray.util.queue import Queue
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    echo = echo or (lambda text: print(text, flush=True))
    # On the driver's node: a queue on a worker node would be lost with that node, and with it
    # every later line (a job that survived a lost node then finished in silence).
    here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
    queue = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": here})
    view = _Live() if sys.stdout.isatty() else _Plain(echo, every_s())
    stop = threading.Event()
    shown = threading.Thread(target=_show, args=(queue, view, stop), name="augment-progress", daemon=True)
    shown.start()
    try:
        yield ProgressReporter(queue, min(WORKER_EVERY_S, every_s()))
    finally:
        stop.set()
        shown.join(timeout=10.0)
        view.close()
        queue.shutdown(force=True)


def _show(queue, view, stop: threading.Event) -> None:
    step: _Step | None = None
    while True:
        stopping = stop.is_set()
        try:
            events = queue.get_nowait_batch(queue.qsize())
        except Exception:  # the queue's actor is gone (the session ended under us)
            return
        now = time.monotonic()
        for event in events:
            if "line" in event:
                view.line(event["line"])
                continue
            # a count that went back: the step started over (workers restarted after a lost node)
            restarted = step is not None and event["done"] < step.done.get(event["key"], 0)
            if step is None or event["desc"] != step.desc or restarted:
                step = _Step(event["desc"], event["total"], event["unit"], now)
            step.done[event["key"]] = event["done"]
            if step.first_count is None:
                step.first_count, step.started = step.count(), now
        view.show(step, now, final=stopping)
        if stopping:
            return
        stop.wait(min(POLL_S, every_s()))
