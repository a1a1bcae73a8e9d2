"""shared/batches.py: a batch splits into groups that share nothing, each in its own order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leadrelay.shared.batches import connected_groups


def test_items_sharing_anything_stay_together_in_order():
    holds = [{"rep:a", "key:1"}, {"rep:b"}, {"rep:c", "key:1"}, {"rep:b", "cursor:x"}, {"rep:d"}, {"cursor:x"}]
    assert connected_groups(holds) == [[0, 2], [1, 3, 5], [4]]


def test_a_chain_of_shared_things_joins_its_ends():
    assert connected_groups([{"a"}, {"b"}, {"a", "c"}, {"c", "b"}]) == [[0, 1, 2, 3]]
    assert connected_groups([]) == []
    assert connected_groups([set(), set()]) == [[0], [1]]


@given(st.lists(st.sets(st.sampled_from("abcdefgh"), max_size=3), max_size=30))
def test_groups_partition_the_batch_and_share_nothing(holds):
    groups = connected_groups(holds)
    assert sorted(i for group in groups for i in group) == list(range(len(holds)))
    assert all(group == sorted(group) for group in groups)
    assert [group[0] for group in groups] == sorted(group[0] for group in groups)
    held = [set().union(*(holds[i] for i in group)) for group in groups]
    assert all(not (held[x] & held[y]) for x in range(len(held)) for y in range(x + 1, len(held)))
