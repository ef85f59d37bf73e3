"""Figures and how they are shown: console lines and the Markdown of docs/performance.md."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import minimix_core

ROOT = Path(__file__).resolve().parent.parent
"""The repository's root folder."""

__all__ = [
    "TIMES",
    "Figure",
    "Target",
    "console_line",
    "environment",
    "fmt_bytes",
    "fmt_time",
    "markdown",
]


TIMES = "\N{MULTIPLICATION SIGN}"
"""The unit of a ratio."""


@dataclass(frozen=True, slots=True)
class Target:
    """A goal for one figure: ``measured <= value`` or ``measured >= value``."""

    op: Literal["<=", ">="]
    value: float
    unit: str

    def met(self, measured: float) -> bool:
        """Whether ``measured`` reaches the goal."""
        return measured <= self.value if self.op == "<=" else measured >= self.value

    def __str__(self) -> str:
        sign = "≤" if self.op == "<=" else "≥"
        return f"{sign} {_number(self.value)}{self.unit}"


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure: a ratio (or a size) with its target and the raw numbers."""

    benchmark: str
    """The benchmark's title, for example ``"1. Fan-out"``."""
    case: str
    """What was measured, for example ``"k = 20 sessions"``."""
    measured: float | None
    """The figure (``None`` when it could not be measured, e.g. an API not there yet)."""
    unit: str
    """:data:`TIMES` for ratios, ``" B"`` for bytes, ...; written right after the number."""
    target: Target | None
    """``None`` for a figure reported for information only."""
    absolute: str
    """The absolute numbers behind the figure, as text."""
    notes: tuple[str, ...] = field(default=())

    @property
    def met(self) -> bool | None:
        """Whether the target is met; ``None`` without a target or a measurement."""
        if self.target is None or self.measured is None:
            return None
        return self.target.met(self.measured)

    @property
    def measured_text(self) -> str:
        """The figure as text, ``"n/a"`` when it was not measured."""
        return "n/a" if self.measured is None else f"{_number(self.measured)}{self.unit}"

    @property
    def verdict(self) -> str:
        """``met``, ``NOT met``, ``info`` or ``not available``."""
        if self.measured is None:
            return "not available"
        met = self.met
        if met is None:
            return "info"
        return "met" if met else "NOT met"


def _number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_time(seconds: float) -> str:
    """A duration with a readable unit (ns, µs, ms or s)."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_bytes(count: float) -> str:
    """A byte count: plain bytes below 10 KiB, else KiB, MiB or GiB."""
    if abs(count) < 10 * 1024:
        return f"{count:,.0f} B"
    for unit, scale in (("GiB", 1024.0**3), ("MiB", 1024.0**2), ("KiB", 1024.0)):
        if abs(count) >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count:,.0f} B"


def console_line(figure: Figure) -> str:
    """One line for the terminal."""
    target = "" if figure.target is None else f" (target {figure.target})"
    return (
        f"  {figure.case:<44} {figure.measured_text:>10}{target:<16} "
        f"{figure.verdict:<13} {figure.absolute}"
    )


def environment() -> dict[str, str]:
    """The machine, interpreter and source the figures were measured on."""
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(),
        "processor": _cpu_model() or platform.processor() or platform.machine(),
        "cpus": str(os.cpu_count()),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "source": _source(),
    }


def _git(*args: str) -> str:
    """Output of a read-only git command in the repository, or '' if git cannot say."""
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")  # never touch the index
    try:
        done = subprocess.run(
            ["git", *args],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _source() -> str:
    commit = _git("rev-parse", "--short", "HEAD")
    if not commit:
        return f"minimix_core {minimix_core.__version__}"
    changed = _git("status", "--porcelain", "--untracked-files=all", "--", "src")
    state = "with uncommitted changes in src/" if changed else "clean src/"
    return f"minimix_core {minimix_core.__version__}, commit {commit}, {state}"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        return ""
    return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(
    figures: Sequence[Figure],
    env: dict[str, str],
    *,
    mode: str,
    runtime: float,
    command: str,
    sections: Sequence[tuple[str, str]] = (),
) -> str:
    """The whole of docs/performance.md: environment, the table, then extra sections."""
    met = sum(1 for f in figures if f.met is True)
    unmet = sum(1 for f in figures if f.met is False)
    lines = [
        "# Performance",
        "",
        "Generated by the benchmarks (do not edit by hand; `python3 tasks.py bench` runs them",
        "again):",
        "",
        "```",
        command,
        "```",
        "",
        "Every figure is a ratio against a baseline measured in the same process run (or a",
        "size in bytes), so it can be compared across machines; the absolute numbers beside it",
        "hold on this machine only. A missed target is read against the lean rows: where even",
        "the lean model (`benchmarks/lean.py`, the router's features in the least Python known",
        "for them) misses it, no router that keeps those features is known to meet it in",
        "CPython; where the lean model with the router's duties misses it, no router that",
        "behaves as this one does is known to meet it; where only the one with sharing misses",
        "it, meeting it costs a router what it does for memory (its payloads shared, its",
        "message keys kept compact). The router ÷ lean model rows say",
        "how far the router is from the least Python known to behave as it does. Ratios move",
        "by up to about 10 % between runs: a verdict that close to its target may turn on the",
        "next run.",
        "",
        "| | |",
        "| --- | --- |",
        f"| date | {env['date']} |",
        f"| run | {mode}, {runtime:.0f} s |",
        f"| machine | {_cell(env['platform'])}, {_cell(env['processor'])}, {env['cpus']} CPUs |",
        f"| Python | {env['python']} |",
        f"| measured | {_cell(env['source'])} |",
        f"| targets | {met} met, {unmet} not met, {len(figures) - met - unmet} for information |",
        "",
        "| benchmark | case | target | measured | verdict | absolute numbers |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        target = "—" if f.target is None else str(f.target)
        verdict = f"**{f.verdict}**" if f.met is False else f.verdict
        lines.append(
            f"| {_cell(f.benchmark)} | {_cell(f.case)} | {target} | {f.measured_text} "
            f"| {verdict} | {_cell(f.absolute)} |"
        )
    notes = [(f, n) for f in figures for n in f.notes]
    if notes:
        lines += ["", "Notes on single figures:", ""]
        lines += [f"- {f.benchmark}, {f.case}: {n}" for f, n in notes]
    for title, body in sections:
        lines += ["", f"## {title}", "", body.rstrip()]
    return "\n".join(lines) + "\n"
