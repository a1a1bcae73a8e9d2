"""Fuzzy matching (services.scoring.matching): pure, so no fixtures."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leadrelay.services.scoring.matching import (
    MERGE_AT,
    REVIEW_AT,
    blocking_keys,
    compare,
    normalised_company,
    profile,
)


def test_chinese_characters_and_pinyin_in_either_order_are_one_name() -> None:
    assert profile("王磊", None).name_tokens == profile("Wang Lei", None).name_tokens == profile("Lei Wang", None).name_tokens


def test_legal_forms_are_not_part_of_the_company() -> None:
    assert normalised_company("示例制造有限公司") == normalised_company("示例制造") == "示例制造"
    assert normalised_company("远东贸易股份有限公司") == "远东贸易"
    assert normalised_company("Big Factory Co., Ltd.") == normalised_company("big factory") == "bigfactory"
    assert normalised_company("ACME, Inc.") == normalised_company("Acme GmbH") == "acme"


def test_the_issue_example_merges_on_its_own() -> None:
    match = compare(profile("王磊", "示例制造有限公司"), ("e:gmail",), profile("Wang Lei", "示例制造"), ("p:138",))
    assert match.verdict == "merge" and match.score >= MERGE_AT


def test_a_different_email_or_phone_sends_even_a_perfect_match_to_review() -> None:
    for kind in ("e:", "p:"):
        match = compare(profile("Li Wei", "Big Factory"), (kind + "a",), profile("Wei Li", "Big Factory"), (kind + "b",))
        assert match.verdict == "review"
        assert any(reason.startswith("different") for reason in match.reasons)


def test_homophones_written_differently_are_two_people() -> None:
    assert compare(profile("王磊", "示例制造"), (), profile("汪蕾", "示例制造"), ()).verdict == "apart"


def test_a_name_alone_can_reach_review_never_a_merge() -> None:
    match = compare(profile("Wang Lei", None), (), profile("Lei Wang", "Foo"), ())
    assert match.verdict == "review" and match.score < MERGE_AT


def test_a_city_prefix_on_the_company_is_the_same_company() -> None:
    assert compare(profile("王磊", "上海示例制造有限公司"), (), profile("王磊", "示例制造"), ()).verdict == "merge"


def test_without_names_on_both_sides_nothing_matches_and_nothing_is_indexed() -> None:
    assert compare(profile(None, "Acme"), (), profile("Li Wei", "Acme"), ()).verdict == "apart"
    assert blocking_keys(profile(None, "Acme")) == ()


def test_a_different_person_at_the_same_company_stays_apart() -> None:
    assert compare(profile("Ann Lee", "Acme"), (), profile("Li Wei", "Acme"), ()).verdict == "apart"


def test_the_name_and_company_key_comes_first_and_spells_out_no_name() -> None:
    keys = blocking_keys(profile("王磊", "示例制造有限公司"))
    assert [key.split(":")[0] for key in keys] == ["nc", "n"]
    assert keys == blocking_keys(profile("Lei Wang", "示例制造"))
    assert not any("wang" in key or "王" in key for key in keys)


names = st.text(alphabet="王李张刘陈磊伟娜 abcdefgh", min_size=1, max_size=12)
companies = st.one_of(st.none(), st.text(alphabet="示例制造有限公司 acmeinc.", max_size=16))


@given(names, companies, names, companies)
def test_compare_is_symmetric_and_bounded(name_a, company_a, name_b, company_b) -> None:
    one = compare(profile(name_a, company_a), (), profile(name_b, company_b), ())
    other = compare(profile(name_b, company_b), (), profile(name_a, company_a), ())
    assert 0.0 <= one.score <= 1.0
    assert one.score == other.score and one.verdict == other.verdict
    assert (one.verdict == "merge") == (one.score >= MERGE_AT)
    assert one.verdict != "apart" or one.score < REVIEW_AT or not profile(name_a, None).name_tokens \
        or not profile(name_b, None).name_tokens
