"""Timing with ``time.perf_counter``: calibrated loops, alternating repeats, medians.

A measured operation is a *runner*: a function that performs the operation ``n`` times
and returns, so the loop lives inside the measured code and no per-call wrapper is timed.
Subject and baseline are measured in alternating repeats (subject, baseline, subject...),
so a burst of load from another process hits both alike. Like :mod:`timeit`, the garbage
collector is paused while a loop runs.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Plan", "Runner", "Timing", "calibrate", "compare", "measure", "timed"]

Runner = Callable[[int], object]
"""Performs the measured operation ``n`` times."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How hard to measure: repeats per figure and the least time one repeat lasts."""

    repeat: int
    """Timed repeats per measurement (the median is reported)."""
    min_time: float
    """Seconds one repeat lasts at least; ``0`` runs the operation exactly once."""


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds per operation, one sample per repeat."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        """The median of the samples: the figure the ratios use."""
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        """The fastest sample."""
        return min(self.samples)


def timed(action: Callable[[], object], *, collector: bool = False) -> float:
    """Seconds one call of ``action`` takes, the garbage collector paused.

    ``collector=True`` runs it with the garbage collector enabled instead, as a host's
    process usually does.
    """
    enabled = gc.isenabled()
    if collector:
        gc.enable()
    else:
        gc.disable()
    try:
        start = time.perf_counter()
        result = action()  # freed after the clock stops, not inside the measurement
        elapsed = time.perf_counter() - start
        del result
        return elapsed
    finally:
        if enabled:
            gc.enable()
        else:
            gc.disable()


def _loop(run: Runner, number: int) -> float:
    return timed(lambda: run(number)) / number


def calibrate(run: Runner, min_time: float) -> int:
    """How many operations make one repeat last at least ``min_time`` seconds."""
    number = 1
    while min_time > 0:
        elapsed = _loop(run, number) * number
        if elapsed >= min_time:
            break
        # Aim a little past min_time, growing at most 10x a step.
        number = max(
            number + 1, min(number * 10, int(number * 1.2 * min_time / max(elapsed, 1e-9)))
        )
    return number


def measure(run: Runner, plan: Plan) -> Timing:
    """Seconds per operation of ``run``, ``plan.repeat`` samples."""
    number = calibrate(run, plan.min_time)
    return Timing(tuple(_loop(run, number) for _ in range(plan.repeat)))


def compare(subject: Runner, baseline: Runner, plan: Plan) -> tuple[Timing, Timing]:
    """Seconds per operation of ``subject`` and ``baseline``, measured in alternation."""
    numbers = calibrate(subject, plan.min_time), calibrate(baseline, plan.min_time)
    subject_samples: list[float] = []
    baseline_samples: list[float] = []
    for _ in range(plan.repeat):
        subject_samples.append(_loop(subject, numbers[0]))
        baseline_samples.append(_loop(baseline, numbers[1]))
    return Timing(tuple(subject_samples)), Timing(tuple(baseline_samples))
