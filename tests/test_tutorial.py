"""docs/tutorial.rst runs as written: every Python block, in order, in one fresh namespace.

Sphinx's doctest builder gives every page ``from minimix_core import *`` first; a reader
does not get that, so this test runs the page without it, the way a reader would: the
``testcode`` block executed as is, each ``doctest`` block checked against its output,
all in one namespace that starts empty.
"""

from __future__ import annotations

import ast
import doctest
import re
import sys
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.rst"
DIRECTIVE = re.compile(
    r"^(?P<indent> *)\.\. (?P<kind>code-block|testcode|doctest)::\s*(?P<arg>\S*)"
)
# Sphinx's doctest builder uses these flags unless told otherwise; the page is written for them.
FLAGS = doctest.ELLIPSIS | doctest.IGNORE_EXCEPTION_DETAIL | doctest.DONT_ACCEPT_TRUE_FOR_1


def blocks(text: str) -> list[tuple[str, str, int, str]]:
    """``(directive, argument, line, code)`` for every code directive of a reST page."""
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines):
        match = DIRECTIVE.match(line)
        if match is None:
            continue
        indent = len(match["indent"])
        body: list[str] = []
        for following in lines[number + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        while body and (not body[0].strip() or body[0].strip().startswith(":")):
            body.pop(0)  # the directive's options and the blank line after them
        code = "\n".join(row[indent + 3 :] for row in body).strip("\n") + "\n"
        found.append((match["kind"], match["arg"], number + 1, code))
    return found


def python_blocks() -> list[tuple[str, int, str]]:
    """The page's Python, in order: ``testcode`` and ``doctest`` blocks, Python code-blocks."""
    return [
        (kind, line, code)
        for kind, arg, line, code in blocks(TUTORIAL.read_text(encoding="utf-8"))
        if kind != "code-block" or arg == "python"
    ]


def test_the_page_has_the_blocks_this_test_runs() -> None:
    """The host, then the simulated-room session; the shell and Lua blocks are not Python."""
    kinds = [kind for kind, _, _ in python_blocks()]
    assert kinds == ["testcode"] + ["doctest"] * 6
    others = [(kind, arg) for kind, arg, _, _ in blocks(TUTORIAL.read_text(encoding="utf-8"))]
    assert others.count(("code-block", "sh")) == 3
    assert others.count(("code-block", "lua")) == 1


def test_every_block_runs_in_order_in_one_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    """What a reader types, in the order the page gives it, with no setup of its own."""
    namespace: dict[str, object] = {"__name__": "__tutorial__"}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for kind, line, code in python_blocks():
        if kind == "doctest":
            test = parser.get_doctest(code, {}, f"tutorial.rst:{line}", str(TUTORIAL), line)
            test.globs = namespace  # DocTest copies the globals it is given: share them instead
            runner.run(test, clear_globs=False)
        else:
            exec(compile(code, f"tutorial.rst:{line}", "exec"), namespace)
    failed, attempted = runner.summarize(verbose=False)
    report = capsys.readouterr().out
    assert (failed, report) == (0, "")
    assert attempted == 30


def test_the_page_imports_nothing_but_the_package_and_the_standard_library() -> None:
    """A reader's environment has only the package: no Hypothesis, no module kept beside the page."""
    imported: set[str] = set()
    for kind, _, code in python_blocks():
        source = code
        if kind == "doctest":
            examples = doctest.DocTestParser().get_examples(code)
            source = "".join(example.source for example in examples)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    outside = {name for name in imported if name not in sys.stdlib_module_names}
    assert outside == {"minimix_core"}
