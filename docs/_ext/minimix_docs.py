"""Sphinx helpers that generate parts of the documentation from the code, so they cannot drift.

* ``.. lifecycle-diagram::`` draws the occupancy state diagram from
  ``minimix_core._lifecycle.TRANSITIONS`` and lists every transition under it.
* ``.. config-table::`` lists every :class:`minimix_core.Config` field with its default and
  its documentation, read from ``_config.py``.
* ``.. discard-reasons::`` lists every :class:`minimix_core.DiscardReason` with its meaning
  (from the code) and the operator's advice given as the directive's content; a reason
  without advice, or advice for no reason, is a build warning.
* ``:test:`tests/test_x.py::test_name``` names a test and checks at build time that the
  file defines that test, so the protocol coverage table cannot cite a test that is gone.
* Every name in ``minimix_core.__all__`` and ``minimix_core.testing.__all__`` must be
  documented somewhere; one that is not is a build warning.
* Cross-references to private module paths (``minimix_core._stanza.Stanza``, which is
  what autodoc sees in type hints) resolve to the public name (``minimix_core.Stanza``).
"""

from __future__ import annotations

import enum
import importlib
import re
from pathlib import Path
from typing import Any

import attrs
from docutils import nodes
from lifecycle_svg import render
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

__all__ = ["setup"]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent.parent
TITLE = "The occupancy lifecycle of minimix_core"
FULL_SIZE = "lifecycle.svg"
PUBLIC_MODULES = ("minimix_core", "minimix_core.testing")


def _attr_docs(module: str, cls: str) -> dict[str, str]:
    """The docstrings written under the attributes of ``cls`` (``#:`` or a string after)."""
    found = ModuleAnalyzer.for_module(module).find_attr_docs()
    return {
        name: "\n".join(lines).strip() for (owner, name), lines in found.items() if owner == cls
    }


def _source(module: str) -> str:
    """The file of ``module``, so that a change to it makes Sphinx read the page again."""
    return str(importlib.import_module(module).__file__)


def _indent(text: str, prefix: str) -> list[str]:
    return [prefix + line if line else "" for line in text.splitlines()]


def _list_table(header: list[str], rows: list[list[str]], widths: str) -> list[str]:
    """The reST of a list-table whose cells are reST themselves."""
    out = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in [header, *rows]:
        for i, cell in enumerate(row):
            lines = cell.splitlines() or [""]
            lead = "   * - " if i == 0 else "     - "
            out.append(lead + lines[0])
            out += _indent("\n".join(lines[1:]), "       ")
    out.append("")
    return out


