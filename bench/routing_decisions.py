"""Routing decisions per second, and how long a million-lead policy simulation takes, beside
floors measured in the same run.

    python bench/routing_decisions.py [--leads 1000000] [--decisions 20000] [--base 100000]

Two questions:

1. **Decisions per second** for a big policy built in code: 50 rules and 500 reps (10 teams,
   20 territories, every strategy), over demo leads with a roster under load. Measured for
   ``route_lead`` (the decision: what the simulator and a caller applying it need) and for
   ``decide_route`` (the decision and its whole explanation, as the live router stores it).
2. **A simulation of ``--leads`` leads** through the bundled example policy: scoring, routing,
   and the roster moving as it does live (cursors, loads, daily caps, closings), with the
   report's tallies. The leads are ``--base`` distinct demo leads (validated as intake would)
   replayed in cycles, each cycle later in time than the last and with its own people, so no
   lead of one cycle is a returning person of another.

The floors, on the same leads in the same run:

- ``floor: facts copy`` — a plain Python loop that copies each lead's facts and adds the four
  facts scoring and routing add: the least per-lead work a replay can do;
- ``floor: bare score_lead`` — scoring alone (the policy's scoring rules over each lead).

Timings are CPU seconds of this process (``time.process_time``), best of ``--repeat`` runs for
the short measurements; the machine's other load still shows, so run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import figure  # noqa: E402
from leadrelay.services.intake.validation import parse_lead, to_contact  # noqa: E402
from leadrelay.services.router.routing import RepLoad, RosterState, RoutingLead, decide_route, route_lead  # noqa: E402
from leadrelay.services.scoring.scoring import score_lead  # noqa: E402
from leadrelay.shared.lab.demo_leads import generate_leads  # noqa: E402
from leadrelay.shared.lab.simulation import SimLead, simulate  # noqa: E402
from leadrelay.shared.policy import Policy, load_policy, policy_from_dict  # noqa: E402
from leadrelay.shared.policy.facts import lead_facts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
INDUSTRIES = ["manufacturing", "software", "retail", "finance", "education", "automotive", "energy", "healthcare",
              "logistics"]
REGIONS = {
    "CN": ["Shanghai", "Jiangsu", "Zhejiang", "Beijing", "Tianjin", "Guangdong", "Sichuan", "Hubei", "Shandong",
           "Fujian", "Shaanxi"],
    "US": ["California", "New York", "Texas", "Washington", "Illinois", "Massachusetts"],
    "JP": ["Tokyo", "Osaka", "Aichi", "Fukuoka"],
}
ZONES = ["Asia/Shanghai", "Asia/Tokyo", "Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles"]


def big_policy(reps: int = 500, rules: int = 50, seed: int = 1) -> Policy:
    """A policy as a large sales organisation might write it: ``reps`` reps in 10 teams over
    20 territories, ``rules`` rules using every strategy, a catch-all last; the example
    policy's scoring rules."""
    rnd = random.Random(seed)
    territories: dict[str, Any] = {}
    for country, regions in REGIONS.items():
        for index in range(0, len(regions), 2):
            territories[f"{country.lower()}-{index // 2}"] = {"countries": [country], "regions": regions[index:index + 2]}
    for country in ("DE", "GB", "SG", "FR", "KR", "AU", "IN", "BR"):
        territories[country.lower()] = {"countries": [country]}
    names = sorted(territories)
    teams = [{"name": f"team-{t}", "manager": f"mgr-{t}", "fallback_queue": f"pool-{t}"} for t in range(10)]
    people = []
    for index in range(reps):
        zone = rnd.choice(ZONES)
        person: dict[str, Any] = {
            "id": f"rep-{index:03d}",
            "team": f"team-{index % 10}",
            "territories": rnd.sample(names, rnd.randint(1, 3)),
            "industries": ["*"] if rnd.random() < 0.2 else rnd.sample(INDUSTRIES, rnd.randint(1, 3)),
            "languages": rnd.choice([["zh", "en"], ["en"], ["ja", "en"], ["de", "en"], ["zh"]]),
            "seniority": rnd.choice(["junior", "mid", "mid", "senior", "principal"]),
            "capacity": {"open": rnd.choice([30, 40, 60, 200]), "per_day": rnd.choice([10, 15, 40, 100])},
            "weight": rnd.randint(1, 4),
            "timezone": zone,
            "backup": f"rep-{(index + 10) % reps:03d}",
        }
        if rnd.random() < 0.5:
            person["working_hours"] = rnd.choice([
                {"days": ["mon-fri"], "start": "09:00", "end": "18:00"},
                {"days": ["mon-sat"], "start": "08:00", "end": "20:00"},
                {"days": ["mon-sun"], "start": "00:00", "end": "24:00"},
                {"days": ["mon-fri"], "start": "22:00", "end": "06:00"},
            ])
        if rnd.random() < 0.03:
            person["paused"] = True
        people.append(person)
    strategies = ["round_robin", "least_loaded", "weighted_round_robin", "performance_weighted", "territory",
                  "industry", "value_tier"]
    routing: list[dict[str, Any]] = [
        {"name": "returning-person", "when": {"known_owner": True}, "strategy": "owner"},
        {"name": "named-account", "when": {"email": {"free_domain": False}}, "strategy": "owner"},
    ]
    for index in range(rules - 3):
        strategy = strategies[index % len(strategies)]
        when: dict[str, Any] = {"industry": INDUSTRIES[index % len(INDUSTRIES)]}
        if index % 3 == 0:
            when["grade"] = ["hot", "warm"][index % 2]
        if index % 4 == 1:
            when["employees"] = {"gte": [50, 200, 1000][index % 3]}
        if index % 5 == 2:
            when["country"] = list(REGIONS)[index % 3]
        rule: dict[str, Any] = {"name": f"rule-{index:02d}", "when": when, "strategy": strategy,
                                "pool": {"team": f"team-{index % 10}"}}
        if strategy in ("round_robin", "least_loaded", "weighted_round_robin"):
            rule["pool"]["match"] = ["territory"] if index % 2 else ["territory", "language"]
        if strategy == "value_tier":
            rule["tiers"] = {"hot": ["senior", "principal"], "warm": ["mid", "senior"], "cold": ["junior", "mid"]}
        routing.append(rule)
    routing.append({"name": "catch-all", "strategy": "round_robin", "pool": {"match": ["territory"]}})
    accounts = {f"account{index}-example.com": f"rep-{index * 7 % reps:03d}" for index in range(50)}
    example = load_policy((ROOT / "shared" / "example_policy.yaml").read_text(encoding="utf-8"))
    return policy_from_dict({
        "timezone": "Asia/Shanghai",
        "scoring": example.scoring.model_dump(mode="json"),  # the example's six scoring rules
        "business_hours": {"days": ["mon-fri"], "start": "09:00", "end": "18:00", "holidays": "CN"},
        "territories": territories,
        "teams": teams,
        "reps": people,
        "accounts": accounts,
        "rules": routing,
        "fallback": {"queue": "unassigned", "notify": ["mgr-0"]},
    })


