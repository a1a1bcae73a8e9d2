"""Conditions: the ``when:`` clauses of scoring and routing rules.

A condition is parsed once, when the policy loads, so a bad regex or an unknown operator is
reported with its path before any lead is routed. Evaluating it is a pure function of a flat
mapping of lead facts, and it never raises: a missing or mistyped fact simply does not match.

The language, by example::

    {}                                   # always matches
    {source: referral}                   # equality; strings ignore case and outer spaces
    {country: [CN, JP]}                  # membership
    {known_owner: true}                  # a bare true/false on a non-yes/no fact tests presence
    {employees: {gte: 100, lt: 500}}     # operators on one field are ANDed
    {title: {matches: "(?i)\\bvp\\b"}}   # regular expression, searched anywhere in the text
    {email: {free_domain: true}}         # gmail.com, qq.com, 163.com, yahoo.*, ... (shared.identity)
    {any: [{source: referral}, {not: {country: US}}]}

Several keys in one mapping are ANDed. ``all``, ``any`` and ``not`` are the combinators; every
other key names a fact. A dotted key (``attributes.budget``) reaches into a nested mapping when
the facts have no flat key of that name.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from leadrelay.shared.identity import is_free_email_domain

COMBINATORS = ("all", "any", "not")
OPERATORS = ("eq", "ne", "in", "not_in", "gte", "gt", "lte", "lt", "matches", "contains", "exists", "free_domain")

# Personal data never appears in an explanation, which is stored and shown to managers.
PII_FIELDS = frozenset({"email", "phone", "name"})


class ConditionError(ValueError):
    """A ``when:`` clause that cannot be parsed. ``problems`` pairs a path inside the
    condition (``title.matches``) with what is wrong there."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{path}: {msg}" if path else msg for path, msg in problems))


# --- facts -------------------------------------------------------------------------------------


def domain_of(value: Any) -> str | None:
    """The lower-cased domain of an email address (or of a bare domain); None for anything else."""
    if not isinstance(value, str):
        return None
    found = _domains.get(value, _UNSEEN)
    if found is _UNSEEN:
        found = _domain_of(value)
        if len(_domains) >= _DOMAINS_LIMIT:
            _domains.clear()
        _domains[value] = found
    return found  # type: ignore[no-any-return]


def _domain_of(value: str) -> str | None:
    if not value.strip():
        return None
    domain = value.strip().rpartition("@")[2].strip().lower().rstrip(".")
    return domain or None


# One lead's email is looked at by several rules (a scoring rule, a routing rule, the account
# lookup): the answer is remembered for the next few thousand addresses.
_DOMAINS_LIMIT = 4096
_domains: dict[str, str | None] = {}
_UNSEEN: Any = object()


def fact(facts: Mapping[str, Any], field: str) -> Any:
    """Returns the fact named ``field``, following dots into nested mappings; None if absent."""
    if field in facts:
        return facts[field]
    value: Any = facts
    for part in field.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


