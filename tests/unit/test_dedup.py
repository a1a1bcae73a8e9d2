"""Merging leads into people (services.scoring.dedup): pure, so no fixtures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from leadrelay.services.scoring.dedup import MergeResult, PersonRecord, merge_person
from leadrelay.shared.events import LeadContact
from leadrelay.shared.identity import identity_key
from leadrelay.shared.identity import identity_keys as candidate_keys

SALT = "test-salt"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=30)
EARLIER = T0 - timedelta(days=30)

EMAIL_KEY = "e:" + "a" * 32
PHONE_KEY = "p:" + "b" * 32


def known_person(**fields: object) -> PersonRecord:
    base: dict[str, object] = {
        "person_id": "person-1",
        "identity_keys": (EMAIL_KEY,),
        "first_seen_at": T0,
        "last_seen_at": T0,
        "lead_count": 1,
        "last_lead_id": "lead-1",
        "owner": "rep-a",
        "name": "Li Wei",
        "company": "Acme",
        "title": "Engineer",
        "country": "CN",
        "employees": 800,
    }
    return PersonRecord(**{**base, **fields})  # type: ignore[arg-type]


def merge(
    existing: PersonRecord | None,
    lead: LeadContact,
    *,
    lead_id: str = "lead-2",
    keys: tuple[str, ...] = (EMAIL_KEY,),
    at: datetime = LATER,
) -> MergeResult:
    return merge_person(existing, lead, lead_id=lead_id, keys=keys, person_id_if_new="person-new", at=at)


# --- candidate keys ------------------------------------------------------------------------


def test_candidate_keys_include_email_phone_and_external_id_strongest_first() -> None:
    keys = candidate_keys("li.wei@example.com", "+8613800138000", "meta", "m-1", SALT)
    assert [key[:2] for key in keys] == ["e:", "p:", "x:"]
    assert keys[0] == identity_key("li.wei@example.com", "+8613800138000", "meta", "m-1", SALT)


def test_a_second_lead_with_the_same_phone_and_a_new_email_shares_a_key() -> None:
    first = candidate_keys("old@example.com", "+8613800138000", "web", None, SALT)
    second = candidate_keys("new@example.com", "+8613800138000", "web", None, SALT)
    assert first[0] != second[0]
    assert set(first) & set(second) == {first[1]}


# --- merging -------------------------------------------------------------------------------


def test_a_lead_from_an_unknown_person_creates_a_person() -> None:
    lead = LeadContact(email="x@example.com", name=" Li Wei ", company="Acme", city="  ")
    result = merge(None, lead, lead_id="lead-1", keys=(EMAIL_KEY, PHONE_KEY, EMAIL_KEY), at=T0)
    assert result.is_new
    person = result.person
    assert (person.person_id, person.identity_keys) == ("person-new", (EMAIL_KEY, PHONE_KEY))
    assert (person.name, person.company, person.city) == ("Li Wei", "Acme", None)
    assert (person.first_seen_at, person.last_seen_at, person.lead_count) == (T0, T0, 1)
    assert (person.owner, person.last_lead_id) == (None, "lead-1")
    assert result.changed_fields == ("name", "company")


def test_a_new_lead_fills_the_blanks_of_a_known_person() -> None:
    result = merge(known_person(), LeadContact(city="Shanghai", industry="manufacturing"))
    assert not result.is_new
    assert (result.person.city, result.person.industry) == ("Shanghai", "manufacturing")
    assert result.changed_fields == ("city", "industry")


def test_a_known_name_and_country_are_kept_when_a_newer_lead_says_otherwise() -> None:
    result = merge(known_person(), LeadContact(name="Wei", country="US"))
    assert (result.person.name, result.person.country) == ("Li Wei", "CN")
    assert result.changed_fields == ()


def test_a_newer_lead_updates_title_company_and_employees_because_people_change_jobs() -> None:
    result = merge(known_person(), LeadContact(company="Globex", title="CTO", employees=5000))
    assert (result.person.company, result.person.title, result.person.employees) == ("Globex", "CTO", 5000)
    assert result.changed_fields == ("company", "title", "employees")


def test_a_new_employer_without_a_head_count_clears_the_old_head_count() -> None:
    result = merge(known_person(), LeadContact(company="Tiny Startup"))
    assert (result.person.company, result.person.employees) == ("Tiny Startup", None)
    assert result.changed_fields == ("company", "employees")


def test_a_respelt_employer_keeps_its_head_count() -> None:
    result = merge(known_person(company="Acme Inc"), LeadContact(company="ACME  inc"))
    assert (result.person.company, result.person.employees) == ("ACME  inc", 800)


def test_an_older_lead_fills_blanks_but_overwrites_nothing() -> None:
    lead = LeadContact(company="Old Corp", title="Intern", city="Beijing")
    person = merge(known_person(), lead, at=EARLIER).person
    assert (person.company, person.title, person.employees) == ("Acme", "Engineer", 800)
    assert person.city == "Beijing"
    assert (person.first_seen_at, person.last_seen_at) == (EARLIER, T0)


def test_empty_values_never_erase_what_we_know() -> None:
    result = merge(known_person(), LeadContact(name="", company="   ", title=None))
    assert (result.person.name, result.person.company, result.person.title) == ("Li Wei", "Acme", "Engineer")
    assert result.changed_fields == ()


def test_merging_unions_the_keys_and_counts_the_lead_but_keeps_the_owner() -> None:
    result = merge(known_person(), LeadContact(), keys=(PHONE_KEY, EMAIL_KEY))
    person = result.person
    assert person.identity_keys == (EMAIL_KEY, PHONE_KEY)
    assert result.changed_fields == ("identity_keys",)
    assert (person.lead_count, person.last_lead_id, person.last_seen_at) == (2, "lead-2", LATER)
    assert (person.person_id, person.owner, person.first_seen_at) == ("person-1", "rep-a", T0)


def test_a_redelivered_lead_changes_nothing() -> None:
    person = known_person()
    result = merge(person, LeadContact(company="Globex"), lead_id="lead-1")
    assert result.person is person
    assert (result.is_new, result.changed_fields) == (False, ())


def test_a_person_record_does_not_show_the_name_in_its_repr() -> None:
    assert "Li Wei" not in repr(known_person())


leads = st.builds(
    LeadContact,
    name=st.none() | st.sampled_from(["Li Wei", "", "Ann Lee"]),
    company=st.none() | st.sampled_from(["Acme", "acme ", "Globex", " "]),
    title=st.none() | st.sampled_from(["CTO", "Engineer"]),
    city=st.none() | st.sampled_from(["Shanghai", "Berlin"]),
    employees=st.none() | st.integers(1, 100_000),
)
people = st.none() | st.builds(
    known_person,
    company=st.none() | st.sampled_from(["Acme", "Globex"]),
    title=st.none() | st.just("Engineer"),
    employees=st.none() | st.integers(1, 100_000),
    identity_keys=st.sampled_from([(EMAIL_KEY,), (PHONE_KEY,), (EMAIL_KEY, PHONE_KEY)]),
)
keys = st.lists(st.sampled_from([EMAIL_KEY, PHONE_KEY]), min_size=1, max_size=2).map(tuple)
times = st.sampled_from([EARLIER, T0, LATER])


@given(people, leads, keys, times)
def test_merging_the_same_lead_twice_gives_the_same_person(
    existing: PersonRecord | None, lead: LeadContact, lead_keys: tuple[str, ...], at: datetime
) -> None:
    once = merge(existing, lead, keys=lead_keys, at=at)
    twice = merge(once.person, lead, keys=lead_keys, at=at)
    assert twice.person == once.person
    assert twice.changed_fields == ()


@given(people, leads, keys, times)
def test_a_second_lead_with_the_same_details_changes_no_field(
    existing: PersonRecord | None, lead: LeadContact, lead_keys: tuple[str, ...], at: datetime
) -> None:
    once = merge(existing, lead, keys=lead_keys, at=at)
    again = merge(once.person, lead, lead_id="lead-3", keys=lead_keys, at=at)
    assert again.changed_fields == ()
    assert again.person.lead_count == once.person.lead_count + 1


@given(people, leads, keys, times)
def test_merging_never_loses_a_key_or_blanks_a_field_the_lead_leaves_empty(
    existing: PersonRecord | None, lead: LeadContact, lead_keys: tuple[str, ...], at: datetime
) -> None:
    person = merge(existing, lead, keys=lead_keys, at=at).person
    assert set(lead_keys) <= set(person.identity_keys)
    if existing is not None:
        assert set(existing.identity_keys) <= set(person.identity_keys)
        assert len(set(person.identity_keys)) == len(person.identity_keys)
        for name in ("name", "title", "city"):
            assert getattr(existing, name) is None or getattr(person, name) is not None
