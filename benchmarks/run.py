"""The benchmarks' one entry point: ``python benchmarks/run.py [--quick] [--write FILE]``.

Runs the seven benchmarks of docs/performance.md and prints every figure: the ratio to
its in-process baseline, the target, whether it is met, and the absolute numbers.
``--quick`` runs each once at small sizes in a few seconds (a smoke test: nothing is
asserted on timings, and it prints only that each benchmark ran, no figures or verdicts);
``--write docs/performance.md`` writes the Markdown report;
``--profile`` adds cProfile tables of the hot paths. Importable: :func:`main` takes the
arguments and returns the exit status.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the ``benchmarks`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import cases
from benchmarks.fixtures import Corpus, load_corpus
from benchmarks.profiling import hot_paths
from benchmarks.report import Figure, console_line, environment, markdown

__all__ = ["main"]

_METHOD = """\
- Timing: `time.perf_counter` around a loop of calls (calibrated so one repeat lasts at least
  40 ms), 11 repeats; the figure is the median. Subject and baseline repeats alternate, so load
  from other processes hits both alike. The garbage collector is paused inside timed loops, as
  `timeit` does.
- Stanzas: the captured Prosody 0.12 transcripts in `tests/fixtures/prosody-0.12` (the groupchat
  message with `occupant-id` and `stanza-id`, bob's occupant presence, a self-presence with 110,
  the subject, a join); other occupants are seeded variations of the captured presence (own nick,
  real JID, `occupant-id`, role).
- Routers are driven through `Router.handle` only, as a server would: a session's join, the
  room's occupant presences, self-presence and subject, then late sessions.
- **1. Fan-out**: floor = a dict lookup of the account, a dict lookup of the room (keyed by
  `(local, domain)`), then per session a new seven-field slotted stanza object and a new
  two-field slotted action object. The router's time is whatever it does per message today
  (forks, and any history buffer or archive copy it keeps), so the ratio moves with src/.
  The target (at most twice the floor) is at one session; with more, the ratios are information.
  The **naive port** (`benchmarks/naive.py`) is the original module's algorithm in Python: look
  the room up, then per session `copy.deepcopy` of an ElementTree element parsed once and
  `set("to", ...)`; JIDs are strings. The router must be faster (ratio ≤ 1).
  The **lean model** (`benchmarks/lean.py`) is for reading both: what the router keeps per
  message (history entry, archive copy, duplicate detection, forks) in the least Python known
  for it, with no event, no checks and no state machine, and the stanza-id itself as the key.
  Where even it misses a target, no router in CPython that keeps these features is known to
  meet it.
  The **lean model with the router's duties** (`Dutiful` in `benchmarks/lean.py`) adds, in
  one function, what the router's behaviour asks of each message: `Router.handle`'s checks,
  an action for every stanza, the keep-alive's last heard, the resync and state checks, the
  payload read for every fact the router acts on, a history bounded in bytes, `Unattended`.
  Its answers to a run of messages must equal the router's. Where it misses a target, no
  router that behaves as this one does, reading the payload as it routes, is known to meet
  it. **With sharing**, it also keeps one payload for every account in the room and the
  account's memory of rooms in order of use, and its message keys as the router keeps them
  (their order in a list beside each dict, where the model without sharing pays an
  `OrderedDict`'s links, some 48 bytes more a key): what the router does for memory, the
  sharing in its cheapest known design (a pool per room of its last 16 messages, reached
  from the occupancy, keyed by the message's key; the router keeps one pool for the
  process). Where only this one misses a target, meeting it costs a router what it does
  for memory.
- **2. Serializing forks**: `serialize` of the k `Deliver`ed copies of freshly parsed messages (the
  first copy fills the payload memo); baseline `ElementTree.tostring(..., encoding="unicode")` of
  k copies of a parsed ElementTree element with `to` changed. Each side loops over one flat
  list made before the clock starts; the copies after the first, and the baseline's, are
  written again until the loop has at least 3,000 writes (at k = 2 there is one per message).
- **3. Late join**: the timed join repeats an attached session's join (§7.2.1), which the
  router answers from the same cache as a new session's; floor = a copy of each cached presence
  with `to` changed, made by `tuple.__new__` (what `with_to` did before it used the constructor).
  The **lean late join** (`benchmarks/lean.py`) answers the same join from the router's own
  cache doing only what every late join must (find the room, read the history request, note
  the session, deliver each presence, the self-presence with the join's id and the subject);
  where it misses the target, no router in CPython is known to meet it.
  The **lean late join with the router's duties** (`DutifulJoin`) adds, in one function, what
  the router's behaviour asks of a join of a room the account is in (the checks, the
  session's presence kept and numbered, its memory, limits and links, the history request,
  the self-presence's status codes, the account's presence made again from its sessions');
  its answer must equal the router's. Where it misses the target, no router that behaves as
  this one does is known to meet it.
- **4. Scale**: events go to a seeded random sample of occupancies (cache misses included); the
  stanzas a scale router holds share their payload across accounts, to keep building a million
  occupancies to about a minute. Every groupchat message is new to its occupancy (the router
  takes a message once: a repeat would measure the duplicate discard); a repeated late join is
  answered in full each time.
- **5. Memory**: tracemalloc, bytes still allocated after building (after `gc.collect()`); each
  stanza parsed per account from its own text unless the figure says otherwise. Per occupancy:
  500 accounts, each in the same 10 rooms with one session, so an account's own objects count
  a tenth per occupancy (an account in one room pays them whole: about 1.3 KB more). The
  library's bounded process-wide caches (parsed JIDs, written text, read-back self-presences;
  about 25 MB once full, docs/concepts.rst) are emptied before each reading: a fixed cost of the
  process, not of the occupancies a figure divides by.
- **6. Parsing**: `defusedxml.ElementTree.fromstring` with the flags `parse_stanza` passes it
  (`forbid_dtd`, `forbid_entities`, `forbid_external`), on the same bytes. Two floors for
  reading it: expat calling handlers that do nothing, and expat whose handlers build bare
  elements only (the tag as expat gives it, no attributes, text or sizes).
- **7. Snapshot and restore**: measured only when `Router` has `snapshot()` (and a restore;
  otherwise the row says "not available yet", with no number). Baseline: building the same
  occupancies by events (six per occupancy, collector paused). Each is one call over all the
  occupancies, timed once; the restored router is freed after the clock stops.
- `--quick` runs every benchmark once at small sizes, asserting nothing about time: its numbers
  are noise and only show that the code still runs.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Benchmarks of minimix_core (see docs/performance.md).",
    )
    parser.add_argument(
        "--quick", action="store_true", help="each benchmark once at small sizes (seconds)"
    )
    parser.add_argument("--write", metavar="FILE", type=Path, help="write the Markdown report")
    parser.add_argument(
        "--profile", action="store_true", help="also profile the hot paths with cProfile"
    )
    parser.add_argument(
        "--only",
        metavar="N",
        type=int,
        action="append",
        choices=range(1, 8),
        help="run only benchmark N (1-7); may be repeated",
    )
    return parser


