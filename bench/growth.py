"""How the per-lead work grows from 1× to 10× reps, rules and known people, each beside its own 1×
measured in the same run.

    python bench/growth.py [--decisions 5000] [--repeat 3] [--known 10000] [--leads 1000] [--factor 10]

Two questions:

1. **Routing decisions per second** (``decide_route``: the decision and its explanation, as the live
   router stores it) for the generated policy of ``routing_decisions.py`` at 50 reps × 5 rules
   (1×), then 10× the reps, 10× the rules, and both. Same demo leads, same roster under load, CPU
   time of this process, best of ``--repeat``. 500 reps × 50 rules is the policy
   ``routing_decisions.py`` measures.
2. **Scoring + dedup per lead with ``--known`` and then 10× as many people already known**, in
   embedded mode (SQLite, WAL, fsynced commits): a fresh store gets the example policy and the
   known people, written in bulk as the rows the scoring consumer writes for a person's first lead
   (``persons``, ``person_keys``, ``person_match_keys``, ``leads``); then ``--leads`` new
   ``LeadReceived`` events go through the scoring consumer's real path
   (``ConsumerRunner.process_batch``, 100 events a transaction as a poll delivers them): exact
   identity match, blocking-key candidates, fuzzy ``compare``, merge or review pair, scoring, the
   lead, its history and its outgoing event. The new leads are the same in both runs: a fifth
   come back with a known email, a fifth are a known person under another spelling and a phone
   (fuzzy match), the rest are new people whose names the known people share as namesakes do.
   Wall time (the commits' fsyncs included), after ``--warmup`` unmeasured leads.

Each figure's floor is its 1× in the same run: the ratio is how much of the 1× rate is left at
10× (1.0 = it does not grow with the size at all).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dedup_quality import chinese_name, pinyin  # noqa: E402
from bench.figures import figure  # noqa: E402
from bench.routing_decisions import best, big_policy, prepared, routed_facts  # noqa: E402
from leadrelay.services.router.routing import RepLoad, RosterState, RoutingLead, decide_route  # noqa: E402
from leadrelay.services.scoring.dedup import PersonRecord, merge_person  # noqa: E402
from leadrelay.services.scoring.handler import person_data  # noqa: E402
from leadrelay.services.scoring.matching import CANDIDATES_PER_KEY, MatchProfile, blocking_keys, profile  # noqa: E402
from leadrelay.shared.adapters.sql import schema as t  # noqa: E402
from leadrelay.shared.events import Envelope, LeadContact, LeadReceived  # noqa: E402
from leadrelay.shared.identity import identity_keys  # noqa: E402
from leadrelay.shared.ports import Delivery  # noqa: E402
from leadrelay.shared.settings import Settings  # noqa: E402
from leadrelay.shared.shell.bootstrap import build_runtime, consumer_specs, prepare_embedded  # noqa: E402
from leadrelay.shared.shell.cli.common import run_async  # noqa: E402
from leadrelay.shared.shell.consumer import ConsumerRunner  # noqa: E402

SOURCE = "demo"  # the source prepare_embedded creates
POLL = 100  # events a poll hands the consumer: one transaction
INSERT_CHUNK = 5000  # rows per executemany while seeding


# -- 1. decisions per second, reps and rules 1× → 10× --------------------------------------------

def decisions_per_second(reps: int, rules: int, base: list[Any], repeat: int) -> tuple[float, float]:
    """``decide_route`` over ``base`` for the generated policy, the roster under load as
    ``routing_decisions.py`` sets it: decisions per CPU second (best of ``repeat``), and the reps
    a decision's explanation weighs on average (its candidates: what grows with the pool)."""
    policy = big_policy(reps=reps, rules=rules)
    facts = routed_facts(base, policy)
    rnd = random.Random(5)
    loads = {rep.id: RepLoad(open=rnd.randrange(0, 40), assigned_today=rnd.randrange(0, 12)) for rep in policy.reps}
    roster = RosterState(loads=loads, cursors={}, credits={})
    moments = [lead.received_at for lead in base]

    def run(sample: list[dict[str, Any]]) -> None:
        for fact, now in zip(sample, moments, strict=False):
            decide_route(RoutingLead("bench", fact), policy, roster, now)

    run(facts[:200])  # warm the per-policy memo tables
    rate = len(facts) / best(repeat, lambda: run(facts))
    weighed = sum(len(decide_route(RoutingLead("bench", fact), policy, roster, now).candidates)
                  for fact, now in zip(facts, moments, strict=False))
    return rate, weighed / len(facts)


# -- 2. known people 1× → 10× ----------------------------------------------------------------------

