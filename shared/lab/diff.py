"""What changes between two versions of a policy, in sentences a sales manager reads.

:func:`diff_policies` compares two loaded policies section by section: reps, teams and
managers by id; routing rules by name (added, removed, changed, and the order they are tried
in); scoring rules by name and the grade thresholds; territories and named accounts by key;
and every other setting (time zone, business hours, SLA, fallback, and any section added to
the schema later) field by field. Values are shown as the policy file writes them (``15m``,
``50%``, ``"09:00"``); secrets, webhook addresses and e-mail addresses are never shown, only
that they change.

Pure: two policies in, a list of sentences out (empty when they route alike).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml

from leadrelay.shared.policy import Policy

__all__ = ["diff_policies"]

# Values that must not be printed: they are credentials or personal data.
_HIDDEN = frozenset({"secret", "webhook", "email"})
# Sections compared entity by entity below; everything else is compared field by field.
_BY_ENTITY = ("reps", "teams", "managers", "rules", "scoring", "territories", "accounts")


def diff_policies(old: Policy, new: Policy) -> list[str]:
    """Returns one sentence per change from ``old`` to ``new``, in document order."""
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    lines: list[str] = []
    for section in _ordered_keys(before, after):
        if section in _BY_ENTITY:
            continue
        lines += _field_changes(_SECTION_NAMES.get(section, section), before.get(section), after.get(section))
    lines += _scoring(before["scoring"], after["scoring"])
    lines += _entities("Rep", before["reps"], after["reps"], "id", _describe_rep)
    lines += _entities("Team", before["teams"], after["teams"], "name", _describe_team)
    lines += _entities("Manager", before.get("managers", []), after.get("managers", []), "id", lambda _: "")
    lines += _keyed("Territory", before.get("territories", {}), after.get("territories", {}), _show)
    lines += _accounts(before.get("accounts", {}), after.get("accounts", {}))
    lines += _rules(before["rules"], after["rules"])
    return lines


_SECTION_NAMES = {
    "timezone": "Time zone",
    "business_hours": "Business hours",
    "sla": "SLA",
    "fallback": "Fallback",
    "protection": "Protection period",
    "version": "Format version",
}


# --- entities ----------------------------------------------------------------------------------


def _entities(
    kind: str,
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]],
    key: str,
    describe: Callable[[Mapping[str, Any]], str],
) -> list[str]:
    old = {item[key]: item for item in before}
    new = {item[key]: item for item in after}
    lines = []
    for name, item in new.items():
        if name not in old:
            detail = describe(item)
            lines.append(f"{kind} {name} added{f' ({detail})' if detail else ''}.")
    for name, item in old.items():
        if name not in new:
            detail = describe(item)
            lines.append(f"{kind} {name} removed{f' (was {detail})' if detail else ''}.")
    for name, item in new.items():
        if name in old:
            lines += _field_changes(f"{kind} {name}", old[name], item, skip=(key,))
    return lines


def _describe_rep(rep: Mapping[str, Any]) -> str:
    parts = [f"team {rep['team']}", rep.get("seniority") or "mid"]
    if rep.get("territories"):
        parts.append(f"territories {', '.join(rep['territories'])}")
    return ", ".join(parts)


def _describe_team(team: Mapping[str, Any]) -> str:
    return f"manager {team['manager']}"


def _keyed(kind: str, before: Mapping[str, Any], after: Mapping[str, Any], show: Callable[[Any], str]) -> list[str]:
    lines = []
    for name in after:
        if name not in before:
            lines.append(f"{kind} {name} added: {show(after[name])}.")
    for name in before:
        if name not in after:
            lines.append(f"{kind} {name} removed.")
    for name in after:
        if name in before:
            lines += _field_changes(f"{kind} {name}", before[name], after[name])
    return lines


def _accounts(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Accounts as dumped: ``domain: owner`` (the short form) or ``name: {owner, domains, names}``."""
    def owner(account: Any) -> Any:
        return account.get("owner") if isinstance(account, Mapping) else account

    def rest(account: Any) -> dict[str, Any]:
        return {k: v for k, v in account.items() if k != "owner"} if isinstance(account, Mapping) else {}

    lines = []
    for name, account in after.items():
        if name not in before:
            lines.append(f"Named account {name} added, owned by {owner(account)}.")
            continue
        if owner(before[name]) != owner(account):
            lines.append(f"Named account {name} moves from {owner(before[name])} to {owner(account)}.")
        lines += _field_changes(f"Named account {name}", rest(before[name]), rest(account))
    for name, account in before.items():
        if name not in after:
            lines.append(f"Named account {name} removed (was owned by {owner(account)}).")
    return lines


# --- scoring and rules -------------------------------------------------------------------------