_Bench = Callable[[Corpus, cases.Sizes], list[Figure]]


def _benchmarks(sections: list[tuple[str, str]]) -> list[tuple[int, str, _Bench]]:
    def memory(corpus: Corpus, sizes: cases.Sizes) -> list[Figure]:
        figures, layout = cases.memory(corpus, sizes)
        sections.append(("Memory layout", layout))
        return figures

    return [
        (1, "fan-out", cases.fanout),
        (2, "serializing forks", cases.serializing),
        (3, "late join", cases.late_join),
        (4, "scale", cases.scale),
        (5, "memory", memory),
        (6, "parsing", cases.parsing),
        (7, "snapshot and restore", cases.snapshot),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks with command-line arguments ``argv``; return the exit status."""
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    sizes = cases.Sizes.quick() if args.quick else cases.Sizes.full()
    mode = "quick" if args.quick else "full"
    corpus = load_corpus()
    sections: list[tuple[str, str]] = []
    figures: list[Figure] = []
    if args.quick:
        # Timings at these sizes are noise: say that the code runs, and judge nothing.
        print(
            "minimix_core benchmarks, quick run: each once at small sizes, to show it runs",
            flush=True,
        )
    else:
        print(f"minimix_core benchmarks, {mode} run", flush=True)
    for number, name, bench in _benchmarks(sections):
        if args.only and number not in args.only:
            continue
        began = time.perf_counter()
        results = bench(corpus, sizes)
        gc.collect()
        elapsed = time.perf_counter() - began
        if args.quick:
            print(f"{number}. {name}: ran, {len(results)} figures ({elapsed:.1f} s)", flush=True)
        else:
            print(f"{number}. {name} ({elapsed:.1f} s)", flush=True)
            for figure in results:
                print(console_line(figure), flush=True)
        figures += results
    for title, body in [] if args.quick else sections:
        print(f"{title}: {body}")
    if args.profile:
        for title, table in hot_paths(corpus, quick=args.quick):
            sections.append((f"Profile: {title}", table))
            print(f"\nProfile: {title}\n{table}", flush=True)
    runtime = time.perf_counter() - started
    unmet = [f for f in figures if f.met is False]
    if args.quick:
        print(
            f"every benchmark ran ({len(figures)} figures) in {runtime:.1f} s; "
            "targets are judged by the full run: python3 tasks.py bench"
        )
    else:
        print(
            f"{len(figures)} figures, {len(unmet)} targets not met; {mode} run took {runtime:.1f} s"
        )
    if args.write is not None:
        command = "python benchmarks/run.py" + (" --quick" if args.quick else "")
        if args.profile:
            command += " --profile"
        command += "".join(f" --only {n}" for n in args.only or ())
        command += f" --write {args.write.as_posix()}"
        sections.insert(0, ("Method", _METHOD))
        real = _realclients_section(args.write.parent / "realclients-figures.md")
        if real is not None:
            sections.append(real)
        text = markdown(
            figures, environment(), mode=mode, runtime=runtime, command=command, sections=sections
        )
        args.write.write_text(text, encoding="utf-8")
        print(f"wrote {args.write}")
    return 0


def _realclients_section(path: Path) -> tuple[str, str] | None:
    """The real-client throughput figures (written by ``realclients.py --figures``), folded in."""
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    body = text.split("\n## ", 1)[1] if "\n## " in text else text
    title, _, rest = body.partition("\n")
    return (f"Through Prosody: {title}", rest.strip())


if __name__ == "__main__":
    sys.exit(main())
