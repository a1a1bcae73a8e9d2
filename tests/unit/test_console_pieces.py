"""The console's pure pieces: the browser's language, durations in words, where sign-in may send
a browser back to, a lead's SLA state, and every word a template asks for, in both languages."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from leadrelay.shared.ports import ClockRecord, LeadRecord
from leadrelay.shared.shell.console.i18n import LANGS, MESSAGES, pick_language, register_messages, t
from leadrelay.shared.shell.console.leads import sla_of
from leadrelay.shared.shell.console.render import TEMPLATES_DIR, format_left
from leadrelay.shared.shell.console.session import safe_next

NOW = datetime(2041, 3, 4, 5, 6, tzinfo=UTC)


@pytest.mark.parametrize(("header", "lang"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9,zh;q=0.8", "en"), ("fr-FR,zh-TW;q=0.5", "zh"),
    ("de;q=0.9, en;q=0.1, zh;q=0.5", "zh"), ("", "en"), (None, "en"), ("zh;q=bogus, en", "en"), ("*", "en")])
def test_the_browsers_first_language_we_have(header: str | None, lang: str):
    assert pick_language(header) == lang


@pytest.mark.parametrize(("seconds", "en", "zh"), [
    (30 * 60, "30 min left", "剩余 30分钟"), (-90 * 60, "1 h 30 min overdue", "已超时 1小时30分钟"),
    (26 * 3600, "1 d 2 h left", "剩余 1天2小时"), (20, "0 min left", "剩余 0分钟")])
def test_durations_in_words(seconds: float, en: str, zh: str):
    assert (format_left(seconds, "en"), format_left(seconds, "zh")) == (en, zh)


@pytest.mark.parametrize(("target", "safe"), [
    ("/console/leads/abc", "/console/leads/abc"), ("/console/team?sla=breached", "/console/team?sla=breached"),
    ("//evil.example", "/console/"), ("https://evil.example/console", "/console/"), ("/v1/leads", "/console/"),
    ("/console\\\\evil", "/console/"), (None, "/console/"), ("", "/console/")])
def test_sign_in_sends_back_to_console_pages_only(target: str | None, safe: str):
    assert safe_next(target) == safe


LEAD = LeadRecord(lead_id="l1", person_id=None, source="web", identity_key="k", correlation_id="c",
                  received_at=NOW, contact={}, score=0, grade="cold", reasons=[], duplicate_of=None, state="assigned",
                  owner="rep-a", team="smb", queue=None, policy_version=1, assigned_at=NOW, accepted_at=None,
                  contacted_at=None, closed_at=None, previous_owner=None, recycled_at=None, updated_at=NOW)


def step(clock: str, name: str, due_in: timedelta, state: str = "pending") -> ClockRecord:
    return ClockRecord(timer_id=f"l1:1:{clock}:{name}", lead_id="l1", clock=clock, step=name, owner="rep-a",
                       due_at=NOW + due_in, state=state, fired_at=None)


def test_a_leads_sla_is_its_nearest_running_target():
    clocks = [step("handoff", "escalate", timedelta(hours=24)), step("first_touch", "remind", timedelta(minutes=15)),
              step("first_touch", "escalate", timedelta(minutes=30)), step("recycle", "return_to_pool", timedelta(days=7))]
    sla = sla_of(LEAD, clocks, NOW)
    assert (sla.clock, sla.seconds_left, sla.state) == ("first_touch", 1800, "at_risk")
    assert sla_of(LEAD, clocks, NOW - timedelta(hours=1)).state == "ok"
    assert sla_of(LEAD, clocks, NOW + timedelta(minutes=31)).state == "breached"
    # Accepted: the handoff clock stopped; contacted: first touch too, nothing left to break.
    assert sla_of(replace(LEAD, state="accepted"), clocks, NOW).clock == "first_touch"
    assert sla_of(replace(LEAD, state="contacted"), clocks, NOW).state == "none"
    cancelled = [replace(c, state="cancelled") for c in clocks]
    assert sla_of(LEAD, cancelled, NOW).state == "none"


def test_every_word_a_template_asks_for_is_there_in_both_languages():
    asked = set()
    for template in Path(TEMPLATES_DIR).glob("*.html"):  # the core's pages; ops pages test their own
        asked |= set(re.findall(r"\bt\('([a-z_.]+)'\s*[,)]", template.read_text(encoding="utf-8")))
    assert len(asked) > 50  # the pattern finds the pages' words
    missing = sorted(key for key in asked if key not in MESSAGES)
    assert not missing
    for key, texts in MESSAGES.items():
        assert set(texts) == set(LANGS) and all(texts.values()), key


def test_a_word_defined_twice_or_in_one_language_is_refused():
    with pytest.raises(ValueError, match="twice"):
        register_messages({"nav.home": {"en": "Home", "zh": "首页"}})
    with pytest.raises(ValueError, match="needs exactly"):
        register_messages({"test.only_english": {"en": "Hello"}})
    assert t("zh", "no.such.key") == "no.such.key" and t("fr", "nav.home") == "Home"
