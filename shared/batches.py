"""Splitting a batch of events into groups that can commit apart.

Two events belong together when they share anything a transaction holds: a lock row (a rep's
fairness row, a rotation cursor) or a message key (a person's events stay in their order). The
groups are the connected components of that relation; each keeps its events in their order, and
groups come in the order of their first event. Disjoint groups in separate transactions do not
wait for each other, which is what lets replicas over different pools run side by side.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def connected_groups(holds: Sequence[Collection[str]]) -> list[list[int]]:
    """Indices of ``holds`` grouped so that two items sharing any element are in one group."""
    parent = list(range(len(holds)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    first_holder: dict[str, int] = {}
    for index, held in enumerate(holds):
        for thing in held:
            other = first_holder.setdefault(thing, index)
            a, b = root(index), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for index in range(len(holds)):
        groups.setdefault(root(index), []).append(index)
    return sorted(groups.values(), key=lambda group: group[0])
