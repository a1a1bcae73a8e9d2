"""Precision and recall of fuzzy matching on a generated, labelled set of pairs, printed with the
thresholds they were measured at.

    python bench/dedup_quality.py [--pairs 20000] [--seed 7]

Same-person pairs vary the way lists really do: the name in characters on one side and pinyin on
the other (either order), the company with and without its legal form or a city in front, one lead
with an email and the other with a phone, a personal and a work email (a conflict, so at best a
review). Different-person pairs are the look-alikes that make dedup hard: namesakes at other
companies, homophones written with other characters at the same company, colleagues with one name
and two emails, different people at one company. Matching is the pure ``compare`` the scoring
consumer runs (the blocking index that finds candidates is tested in tests/api).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pypinyin import lazy_pinyin  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.figures import figure  # noqa: E402
from leadrelay.services.scoring.matching import MERGE_AT, REVIEW_AT, compare, profile  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华"
HOMOPHONE = {"王": "汪", "李": "黎", "张": "章", "刘": "柳", "陈": "晨", "杨": "阳", "黄": "皇", "周": "舟",
             "磊": "蕾", "伟": "薇", "芳": "方", "娜": "纳", "静": "靖", "丽": "莉", "强": "墙", "军": "君",
             "洋": "阳", "杰": "洁", "明": "鸣", "超": "潮", "华": "桦"}
STEMS = ["示例制造", "远东贸易", "北方电气", "华南物流", "星河科技", "蓝海软件", "金桥建材", "长江医药", "Big Factory",
         "Acme Robotics", "Nordic Tools", "Sunrise Foods"]
FORMS_ZH = ["", "有限公司", "股份有限公司", "集团"]
FORMS_EN = ["", " Co., Ltd.", " Inc.", " GmbH", " Ltd"]
CITIES = ["", "上海", "北京", "深圳", "广州"]


def chinese_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 1, 2))))


def pinyin(name: str, rng: random.Random) -> str:
    syllables = lazy_pinyin(name)
    family, given = syllables[0].capitalize(), "".join(syllables[1:]).capitalize()
    return rng.choice((f"{family} {given}", f"{given} {family}", f"{family.upper()} {given}"))


def company_variant(stem: str, rng: random.Random, city: str | None = None) -> str:
    if stem.isascii():
        return stem + rng.choice(FORMS_EN)
    return (rng.choice(CITIES) if city is None else city) + stem + rng.choice(FORMS_ZH)


def same_person(rng: random.Random) -> tuple:
    name, stem = chinese_name(rng), rng.choice(STEMS)
    a_name = name
    b_name = pinyin(name, rng) if rng.random() < 0.6 else name
    # No key in common (one would have matched exactly): a phone on the other side, or another email.
    a_keys, b_keys = ("e:personal",), rng.choice((("p:mobile",), ("p:mobile",), ("e:work",)))
    # One list writes the city before the company, the other doesn't (or writes the same city): two
    # different cities are two branches, which the matcher rightly leaves to a person.
    city = rng.choice(CITIES)
    b_company = company_variant(stem, rng, rng.choice(("", city))) if rng.random() < 0.9 else None
    kind = "work email too" if b_keys == ("e:work",) else "email + phone"
    return (a_name, company_variant(stem, rng, city), a_keys, b_name, b_company, b_keys, kind)


def different_people(rng: random.Random) -> tuple:
    name, stem = chinese_name(rng), rng.choice(STEMS)
    kind = rng.choice(("namesake elsewhere", "homophone", "colleague, same name", "colleague"))
    if kind == "namesake elsewhere":
        other_stem = rng.choice([s for s in STEMS if s != stem])
        return (name, company_variant(stem, rng), ("e:a",), rng.choice((name, pinyin(name, rng))),
                company_variant(other_stem, rng), ("p:b",), kind)
    if kind == "homophone":
        swapped = "".join(HOMOPHONE.get(ch, ch) for ch in name)
        if swapped == name:
            swapped = rng.choice([s for s in SURNAMES if s != name[0]]) + name[1:]
        return (name, company_variant(stem, rng), ("e:a",), swapped, company_variant(stem, rng), ("p:b",), kind)
    if kind == "colleague, same name":
        return (name, company_variant(stem, rng), ("e:a",), rng.choice((name, pinyin(name, rng))),
                company_variant(stem, rng), ("e:b",), kind)
    other = chinese_name(rng)
    while lazy_pinyin(other) == lazy_pinyin(name):
        other = chinese_name(rng)
    return (name, company_variant(stem, rng), ("e:a",), other, company_variant(stem, rng), ("p:b",), kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    verdicts: Counter[tuple[bool, str]] = Counter()
    by_kind: Counter[tuple[str, str]] = Counter()
    for i in range(args.pairs):
        same = i % 2 == 0
        a_name, a_company, a_keys, b_name, b_company, b_keys, kind = (same_person if same else different_people)(rng)
        match = compare(profile(a_name, a_company), a_keys, profile(b_name, b_company), b_keys)
        verdicts[(same, match.verdict)] += 1
        by_kind[(kind, match.verdict)] += 1

    positives, negatives = args.pairs - args.pairs // 2, args.pairs // 2
    merged_right, merged_wrong = verdicts[(True, "merge")], verdicts[(False, "merge")]
    flagged_right = merged_right + verdicts[(True, "review")]
    flagged_wrong = merged_wrong + verdicts[(False, "review")]
    console = Console()
    table = Table(title=f"fuzzy matching on {args.pairs:,} labelled pairs (seed {args.seed}); "
                        f"merge ≥ {MERGE_AT}, review ≥ {REVIEW_AT}")
    for column in ("measure", "value", "what it means"):
        table.add_column(column, justify="left" if column != "value" else "right")
    table.add_row("automatic merge: precision", f"{merged_right / max(1, merged_right + merged_wrong):.4f}",
                  "of the merges made without a person, the share that were one person")
    table.add_row("automatic merge: recall", f"{merged_right / positives:.4f}",
                  "of the same-person pairs, the share merged without a person")
    table.add_row("merge or review: recall", f"{flagged_right / positives:.4f}",
                  "of the same-person pairs, the share merged or put before a person")
    table.add_row("review list precision", f"{verdicts[(True, 'review')] / max(1, verdicts[(True, 'review')] + verdicts[(False, 'review')]):.4f}",
                  "of the pairs put before a person, the share that were one person")
    table.add_row("different people flagged", f"{flagged_wrong / negatives:.4f}",
                  "of the different-people pairs, the share merged or reviewed")
    console.print(table)
    figure("automatic merge precision", merged_right / max(1, merged_right + merged_wrong), "")
    figure("automatic merge recall", merged_right / positives, "")
    figure("merge or review recall", flagged_right / positives, "")
    detail = Table(title="verdicts by kind of pair")
    for column in ("kind", "merge", "review", "apart"):
        detail.add_column(column, justify="left" if column == "kind" else "right")
    for kind in sorted({kind for kind, _ in by_kind}):
        detail.add_row(kind, *(str(by_kind[(kind, verdict)]) for verdict in ("merge", "review", "apart")))
    console.print(detail)


if __name__ == "__main__":
    main()
