"""Where in the YAML a policy problem is: the line of ``rules[3].strategy`` in the text as typed.

:class:`~leadrelay.shared.policy.PolicyError` names each problem by its path in the document
(``rules[3].strategy: input should be …``), or, for YAML that does not parse, by its line and
column. An editor wants the line: :func:`locate_problems` walks the composed YAML nodes (which
carry their marks) along each path. A path that ends in something the document lacks (a
required field) points at the deepest part that is there: the rep missing ``team`` is the rep's
first line. Pure: text in, lines out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

__all__ = ["LocatedProblem", "locate_problems"]

_AT_LINE = re.compile(r"^line (\d+), column (\d+): (.*)$", re.DOTALL)
_INDEX = re.compile(r"^\[(\d+)\]")


@dataclass(frozen=True)
class LocatedProblem:
    line: int | None  # 1-based; None when the problem is about the document as a whole
    path: str  # "rules[3].strategy", or "" for the document / a YAML syntax error
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.path + ': ' if self.path else ''}{self.message}"


def locate_problems(text: str, problems: Sequence[str]) -> list[LocatedProblem]:
    """Each ``path: message`` problem with the line of ``path`` in ``text``, in the given order."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        root = None
    located = []
    for problem in problems:
        syntax = _AT_LINE.match(problem)
        if syntax:
            located.append(LocatedProblem(int(syntax.group(1)), "", syntax.group(3)))
            continue
        path, _, message = problem.partition(": ")
        if not message:
            path, message = "", problem
        if path == "(document)":
            located.append(LocatedProblem(None, "", message))
            continue
        located.append(LocatedProblem(_line_of(root, path), path, message))
    return located


def _line_of(root: yaml.Node | None, path: str) -> int | None:
    """The 1-based line of the deepest node along ``path`` (a key's line for a mapping entry)."""
    if root is None:
        return None
    node: yaml.Node = root
    line: int | None = None  # the root itself stands for the document: no line
    rest = path
    while rest:
        rest = rest.removeprefix(".")
        index = _INDEX.match(rest)
        if index is not None:
            if not isinstance(node, yaml.SequenceNode) or int(index.group(1)) >= len(node.value):
                break
            node = node.value[int(index.group(1))]
            line = node.start_mark.line + 1
            rest = rest[index.end():]
            continue
        if not isinstance(node, yaml.MappingNode):
            break
        found = _entry(node, rest)
        if found is None:
            break
        key, value, length = found
        node = value
        line = key.start_mark.line + 1
        rest = rest[length:]
    return line


def _entry(mapping: yaml.MappingNode, rest: str) -> tuple[yaml.Node, yaml.Node, int] | None:
    """The entry whose key starts ``rest`` (the longest such key: keys may hold dots, as
    ``attributes.plan`` does), with the key's length."""
    best: tuple[yaml.Node, yaml.Node, int] | None = None
    for key, value in mapping.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        name = key.value
        if rest.startswith(name) and rest[len(name):len(name) + 1] in ("", ".", "[") and (
                best is None or len(name) > best[2]):
            best = (key, value, len(name))
    return best