def _scoring(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    lines = []
    old = {rule["name"]: rule for rule in before["rules"]}
    new = {rule["name"]: rule for rule in after["rules"]}
    for name, rule in new.items():
        if name not in old:
            lines.append(f"Scoring rule {name} added: {_points(rule['points'])} when {_when(rule['when'])}.")
    for name, rule in old.items():
        if name not in new:
            lines.append(f"Scoring rule {name} removed (was {_points(rule['points'])} when {_when(rule['when'])}).")
    for name, rule in new.items():
        if name not in old:
            continue
        if old[name]["points"] != rule["points"]:
            lines.append(f"Scoring rule {name}: points change from {_points(old[name]['points'])} "
                         f"to {_points(rule['points'])}.")
        if old[name]["when"] != rule["when"]:
            lines.append(f"Scoring rule {name}: applies when {_when(rule['when'])} "
                         f"instead of {_when(old[name]['when'])}.")
    for grade in ("hot", "warm"):
        was, now = before["grades"][grade], after["grades"][grade]
        if was != now:
            lines.append(f"A lead is {grade} from a score of {now} (was {was}).")
    return lines


def _points(points: int) -> str:
    return f"{points:+d} points"


def _rules(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    old = {rule["name"]: (position, rule) for position, rule in enumerate(before, start=1)}
    new = {rule["name"]: (position, rule) for position, rule in enumerate(after, start=1)}
    for name, (position, rule) in new.items():
        if name not in old:
            lines.append(f"Routing rule {name} added at position {position}: {_describe_rule(rule)}.")
    for name, (position, rule) in old.items():
        if name not in new:
            lines.append(f"Routing rule {name} removed (was at position {position}: {_describe_rule(rule)}).")
    kept_before = [rule["name"] for rule in before if rule["name"] in new]
    kept_after = [rule["name"] for rule in after if rule["name"] in old]
    if kept_before != kept_after:
        lines.append(f"Routing rules are tried in a new order: {', '.join(kept_after)} "
                     f"(was {', '.join(kept_before)}).")
    for name, (_, rule) in new.items():
        if name not in old:
            continue
        was = old[name][1]
        if was["when"] != rule["when"]:
            lines.append(f"Routing rule {name}: applies when {_when(rule['when'])} instead of {_when(was['when'])}.")
        for field in ("strategy", "then", "floor"):
            if was.get(field) != rule.get(field):
                lines.append(f"Routing rule {name}: {field} changes from {_show(was.get(field))} "
                             f"to {_show(rule.get(field))}.")
        if was.get("pool") != rule.get("pool"):
            lines.append(f"Routing rule {name}: picks from {_pool(rule.get('pool'))} "
                         f"instead of {_pool(was.get('pool'))}.")
        if was.get("tiers") != rule.get("tiers"):
            lines.append(f"Routing rule {name}: tiers change from {_show(was.get('tiers'))} "
                         f"to {_show(rule.get('tiers'))}.")
    return lines


def _describe_rule(rule: Mapping[str, Any]) -> str:
    text = f"when {_when(rule['when'])}, {rule['strategy']}"
    if rule["strategy"] != "owner":
        text += f" from {_pool(rule.get('pool'))}"
    return text


def _pool(pool: Mapping[str, Any] | None) -> str:
    chosen = {key: value for key, value in (pool or {}).items() if value not in (None, [], ())}
    if not chosen:
        return "every rep"
    parts = []
    if chosen.get("team"):
        parts.append(f"team {chosen['team']}")
    if chosen.get("reps"):
        parts.append(f"reps {', '.join(chosen['reps'])}")
    if chosen.get("seniority"):
        parts.append(f"seniority {', '.join(chosen['seniority'])}")
    if chosen.get("match"):
        parts.append(f"matching {', '.join(chosen['match'])}")
    return "; ".join(parts)


def _when(source: Mapping[str, Any]) -> str:
    return "always" if not source else _show(dict(source))


# --- fields ------------------------------------------------------------------------------------


def _field_changes(label: str, before: Any, after: Any, skip: Sequence[str] = (), path: str = "") -> list[str]:
    """One sentence per changed leaf under ``label``; nested mappings are followed, lists of
    plain values say what they gain and lose."""
    if before == after:
        return []
    where = f"{label}: {path}" if path else label
    leaf = path.rsplit(".", 1)[-1] if path else label
    if leaf in _HIDDEN:
        return [f"{where} changes."]
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        lines = []
        for key in _ordered_keys(before, after):
            if key in skip:
                continue
            lines += _field_changes(label, before.get(key), after.get(key), path=f"{path}.{key}" if path else key)
        return lines
    if _plain_list(before) and _plain_list(after) and before and after:
        gained = [item for item in after if item not in before]
        lost = [item for item in before if item not in after]
        if gained or lost:
            parts = ([f"gains {', '.join(map(_show, gained))}"] if gained else []) + (
                [f"loses {', '.join(map(_show, lost))}"] if lost else []
            )
            return [f"{where} {'; '.join(parts)}."]
        return [f"{where} changes order: {_show(after)} (was {_show(before)})."]
    return [f"{where} changes from {_show(before)} to {_show(after)}."]


def _plain_list(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(item, Mapping | list) for item in value)


def _ordered_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return list(after) + [key for key in before if key not in after]


def _show(value: Any) -> str:
    """A value as the policy file would write it, on one line."""
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping) and not value:
        return "{}"
    if isinstance(value, list) and not value:
        return "[]"
    if _plain_list(value):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=10_000)
    return text.strip().removesuffix("...").strip()
