"""The ``when:`` language: what matches, what never raises, and how problems are reported."""

from typing import Any

import pytest

from leadrelay.shared.policy.conditions import Condition, ConditionError, explain, matches

LEAD: dict[str, Any] = {
    "email": "wei.li@acme.cn",
    "email_domain": "acme.cn",
    "source": "Referral",
    "country": "CN",
    "title": "VP of Engineering",
    "employees": 800,
    "grade": "hot",
    "known_owner": "rep-a",
    "consent": True,
    "languages": ["zh", "en"],
    "attributes": {"budget": 50000},
    "attributes.plan": "pro",
}


def test_an_empty_condition_always_matches() -> None:
    assert matches({}, LEAD)
    assert matches({}, {})


def test_equality_ignores_case_and_outer_spaces() -> None:
    assert matches({"source": "referral"}, LEAD)
    assert matches({"source": "  REFERRAL "}, LEAD)
    assert not matches({"source": "web"}, LEAD)


def test_a_list_means_membership() -> None:
    assert matches({"country": ["JP", "CN"]}, LEAD)
    assert not matches({"country": ["JP", "KR"]}, LEAD)


def test_a_list_valued_fact_is_in_a_list_when_any_item_is() -> None:
    assert matches({"languages": ["en"]}, LEAD)
    assert not matches({"languages": ["ja"]}, LEAD)


def test_several_keys_must_all_hold() -> None:
    assert matches({"country": "CN", "grade": "hot"}, LEAD)
    assert not matches({"country": "CN", "grade": "cold"}, LEAD)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ({"employees": {"eq": 800}}, True),
        ({"employees": {"ne": 800}}, False),
        ({"country": {"in": ["CN", "JP"]}}, True),
        ({"country": {"not_in": ["CN", "JP"]}}, False),
        ({"employees": {"gte": 800}}, True),
        ({"employees": {"gt": 800}}, False),
        ({"employees": {"lte": 800}}, True),
        ({"employees": {"lt": 800}}, False),
        ({"employees": {"gte": 500, "lt": 1000}}, True),
        ({"title": {"matches": r"(?i)\bvp\b"}}, True),
        ({"title": {"matches": r"\bvp\b"}}, False),
        ({"title": {"contains": "engineering"}}, True),
        ({"languages": {"contains": "en"}}, True),
        ({"title": {"exists": True}}, True),
        ({"city": {"exists": False}}, True),
        ({"email": {"free_domain": False}}, True),
        ({"email": {"free_domain": True}}, False),
    ],
)
def test_operators(when: dict[str, Any], expected: bool) -> None:
    assert matches(when, LEAD) is expected


@pytest.mark.parametrize("email", ["someone@gmail.com", "someone@qq.com", "someone@163.com", "x@Outlook.com"])
def test_free_mail_providers_are_recognised(email: str) -> None:
    assert matches({"email": {"free_domain": True}}, {"email": email})


@pytest.mark.parametrize(
    "operator",
    [{"eq": 1}, {"ne": 1}, {"in": [1]}, {"not_in": [1]}, {"gte": 1}, {"gt": 1}, {"lte": 1}, {"lt": 1},
     {"matches": "."}, {"contains": "x"}, {"free_domain": True}, {"free_domain": False}],
)  # fmt: skip
def test_a_missing_fact_never_matches_a_comparison(operator: dict[str, Any]) -> None:
    assert not matches({"region": operator}, LEAD)
    assert not matches({"region": operator}, {"region": None})


def test_a_mistyped_fact_does_not_match_and_does_not_raise() -> None:
    odd = {"employees": "lots", "title": {"nested": True}, "country": 86}
    assert not matches({"employees": {"gte": 10}}, odd)
    assert not matches({"title": {"matches": "x"}}, odd)
    assert not matches({"country": "CN"}, odd)


def test_numbers_written_as_text_compare_as_numbers() -> None:
    assert matches({"employees": {"gte": 500}}, {"employees": "1,200"})
    assert matches({"employees": 800}, {"employees": "800"})


def test_a_bare_true_tests_presence_of_a_fact_that_is_not_yes_or_no() -> None:
    assert matches({"known_owner": True}, LEAD)
    assert not matches({"known_owner": True}, {"known_owner": None})
    assert matches({"known_owner": False}, {"known_owner": None})
    assert matches({"known_owner": False}, {})


def test_a_bare_true_on_a_yes_or_no_fact_is_equality() -> None:
    assert matches({"consent": True}, LEAD)
    assert not matches({"consent": False}, LEAD)
    assert not matches({"consent": {"eq": False}}, {"consent": None})


def test_null_means_absent() -> None:
    assert matches({"city": None}, LEAD)
    assert not matches({"country": None}, LEAD)


def test_combinators_nest() -> None:
    when = {"any": [{"source": "web"}, {"all": [{"country": "CN"}, {"not": {"grade": "cold"}}]}]}
    assert matches(when, LEAD)
    assert not matches(when, {**LEAD, "grade": "cold"})
    assert not matches({"not": {"country": "CN"}}, LEAD)
    assert matches({"all": []}, LEAD)
    assert not matches({"any": []}, LEAD)


def test_dotted_fields_reach_into_nested_and_flattened_attributes() -> None:
    assert matches({"attributes.budget": {"gte": 10000}}, LEAD)
    assert matches({"attributes.plan": "pro"}, LEAD)
    assert not matches({"attributes.missing": {"exists": True}}, LEAD)


def test_every_problem_is_reported_with_its_path_inside_the_condition() -> None:
    with pytest.raises(ConditionError) as caught:
        Condition.parse(
            {
                "title": {"matches": "("},
                "employees": {"gte": "many", "between": [1, 2]},
                "country": {"in": "CN"},
                "any": {"source": "web"},
                "all": [{"grade": {"exists": "yes"}}],
            }
        )
    paths = [path for path, _ in caught.value.problems]
    assert paths == ["title.matches", "employees.gte", "employees.between", "country.in", "any", "all[0].grade.exists"]
    assert "bad regex '('" in str(caught.value)
    assert "unknown operator 'between'" in str(caught.value)


def test_a_condition_that_is_not_a_mapping_is_rejected() -> None:
    with pytest.raises(ConditionError, match="must be a mapping"):
        Condition.parse("grade == hot")  # type: ignore[arg-type]


def test_explanation_names_the_facts_that_made_it_match() -> None:
    when = {"grade": "hot", "employees": {"gte": 500}, "country": ["CN", "JP"]}
    assert explain(when, LEAD) == "grade = hot, employees (800) >= 500, country (CN) in [CN, JP]"


def test_explanation_of_any_names_only_the_branch_that_matched() -> None:
    when = {"any": [{"source": "web"}, {"title": {"matches": "(?i)vp"}}]}
    assert explain(when, LEAD) == "title (VP of Engineering) matches /(?i)vp/"


def test_explanation_is_empty_when_nothing_matched_and_always_for_no_conditions() -> None:
    assert explain({"grade": "cold"}, LEAD) == ""
    assert explain({}, LEAD) == "always"


def test_explanation_never_shows_personal_data() -> None:
    text = explain({"email": {"contains": "acme"}, "not": {"phone": "123"}}, LEAD)
    assert "wei.li" not in text
    assert text.startswith("email contains acme")