def prepared(count: int, seed: int) -> list[SimLead]:
    """Demo leads validated and normalised as intake does, as simulation leads (times in UTC)."""
    leads = []
    for record in generate_leads(count, seed):
        body = {key: value for key, value in record.items() if key not in ("source", "received_at")}
        contact = to_contact(parse_lead(body))
        leads.append(SimLead(facts=lead_facts(contact, record["source"]), source=record["source"],
                             received_at=datetime.fromisoformat(record["received_at"]).astimezone(UTC),
                             person=contact.email or contact.phone))
    return leads


def cycles(base: list[SimLead], total: int) -> Iterator[SimLead]:
    """``total`` leads: ``base`` again and again, each cycle later than the last, new people."""
    assert base[0].received_at is not None and base[-1].received_at is not None
    span = base[-1].received_at - base[0].received_at + timedelta(days=7)
    for index in range(total):
        cycle, lead = divmod(index, len(base))
        original = base[lead]
        if cycle == 0:
            yield original
            continue
        assert original.received_at is not None
        yield SimLead(facts=original.facts, source=original.source, received_at=original.received_at + cycle * span,
                      person=f"{original.person}#{cycle}")


def best(repeat: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return min(times)


def facts_floor(leads: list[SimLead]) -> None:
    for lead in leads:
        facts = dict(lead.facts)
        facts["returning"] = False
        facts["known_owner"] = None
        facts["score"] = 0
        facts["grade"] = "cold"


def routed_facts(leads: list[SimLead], policy: Policy) -> list[dict[str, Any]]:
    rnd = random.Random(3)
    reps = [rep.id for rep in policy.reps]
    facts_list = []
    for lead in leads:
        facts = {**lead.facts, "returning": False, "known_owner": rnd.choice(reps) if rnd.random() < 0.05 else None}
        scored = score_lead(facts, policy.scoring)
        facts.update(score=scored.score, grade=scored.grade)
        facts_list.append(facts)
    return facts_list


def line(label: str, seconds: float, count: int, unit: str = "leads") -> float:
    rate = count / seconds if seconds else float("inf")
    print(f"  {label:<44} {seconds * 1e6 / count:8.1f} µs/{unit[:-1]}  {rate:>12,.0f} {unit}/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads in the simulation (default 1,000,000)")
    parser.add_argument("--base", type=int, default=100_000, help="distinct demo leads replayed in cycles")
    parser.add_argument("--decisions", type=int, default=20_000, help="leads for the decisions/s measurement")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each short measurement (best is shown)")
    args = parser.parse_args()

    print(f"Python {sys.version.split()[0]}; CPU time of this process, best of {args.repeat}")
    started = time.perf_counter()
    base = prepared(min(args.base, args.leads), seed=42)
    print(f"setup: {len(base):,} demo leads generated and validated as intake does in "
          f"{time.perf_counter() - started:.1f} s ({(time.perf_counter() - started) / len(base) * 1e6:.0f} µs/lead)")
    gc.collect()
    gc.freeze()  # the prepared leads live for the whole run: keep the collector off them

    # --- 1. decisions per second, 50 rules x 500 reps --------------------------------------------
    policy = big_policy()
    sample = base[: args.decisions]
    facts = routed_facts(sample, policy)
    rnd = random.Random(5)
    loads = {rep.id: RepLoad(open=rnd.randrange(0, 40), assigned_today=rnd.randrange(0, 12)) for rep in policy.reps}
    roster = RosterState(loads=loads, cursors={}, credits={})
    moments = [lead.received_at for lead in sample]

    def decisions(decide: Callable[..., Any]) -> Callable[[], None]:
        def run() -> None:
            for fact, now in zip(facts, moments, strict=True):
                decide(RoutingLead("bench", fact), policy, roster, now)
        return run

    for fact, now in zip(facts[:200], moments, strict=False):  # warm the per-policy memo tables
        route_lead(RoutingLead("bench", fact), policy, roster, now)
    count = len(sample)
    print(f"\n1. decisions: {len(policy.rules)} rules, {len(policy.reps)} reps, {count:,} demo leads, roster under load")
    line("floor: facts copy (plain loop)", best(args.repeat, lambda: facts_floor(sample)), count)
    score_floor = line("floor: bare score_lead (scoring only)",
                       best(args.repeat, lambda: [score_lead(fact, policy.scoring) for fact in facts]), count)
    bare = line("route_lead (the decision)", best(args.repeat, decisions(route_lead)), count, "decisions")
    explained = line("decide_route (decision + explanation)", best(args.repeat, decisions(decide_route)), count,
                     "decisions")
    figure(f"decisions/s, {len(policy.rules)} rules × {len(policy.reps)} reps", bare, "decisions/s",
           floor_name="score_lead alone/s", floor=score_floor)
    figure("decisions/s with the explanation", explained, "decisions/s", floor_name="score_lead alone/s",
           floor=score_floor)

    # --- 2. a simulation of --leads leads through the example policy -----------------------------
    example = load_policy((ROOT / "shared" / "example_policy.yaml").read_text(encoding="utf-8"))
    total = args.leads
    print(f"\n2. simulation: the example policy ({len(example.rules)} rules, {len(example.reps)} reps), "
          f"{total:,} leads ({len(base):,} distinct, replayed in cycles)")
    floor = best(1, lambda: facts_floor(list(cycles(base, total))))
    producing = best(1, lambda: sum(1 for _ in cycles(base, total)))
    scoring = best(1, lambda: [score_lead(lead.facts, example.scoring) for lead in cycles(base, total)])
    line("floor: producing the leads (the cycle generator)", producing, total)
    line("floor: facts copy (plain loop)", floor, total)
    line("floor: bare score_lead (scoring only)", scoring, total)
    wall = time.perf_counter()
    cpu = time.process_time()
    report = simulate(example, cycles(base, total))
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    line("simulate (score, route, move the roster, tally)", cpu, total)
    run = report.run
    print(f"  → {total:,} leads simulated in {wall:.1f} s wall ({cpu:.1f} s CPU); goal: under 60 s")
    figure(f"simulation of {total:,} leads", total / wall, "leads/s", floor_name="score_lead alone/s",
           floor=total / scoring, note=f"{wall:.1f} s wall")
    print(f"    assigned {run.assigned:,}, unassigned {run.unassigned_total:,}, capacity breaches "
          f"{run.capacity_breaches}, off-hours {run.off_hours_assignments}, SLA at risk {run.sla_at_risk:,}, "
          f"Gini {run.gini:.3f}")


if __name__ == "__main__":
    main()