class LifecycleDiagram(SphinxDirective):
    """The state diagram and the transition table, both from ``TRANSITIONS``."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        """Draw the diagram and list the states, events and transitions."""
        module = "minimix_core._lifecycle"
        lifecycle = importlib.import_module(module)
        self.env.note_dependency(_source(module))
        states: type[enum.Enum] = lifecycle.OccupancyState
        events: type[enum.Enum] = lifecycle.OccupancyEvent
        table: dict[tuple[Any, Any], frozenset[Any]] = lifecycle.TRANSITIONS
        svg = render(table, states, title=TITLE)
        up = "../" * self.env.docname.count("/")
        link = f'<p><a href="{up}_static/{FULL_SIZE}">The diagram at full size</a></p>'
        state_docs = _attr_docs(module, "OccupancyState")
        event_docs = _attr_docs(module, "OccupancyEvent")
        text: list[str] = [
            ".. raw:: html",
            "",
            *_indent(svg, "   "),
            *_indent(link, "   "),
            "",
            ".. rubric:: States",
            "",
        ]
        for state in states:
            text += [f"``{state.value}``", *_indent(state_docs.get(state.name, ""), "   "), ""]
        text += [".. rubric:: Events", ""]
        for event in events:
            text += [f"``{event.value}``", *_indent(event_docs.get(event.name, ""), "   "), ""]
        text += [".. rubric:: Every transition", ""]
        rows = []
        for state in states:
            for event in events:
                targets = table.get((state, event))
                if targets is None:
                    continue
                ordered = [s.value for s in states if s in targets]
                rows.append([f"``{state.value}``", f"``{event.value}``", ", ".join(ordered)])
        text += _list_table(["state", "event", "may lead to"], rows, "20 25 55")
        text.append(
            "Any other pair raises :class:`~minimix_core.LifecycleError`: a bug in the router, "
            "never bad input."
        )
        return self.parse_text_to_nodes("\n".join(text))


class ConfigTable(SphinxDirective):
    """Every ``Config`` field: name, type, default and its documentation."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        """List the fields in the order they are declared."""
        config = importlib.import_module("minimix_core").Config
        module = "minimix_core._config"
        self.env.note_dependency(_source(module))
        docs = _attr_docs(module, "Config")
        rows = []
        for field in attrs.fields(config):
            shown = f"``{field.default!r}``"
            doc = docs.get(field.name)
            if doc is None:
                location = self.get_location()
                log.warning("Config.%s has no documentation", field.name, location=location)
                doc = ""
            name = f":attr:`~minimix_core.Config.{field.name}`"
            rows.append([name, f"``{field.type}``", shown, doc])
        text = _list_table(["field", "type", "default", "what it does"], rows, "22 8 10 60")
        return self.parse_text_to_nodes("\n".join(text))


class DiscardReasons(SphinxDirective):
    """Every ``DiscardReason``: its value, its meaning and what an operator should do."""

    has_content = True
    _entry = re.compile(r"^:([a-z-]+):\s*(.*)$")

    def run(self) -> list[nodes.Node]:
        """Pair the content's advice (``:value: text``) with the enum's members."""
        reasons = importlib.import_module("minimix_core").DiscardReason
        module = "minimix_core._actions"
        self.env.note_dependency(_source(module))
        docs = _attr_docs(module, "DiscardReason")
        advice: dict[str, list[str]] = {}
        current: list[str] | None = None
        for line in self.content:
            match = self._entry.match(line)
            if match:
                current = advice[match.group(1)] = [match.group(2)]
            elif current is not None:
                current.append(line.strip())
        rows = []
        for reason in reasons:
            if reason.value not in advice:
                log.warning(
                    "no advice for DiscardReason.%s", reason.name, location=self.get_location()
                )
            rows.append(
                [
                    f"``{reason.value}``",
                    docs.get(reason.name, ""),
                    "\n".join(advice.pop(reason.value, [""])),
                ]
            )
        for unknown in advice:
            log.warning(
                "advice for %r, which is no DiscardReason", unknown, location=self.get_location()
            )
        text = _list_table(["reason", "what happened", "what to do"], rows, "16 42 42")
        return self.parse_text_to_nodes("\n".join(text))


def test_role(
    name: str,
    rawtext: str,
    text: str,
    lineno: int,
    inliner: Any,
    options: dict[str, Any] | None = None,
    content: list[str] | None = None,
) -> tuple[list[nodes.Node], list[nodes.system_message]]:
    """``:test:`tests/test_x.py::test_name[param]```: a test that must exist."""
    del name, options, content
    path, _, test = text.partition("::")
    function = test.partition("[")[0]
    source = ROOT / path
    env = inliner.document.settings.env
    if not source.is_file():
        message = f"test file {path} does not exist"
        log.warning(message, location=(env.docname, lineno))
    else:
        env.note_dependency(str(source))
        code = source.read_text(encoding="utf-8")
        name_re = re.escape(function)
        defined = rf"^((async )?def|class) {name_re}\b|^{name_re} ="
        if not re.search(defined, code, re.MULTILINE):
            log.warning(f"{path} has no test {function}", location=(env.docname, lineno))
    shown = path.removeprefix("tests/") + (f"::{test}" if test else "")
    return [nodes.literal(rawtext, shown, classes=["test-ref"])], []


def _public_target(target: str) -> str | None:
    """``minimix_core._stanza.Stanza`` -> ``minimix_core.Stanza``; ``None`` if not private."""
    parts = target.split(".")
    if len(parts) < 3 or parts[0] != "minimix_core" or not parts[1].startswith("_"):
        return None
    return ".".join(["minimix_core", *parts[2:]])


def resolve_private(
    app: Sphinx, env: BuildEnvironment, node: Any, contnode: nodes.Element
) -> nodes.Element | None:
    """Resolve a reference to a private module path through the public name."""
    if node.get("refdomain") != "py":
        return None
    target = _public_target(node.get("reftarget", ""))
    if target is None:
        return None
    domain: Any = env.get_domain("py")
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], target, node, contnode
    )


def write_full_size_diagram(app: Sphinx, exception: Exception | None) -> None:
    """The diagram as a file of its own, for the page's "full size" link."""
    if exception is not None or app.builder.format != "html":
        return
    lifecycle = importlib.import_module("minimix_core._lifecycle")
    svg = render(lifecycle.TRANSITIONS, lifecycle.OccupancyState, title=TITLE, standalone=True)
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    (static / FULL_SIZE).write_text(svg + "\n", encoding="utf-8")


def check_public_names(app: Sphinx, env: BuildEnvironment) -> None:
    """Every public name must be documented on some page."""
    del app
    domain: Any = env.get_domain("py")
    documented = set(domain.objects)
    for module in PUBLIC_MODULES:
        for name in importlib.import_module(module).__all__:
            if f"{module}.{name}" not in documented:
                log.warning("%s.%s is public but documented nowhere", module, name)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directives, the role and the checks."""
    app.add_directive("lifecycle-diagram", LifecycleDiagram)
    app.add_directive("config-table", ConfigTable)
    app.add_directive("discard-reasons", DiscardReasons)
    app.add_role("test", test_role)
    app.connect("missing-reference", resolve_private)
    app.connect("env-check-consistency", check_public_names)
    app.connect("build-finished", write_full_size_diagram)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