# --- comparisons -------------------------------------------------------------------------------
# Each comparison takes (fact, operand) with a fact that is not None and answers a bool.
# Mistyped facts answer False rather than raising: one odd lead must not stop the line.


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _text(value: Any) -> str:
    return value.strip().casefold() if isinstance(value, str) else str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = float(value.strip().replace(",", ""))
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def _same(value: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return value is expected
    if isinstance(expected, int | float):
        number = _number(value)
        return number is not None and number == expected
    if isinstance(expected, str) and isinstance(value, str | int | float):
        return _text(value) == _text(expected)
    return bool(value == expected)


def _items(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else (value,)


def _is_in(value: Any, options: Sequence[Any]) -> bool:
    # A list-valued fact (e.g. several languages) is "in" when any of its items is.
    return any(_same(item, option) for item in _items(value) for option in options)


def _ordered(test: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    def compare(value: Any, bound: float) -> bool:
        number = _number(value)
        return number is not None and test(number, bound)

    return compare


def _contains(value: Any, needle: Any) -> bool:
    if isinstance(value, str):
        return _text(needle) in _text(value)
    if isinstance(value, list | tuple):
        return any(_same(item, needle) for item in value)
    return False


def _matches(value: Any, pattern: re.Pattern[str]) -> bool:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    return pattern.search(str(value)) is not None


@lru_cache(maxsize=8192)
def _is_free_domain(domain: str) -> bool:
    # A handful of domains recur across thousands of leads (gmail.com, qq.com, the big accounts),
    # and the free-mail family is a regex: remember the answer per domain.
    return is_free_email_domain(domain)


def _free_domain(value: Any, wanted: bool) -> bool:
    domain = domain_of(value)
    return domain is not None and _is_free_domain(domain) == wanted


COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _same,
    "ne": lambda value, expected: not _same(value, expected),
    "in": _is_in,
    "not_in": lambda value, options: not _is_in(value, options),
    "gte": _ordered(lambda a, b: a >= b),
    "gt": _ordered(lambda a, b: a > b),
    "lte": _ordered(lambda a, b: a <= b),
    "lt": _ordered(lambda a, b: a < b),
    "contains": _contains,
    "matches": _matches,
    "free_domain": _free_domain,
}

_SYMBOLS = {"eq": "=", "ne": "!=", "gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}


# --- the parsed tree ---------------------------------------------------------------------------


Check = Callable[[Mapping[str, Any]], bool]


def _compiled(node: Any, check: Check) -> None:
    """Stores a node's compiled check (a frozen dataclass sets it once, after ``__init__``)."""
    object.__setattr__(node, "_check", check)


@dataclass(frozen=True)
class FieldTest:
    """One test of one fact: ``employees gte 500``.

    The test is compiled into a closure when the node is built (``_check``), so evaluating a
    policy's conditions for every lead costs no operator dispatch and no re-folding of operands;
    :meth:`holds` gives exactly the answers of the plain comparisons in ``COMPARISONS``."""

    field: str
    op: str  # one of OPERATORS, or "flag" for a bare true/false
    operand: Any
    _check: Check = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _compiled(self, _compile_test(self.field, self.op, self.operand))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FieldTest, (self.field, self.op, self.operand))

    def holds(self, facts: Mapping[str, Any]) -> bool:
        return self._check(facts)

    def describe(self, facts: Mapping[str, Any]) -> str:
        value = fact(facts, self.field)
        shown = "" if self.field in PII_FIELDS else f" ({_show(value)})"
        match self.op:
            case "flag" if isinstance(value, bool):
                return f"{self.field} = {_show(value)}"
            case "exists" | "flag":
                return f"{self.field} {'present' if self.operand else 'absent'}"
            case "in" | "not_in":
                return f"{self.field}{shown} {self.op.replace('_', ' ')} {_show(self.operand)}"
            case "matches":
                return f"{self.field}{shown} matches /{self.operand.pattern}/"
            case "contains":
                return f"{self.field}{shown} contains {_show(self.operand)}"
            case "free_domain":
                kind = "a free-mail" if self.operand else "a company"
                return f"{self.field} is {kind} domain ({domain_of(value)})"
            case "eq" if self.field not in PII_FIELDS:
                return f"{self.field} = {_show(value)}"
            case _:
                return f"{self.field}{shown} {_SYMBOLS[self.op]} {_show(self.operand)}"


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Node, ...]
    _check: Check = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _compiled(self, _all_of(tuple(part._check for part in self.parts)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (AllOf, (self.parts,))

    def holds(self, facts: Mapping[str, Any]) -> bool:
        return self._check(facts)


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Node, ...]
    _check: Check = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _compiled(self, _any_of(tuple(part._check for part in self.parts)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (AnyOf, (self.parts,))

    def holds(self, facts: Mapping[str, Any]) -> bool:
        return self._check(facts)


@dataclass(frozen=True)
class Not:
    part: Node
    _check: Check = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        inner = self.part._check
        _compiled(self, lambda facts: not inner(facts))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Not, (self.part,))

    def holds(self, facts: Mapping[str, Any]) -> bool:
        return self._check(facts)


Node = FieldTest | AllOf | AnyOf | Not


# --- compiling ---------------------------------------------------------------------------------
# Each compiled check answers exactly what the plain functions above answer (the unit tests of
# both run over the same cases); only the work that depends on the operand alone is done once.


def _always(facts: Mapping[str, Any]) -> bool:
    return True


def _never(facts: Mapping[str, Any]) -> bool:
    return False


def _all_of(checks: tuple[Check, ...]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]

    def check(facts: Mapping[str, Any]) -> bool:
        for part in checks:
            if not part(facts):
                return False
        return True

    return check


def _any_of(checks: tuple[Check, ...]) -> Check:
    if not checks:
        return _never
    if len(checks) == 1:
        return checks[0]

    def check(facts: Mapping[str, Any]) -> bool:
        for part in checks:
            if part(facts):
                return True
        return False

    return check


def _equals_text(expected: str) -> Callable[[Any], bool]:
    """``_same(value, expected)`` for a text ``expected``."""
    folded = _text(expected)

    def same(value: Any) -> bool:
        if value.__class__ is str:
            return value.strip().casefold() == folded
        if isinstance(value, bool):
            return False
        if isinstance(value, str):
            return value.strip().casefold() == folded
        if isinstance(value, int | float):
            return str(value) == folded
        return bool(value == expected)

    return same


def _in_texts(options: tuple[str, ...]) -> Callable[[Any], bool]:
    """``_is_in(value, options)`` for options that are all text."""
    folded = frozenset(_text(option) for option in options)

    def is_in(value: Any) -> bool:
        if value.__class__ is str:
            return value.strip().casefold() in folded
        for item in value if isinstance(value, list | tuple) else (value,):
            if isinstance(item, bool):
                continue
            if isinstance(item, str):
                if item.strip().casefold() in folded:
                    return True
            elif isinstance(item, int | float):
                if str(item) in folded:
                    return True
            elif any(bool(item == option) for option in options):
                return True
        return False

    return is_in


_ORDER = {"gte": operator.ge, "gt": operator.gt, "lte": operator.le, "lt": operator.lt}


def _ordered_against(test: Callable[[float, float], bool], bound: Any) -> Callable[[Any], bool]:
    """``_ordered(test)(value, bound)``, with whole numbers (the usual fact) taken directly."""

    def compare(value: Any) -> bool:
        if value.__class__ is int:
            return bool(test(float(value), bound))
        number = _number(value)
        return number is not None and bool(test(number, bound))

    return compare


def _contains_text(needle: Any) -> Callable[[Any], bool]:
    folded = _text(needle)

    def contains(value: Any) -> bool:
        if isinstance(value, str):
            return folded in value.strip().casefold()
        if isinstance(value, list | tuple):
            return any(_same(item, needle) for item in value)
        return False

    return contains


def _searches(pattern: re.Pattern[str]) -> Callable[[Any], bool]:
    search = pattern.search

    def matches(value: Any) -> bool:
        if value.__class__ is str:
            return search(value) is not None
        return _matches(value, pattern)

    return matches


def _in_domain_kind(wanted: bool) -> Callable[[Any], bool]:
    def free_domain(value: Any) -> bool:
        domain = domain_of(value)
        return domain is not None and _is_free_domain(domain) == wanted

    return free_domain


def _comparison(op: str, operand: Any) -> Callable[[Any], bool]:
    """The comparison of a present fact with ``operand``, specialised where that pays."""
    texts = isinstance(operand, tuple) and all(isinstance(option, str) for option in operand)
    if op == "eq" and isinstance(operand, str):
        return _equals_text(operand)
    if op == "ne" and isinstance(operand, str):
        same = _equals_text(operand)
        return lambda value: not same(value)
    if op == "in" and texts:
        return _in_texts(operand)
    if op == "not_in" and texts:
        is_in = _in_texts(operand)
        return lambda value: not is_in(value)
    if op in _ORDER:
        return _ordered_against(_ORDER[op], operand)
    if op == "contains":
        return _contains_text(operand)
    if op == "matches":
        return _searches(operand)
    if op == "free_domain":
        return _in_domain_kind(operand)
    compare = COMPARISONS[op]
    return lambda value: compare(value, operand)


def _compile_test(name: str, op: str, operand: Any) -> Check:
    """A closure equivalent to evaluating ``FieldTest(name, op, operand)`` on a lead's facts."""
    if "." in name:

        def lookup(facts: Mapping[str, Any]) -> Any:
            return facts[name] if name in facts else fact(facts, name)

    else:  # a plain name is there or it is not: ``fact`` would find nothing else

        def lookup(facts: Mapping[str, Any]) -> Any:
            return facts.get(name)

    if op == "exists":
        return lambda facts: _present(lookup(facts)) is operand
    if op == "flag":
        # ``known_owner: true`` must work although the fact is a rep id, not a bool.
        def flag(facts: Mapping[str, Any]) -> bool:
            value = lookup(facts)
            return value is operand if isinstance(value, bool) else _present(value) is operand

        return flag
    if op not in COMPARISONS:  # an unknown operator only reaches here inside a failed parse
        return _never
    compare = _comparison(op, operand)
    if "." in name:

        def dotted_test(facts: Mapping[str, Any]) -> bool:
            value = facts[name] if name in facts else fact(facts, name)
            return value is not None and compare(value)

        return dotted_test

    # The commonest cases answer a text or whole-number fact in place (the same answer as
    # ``compare``, one call fewer); anything else goes to ``compare``.
    if op == "eq" and isinstance(operand, str):
        folded = _text(operand)

        def equals_test(facts: Mapping[str, Any]) -> bool:
            value = facts.get(name)
            if value.__class__ is str:
                return value.strip().casefold() == folded  # type: ignore[no-any-return]
            return value is not None and compare(value)

        return equals_test
    if op in _ORDER:
        order = _ORDER[op]

        def ordered_test(facts: Mapping[str, Any]) -> bool:
            value = facts.get(name)
            if value.__class__ is int:
                return bool(order(float(value), operand))
            return value is not None and compare(value)

        return ordered_test
    if op == "matches":
        search = operand.search

        def search_test(facts: Mapping[str, Any]) -> bool:
            value = facts.get(name)
            if value.__class__ is str:
                return search(value) is not None
            return value is not None and compare(value)

        return search_test
    if op == "free_domain":

        def free_domain_test(facts: Mapping[str, Any]) -> bool:
            value = facts.get(name)
            if value.__class__ is str:
                domain = _domains.get(value, _UNSEEN)
                if domain is _UNSEEN:
                    domain = domain_of(value)
                return domain is not None and _is_free_domain(domain) == operand  # type: ignore[no-any-return]
            return value is not None and compare(value)

        return free_domain_test

    def test(facts: Mapping[str, Any]) -> bool:
        value = facts.get(name)
        return value is not None and compare(value)

    return test


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return str(value)


def _reasons(node: Node, facts: Mapping[str, Any]) -> list[str]:
    """The leaf tests that make a matching ``node`` match, in document order."""
    match node:
        case FieldTest():
            return [node.describe(facts)]
        case AllOf(parts):
            return [reason for part in parts for reason in _reasons(part, facts)]
        case AnyOf(parts):
            first = next(part for part in parts if part.holds(facts))
            return _reasons(first, facts)
        case Not(part):
            return [f"not ({_sketch(part)})"]


def _sketch(node: Node) -> str:
    """A fact-free rendering, for the inside of a ``not``."""
    match node:
        case FieldTest(field, op, operand):
            if op in ("exists", "flag"):
                return f"{field} {'present' if operand else 'absent'}"
            shown = f"/{operand.pattern}/" if op == "matches" else _show(operand)
            return f"{field} {_SYMBOLS.get(op, op.replace('_', ' '))} {shown}"
        case AllOf(parts):
            return " and ".join(_sketch(part) for part in parts) or "always"
        case AnyOf(parts):
            return " or ".join(_sketch(part) for part in parts) or "never"
        case Not(part):
            return f"not ({_sketch(part)})"


# --- parsing -----------------------------------------------------------------------------------


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class _Parser:
    """Turns a raw ``when:`` mapping into a tree, collecting every problem on the way."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def mapping(self, raw: Any, path: str) -> Node:
        if raw is None:
            return AllOf(())
        if not isinstance(raw, Mapping):
            self.problem(path, f"a condition must be a mapping, not {_show(raw)!r}")
            return AllOf(())
        parts = [self.entry(str(key), value, _join(path, str(key))) for key, value in raw.items()]
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def entry(self, key: str, value: Any, path: str) -> Node:
        if key in ("all", "any"):
            if not isinstance(value, list):
                self.problem(path, f"'{key}' takes a list of conditions")
                return AllOf(())
            parts = tuple(self.mapping(item, _join(path, i)) for i, item in enumerate(value))
            return AllOf(parts) if key == "all" else AnyOf(parts)
        if key == "not":
            return Not(self.mapping(value, path))
        return self.field(key, value, path)

    def field(self, name: str, value: Any, path: str) -> Node:
        if isinstance(value, bool):
            return FieldTest(name, "flag", value)
        if value is None:
            return FieldTest(name, "exists", False)
        if isinstance(value, list):
            return FieldTest(name, "in", self.scalars(value, path))
        if isinstance(value, Mapping):
            if not value:
                self.problem(path, "an empty operator mapping tests nothing")
            tests = tuple(self.operator(name, str(op), operand, _join(path, str(op))) for op, operand in value.items())
            return tests[0] if len(tests) == 1 else AllOf(tests)
        return FieldTest(name, "eq", self.scalar(value, path))

    def operator(self, name: str, op: str, operand: Any, path: str) -> FieldTest:
        if op not in OPERATORS:
            hint = " (combinators all/any/not go outside the field)" if op in COMBINATORS else ""
            self.problem(path, f"unknown operator '{op}'; use one of {', '.join(OPERATORS)}{hint}")
        elif op in ("in", "not_in"):
            if not isinstance(operand, list):
                self.problem(path, f"'{op}' takes a list")
            else:
                operand = self.scalars(operand, path)
        elif op in ("gte", "gt", "lte", "lt"):
            if _number(operand) is None or isinstance(operand, str):
                self.problem(path, f"'{op}' takes a number, not {_show(operand)!r}")
        elif op in ("exists", "free_domain"):
            if not isinstance(operand, bool):
                self.problem(path, f"'{op}' takes true or false")
        elif op == "matches":
            operand = self.regex(operand, path)
        else:  # eq, ne, contains
            operand = self.scalar(operand, path)
        return FieldTest(name, op, operand)

    def regex(self, operand: Any, path: str) -> re.Pattern[str]:
        if not isinstance(operand, str):
            self.problem(path, "'matches' takes a regular expression string")
            return re.compile("(?!)")
        try:
            return re.compile(operand)
        except re.error as exc:
            self.problem(path, f"bad regex {operand!r}: {exc}")
            return re.compile("(?!)")

    def scalar(self, value: Any, path: str) -> Any:
        if isinstance(value, Mapping | list):
            self.problem(path, f"expected a single value, not {_show(value)!r}")
        return value

    def scalars(self, values: list[Any], path: str) -> tuple[Any, ...]:
        return tuple(self.scalar(item, _join(path, i)) for i, item in enumerate(values))


# --- the public face ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A parsed ``when:`` clause. ``source`` is the mapping as written (for serialising back)."""

    source: Mapping[str, Any]
    root: Node

    def __post_init__(self) -> None:
        # ``matches`` is called for every rule and every lead: the instance answers with the
        # root's compiled check itself rather than through a method that calls it.
        object.__setattr__(self, "matches", self.root._check)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Condition, (self.source, self.root))

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> Condition:
        """Returns the parsed condition; raises ConditionError listing every problem."""
        parser = _Parser()
        root = parser.mapping(raw, "")
        if parser.problems:
            raise ConditionError(parser.problems)
        return cls(source=dict(raw or {}), root=root)

    @classmethod
    def always(cls) -> Condition:
        return cls(source={}, root=AllOf(()))

    def matches(self, facts: Mapping[str, Any]) -> bool:  # replaced per instance by the compiled check
        return self.root._check(facts)

    def explain(self, facts: Mapping[str, Any]) -> str:
        """Why the condition matches these facts (``grade = hot, employees (800) >= 500``);
        ``always`` for an empty condition; ``""`` when it does not match."""
        if not self.matches(facts):
            return ""
        return ", ".join(_reasons(self.root, facts)) or "always"


def matches(when: Mapping[str, Any] | Condition, facts: Mapping[str, Any]) -> bool:
    """Convenience for one-off checks: parses ``when`` if it is raw, then evaluates it."""
    condition = when if isinstance(when, Condition) else Condition.parse(when)
    return condition.matches(facts)


def explain(when: Mapping[str, Any] | Condition, facts: Mapping[str, Any]) -> str:
    condition = when if isinstance(when, Condition) else Condition.parse(when)
    return condition.explain(facts)