# Companies: a fixed market of 60 × 50 firms (with and without their legal form), so ten times the
# people means ten times the colleagues and namesakes at each, as a growing database has.
FIRST = ["东方", "华夏", "长城", "金桥", "星河", "蓝海", "远航", "恒信", "瑞丰", "天成", "鼎盛", "宏达",
         "新世纪", "中科", "银河", "北辰", "南山", "西湖", "嘉禾", "百川", "万通", "永泰", "国泰", "信达",
         "安和", "明珠", "凯旋", "锦程", "汇丰", "盛世", "Acme", "Nordic", "Sunrise", "Pacific", "Atlas",
         "Vertex", "Summit", "Orion", "Harbor", "Crown", "Delta", "Apex", "Zenith", "Falcon", "Granite",
         "Maple", "Silver", "Golden", "Eastern", "Western", "Northern", "Southern", "Bright", "Blue", "Red",
         "Green", "Prime", "Union", "Global", "First"]
SECOND = ["制造", "贸易", "电气", "物流", "科技", "软件", "建材", "医药", "机械", "化工", "电子", "能源",
          "食品", "纺织", "汽车", "航运", "信息", "材料", "设备", "环保", "传媒", "教育", "咨询", "地产",
          "Robotics", "Tools", "Foods", "Logistics", "Systems", "Software", "Energy", "Motors", "Labs",
          "Devices", "Chemicals", "Textiles", "Media", "Capital", "Health", "Networks", "Metals", "Plastics",
          "Optics", "Controls", "Engineering", "Trading", "Pharma", "Solar", "Marine", "Data"]
FORMS_ZH = ["", "有限公司", "股份有限公司"]
FORMS_EN = ["", " Co., Ltd.", " Inc.", " Ltd"]
PERSON_COLUMNS = {"person_id", "owner", "lead_count", "first_seen_at", "last_seen_at", "identity_keys"}
EXTRA_KNOWN_IDS = 10_000_000  # index of the first new lead's person: never one of the known


@dataclass(frozen=True)
class Someone:
    index: int
    name: str
    stem: str
    company: str
    email: str
    phone: str | None
    industry: str
    country: str


def someone(index: int) -> Someone:
    """Person ``index``, the same every time: known people and new leads are drawn alike."""
    rng = random.Random(index * 7919 + 17)
    stem = rng.choice(FIRST) + rng.choice(SECOND)
    company = stem + rng.choice(FORMS_EN if stem.isascii() else FORMS_ZH)
    name = chinese_name(rng)
    domain = rng.choice(["gmail.com", "qq.com", "163.com"]) if rng.random() < 0.3 else f"c{index % 3000}.example.cn"
    phone = f"+86138{index % 100_000_000:08d}" if rng.random() < 0.5 else None
    return Someone(index=index, name=name, stem=stem, company=company, email=f"p{index}@{domain}", phone=phone,
                   industry=rng.choice(["manufacturing", "software", "retail", "finance", "energy"]),
                   country="CN")


@functools.cache
def _name_profile(name: str) -> MatchProfile:
    return profile(name, None)


@functools.cache
def _company(company: str) -> str:
    return profile(None, company).company


def fast_profile(name: str, company: str) -> MatchProfile:
    """``profile(name, company)``, its two halves remembered: seeding 100,000 people would
    otherwise spend most of its time romanising the same few thousand names and companies."""
    return dataclasses.replace(_name_profile(name), company=_company(company))


def fast_person_data(person: PersonRecord) -> dict[str, Any]:
    """``person_data(person)`` without ``dataclasses.asdict``'s deep copy (every value is flat)."""
    return {field.name: getattr(person, field.name) for field in dataclasses.fields(person)
            if field.name not in PERSON_COLUMNS}


def known_rows(count: int, salt: str, now: datetime, owners: list[str],
               policy_version: int) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """The rows the scoring consumer writes for each of ``count`` people's first lead, a chunk at a
    time: their person (built by the real ``merge_person``), identity keys, blocking keys, lead."""
    chunk: dict[str, list[dict[str, Any]]] = {"persons": [], "person_keys": [], "person_match_keys": [], "leads": []}
    for index in range(count):
        who = someone(index)
        lead_id, person_id = f"known-lead-{index}", f"known-{index}"
        contact = LeadContact(email=who.email, phone=who.phone, name=who.name, company=who.company,
                              industry=who.industry, country=who.country)
        keys = identity_keys(who.email, who.phone, SOURCE, lead_id, salt)
        at = now - timedelta(days=365) + timedelta(seconds=index * 31_536_000 // max(count, 1))
        person = merge_person(None, contact, lead_id=lead_id, keys=keys, person_id_if_new=person_id, at=at).person
        data = fast_person_data(person)
        if index == 0:
            assert data == person_data(person) and fast_profile(who.name, who.company) == profile(who.name, who.company)
        chunk["persons"].append({"person_id": person_id, "data": data,
                                 "owner": owners[index % len(owners)] if index % 3 == 0 else None,
                                 "lead_count": 1, "first_seen_at": at, "last_seen_at": at})
        chunk["person_keys"] += [{"identity_key": key, "person_id": person_id} for key in keys]
        chunk["person_match_keys"] += [{"match_key": key, "person_id": person_id, "seen_at": at}
                                       for key in blocking_keys(fast_profile(who.name, who.company))]
        chunk["leads"].append({"lead_id": lead_id, "person_id": person_id, "source": SOURCE, "identity_key": keys[0],
                               "correlation_id": lead_id, "received_at": at,
                               "contact": contact.model_dump(mode="json"), "score": 0, "grade": "cold",
                               "reasons": [], "duplicate_of": None, "state": "qualified", "policy_version": policy_version,
                               "updated_at": at})
        if len(chunk["persons"]) == INSERT_CHUNK or index == count - 1:
            yield chunk
            chunk = {name: [] for name in chunk}


def new_lead(j: int, known: int, salt: str, at: datetime) -> Delivery:
    """New lead ``j`` as intake publishes it: a fifth a known person's email again, a fifth a known
    person under another spelling with a phone only, the rest someone new. Known people are drawn
    from the first ``known`` (the 1× size), so both runs get the very same leads."""
    rng = random.Random(1_000_003 * j + 5)
    kind = j % 5
    if kind == 0:
        who = someone(rng.randrange(known))
        contact = LeadContact(email=who.email, name=who.name, company=who.company, industry=who.industry,
                              country=who.country)
    elif kind == 1:
        who = someone(rng.randrange(known))
        company = who.stem + rng.choice(FORMS_EN if who.stem.isascii() else FORMS_ZH)
        contact = LeadContact(phone=f"+86139{j:08d}", name=pinyin(who.name, rng) if rng.random() < 0.5 else who.name,
                              company=company, industry=who.industry, country=who.country)
    else:
        who = someone(EXTRA_KNOWN_IDS + j)
        contact = LeadContact(email=who.email, phone=who.phone, name=who.name, company=who.company,
                              industry=who.industry, country=who.country)
    lead_id = f"new-lead-{j}"
    keys = identity_keys(contact.email, contact.phone, SOURCE, lead_id, salt)
    event = LeadReceived(lead_id=lead_id, source=SOURCE, received_at=at + timedelta(milliseconds=j),
                         contact=contact, identity_keys=list(keys))
    envelope = Envelope.wrap(event, source=f"leadrelay/intake/{SOURCE}", subject=lead_id, key=keys[0],
                             correlation_id=lead_id, time=at)
    return Delivery(topic=LeadReceived.topic, key=keys[0], payload=envelope.to_bytes(), partition=0, offset=j)


@dataclass(frozen=True)
class ScoringRun:
    known: int
    seed_seconds: float
    leads: int
    wall: float
    cpu: float
    outcome: dict[str, int]
    candidates: float  # known people fuzzy matching compares, per lead no identity key found

    @property
    def rate(self) -> float:
        return self.leads / self.wall


async def fuzzy_candidates(runtime: Any, deliveries: list[Delivery]) -> float:
    """How many known people the scoring consumer will compare each lead with (read with its own
    repository before the leads are scored), averaged over the leads it looks for by name: the
    work that grows with the number of people known, up to ``CANDIDATES_PER_KEY`` per key."""
    counts = []
    async with runtime.store.read() as uow:
        for delivery in deliveries:
            lead = Envelope.from_bytes(delivery.payload).payload()
            assert isinstance(lead, LeadReceived)
            if await uow.people.ids_for_keys(lead.identity_keys):
                continue  # found by its email: no fuzzy matching
            keys = blocking_keys(profile(lead.contact.name, lead.contact.company))
            counts.append(len(await uow.matches.candidates(keys, CANDIDATES_PER_KEY)))
    return sum(counts) / max(1, len(counts))


async def scoring_with_known(known: int, base_known: int, leads: int, warmup: int, data_dir: Path) -> ScoringRun:
    runtime = build_runtime(Settings(mode="embedded", data_dir=data_dir))
    try:
        await prepare_embedded(runtime, None)
        salt = runtime.settings.identity_salt
        now = runtime.clock()
        async with runtime.store.read() as uow:
            current = await uow.policies.current()
        assert current is not None
        owners = [rep.id for rep in current[1].reps]
        started = time.perf_counter()
        for chunk in known_rows(known, salt, now, owners, current[0]):
            async with runtime.store.engine.begin() as conn:
                for table, rows in chunk.items():
                    await conn.execute(insert(getattr(t, table)), rows)
        seed_seconds = time.perf_counter() - started
        runner = ConsumerRunner(consumer_specs(runtime, lambda: None)["scoring"], runtime.bus, runtime.store,
                                runtime.metrics)
        deliveries = [new_lead(j, base_known, salt, now) for j in range(warmup + leads)]
        candidates = await fuzzy_candidates(runtime, deliveries[warmup:])
        for first in range(0, warmup, POLL):
            await runner.process_batch(deliveries[first:min(first + POLL, warmup)])
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        for first in range(warmup, warmup + leads, POLL):
            await runner.process_batch(deliveries[first:min(first + POLL, warmup + leads)])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        async with runtime.store.read() as uow:
            conn = uow.tx.conn

            async def count(query: Any) -> int:
                return int((await conn.execute(query)).scalar_one())

            outcome = {  # over every new lead, the unmeasured first ones included
                "new leads scored": await count(select(func.count()).select_from(t.leads)
                                                .where(t.leads.c.lead_id.like("new-lead-%"))),
                "returning (same person)": await count(select(func.count()).select_from(t.leads).where(
                    t.leads.c.lead_id.like("new-lead-%"), t.leads.c.duplicate_of.is_not(None))),
                "fuzzy merges": await count(select(func.count()).select_from(t.person_merges)),
                "pairs for review": await count(select(func.count()).select_from(t.duplicate_pairs)),
            }
        return ScoringRun(known, seed_seconds, leads, wall, cpu, outcome, candidates)
    finally:
        await runtime.store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=5000, help="demo leads decided per policy")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each decisions measurement (best is shown)")
    parser.add_argument("--reps", type=int, default=50, help="reps at 1×")
    parser.add_argument("--rules", type=int, default=5, help="rules at 1× (at least 3: two owner rules and a catch-all)")
    parser.add_argument("--known", type=int, default=10_000, help="people already known at 1×")
    parser.add_argument("--leads", type=int, default=1000, help="new leads scored per size (measured)")
    parser.add_argument("--warmup", type=int, default=100, help="new leads scored first, not measured")
    parser.add_argument("--factor", type=int, default=10, help="the growth: 10 for 1× → 10×")
    args = parser.parse_args()
    grown = f"{args.factor}×"

    print(f"Python {sys.version.split()[0]}")
    base = prepared(args.decisions, seed=42)
    print(f"\n1. decisions/s with the explanation (decide_route), {len(base):,} demo leads, roster under load, "
          f"CPU time, best of {args.repeat}")
    shapes = [(args.reps, args.rules, "1×"), (args.reps * args.factor, args.rules, f"{grown} reps"),
              (args.reps, args.rules * args.factor, f"{grown} rules"),
              (args.reps * args.factor, args.rules * args.factor, f"{grown} reps and {grown} rules")]
    base_rate = 0.0
    for reps, rules, label in shapes:
        rate, weighed = decisions_per_second(reps, rules, base, args.repeat)
        base_rate = base_rate or rate
        print(f"  {label if base_rate != rate else '1× (base)':<26} {reps:>5} reps × {rules:>3} rules  {1e6 / rate:8.1f} µs/decision  "
              f"{rate:>9,.0f} decisions/s  {rate / base_rate:6.3f} of 1×  {weighed:6.1f} reps weighed")
        figure(f"decisions/s with the explanation, {reps} reps × {rules} rules ({label})", rate, "decisions/s",
               floor_name="1× (base)", floor=base_rate)

    print(f"\n2. scoring + dedup, embedded (SQLite), {args.leads:,} new leads through the scoring consumer "
          f"({POLL} a transaction) after {args.warmup} unmeasured")
    runs = []
    for known in (args.known, args.known * args.factor):
        with tempfile.TemporaryDirectory(prefix="leadrelay-growth-") as data_dir:
            run = run_async(scoring_with_known(known, args.known, args.leads, args.warmup, Path(data_dir)))
        runs.append(run)
        label = "1×" if known == args.known else grown
        print(f"  {known:>9,} known people ({label}): seeded in {run.seed_seconds:.1f} s; "
              f"{1e3 * run.wall / run.leads:6.2f} ms/lead wall ({1e3 * run.cpu / run.leads:.2f} ms CPU)  "
              f"{run.rate:8,.0f} leads/s  {run.rate / runs[0].rate:6.3f} of 1×")
        print("      " + ", ".join(f"{name} {value:,}" for name, value in run.outcome.items())
              + f"; known people compared per lead looked up by name: {run.candidates:.1f}")
        figure(f"scoring + dedup leads/s, {known:,} known people ({label})", run.rate, "leads/s",
               floor_name="1× (base)", floor=runs[0].rate)


if __name__ == "__main__":
    main()
