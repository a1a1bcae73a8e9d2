"""Fuzzy matching: is a new lead a person we already know under another email or phone?

Exact identity keys (``dedup.py``) find a person by the same normalised email, phone or platform
id. This module finds the rest: "王磊, 示例制造有限公司, wang.lei@gmail.com" and "Wang Lei, 示例制造,
+86 138…" are one buyer, and two reps chasing him is the 撞单 sales teams fight.

Guarantees:
- Pure and deterministic: the same profiles and keys give the same :class:`Match`.
- Names compare in one script: Chinese characters become pinyin (pypinyin), tokens are sorted, so
  "Wang Lei", "Lei Wang" and "王磊" are one name. Two different Chinese spellings of one sound
  (王磊 / 汪蕾) are not: when both sides are written in characters, the characters must agree.
- Companies compare without their legal form (``shared/companies.py``, which the router's named
  accounts share), so "示例制造有限公司" is "示例制造".
- A merge is never proposed without a name on both sides, and never automatic when the two sides
  hold different phone numbers or different email addresses: that is what colleagues with one
  name look like. Those go to a person for review (``REVIEW_AT`` ≤ score), or stay apart.
- Thresholds are chosen on a labelled set (``bench/dedup_quality.py`` prints precision and recall
  at them): at ``MERGE_AT`` an automatic merge must be right; the grey zone costs a human a look.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from pypinyin import lazy_pinyin
from rapidfuzz import fuzz

from leadrelay.shared.companies import company_similarity, normalised_company

MERGE_AT = 0.92  # at or above (and no conflicting phone or email): merged automatically
REVIEW_AT = 0.75  # at or above, below MERGE_AT or with a conflict: a pair for a person to review
CANDIDATES_PER_KEY = 20  # the most recent people per blocking key that are scored

_NAME_WEIGHT = 0.65  # the company corroborates the name, never the reverse
_NO_COMPANY_FACTOR = 0.85  # a name alone is weaker evidence: it can reach review, never a merge

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NOT_WORD = re.compile(r"[^\w]+")

Verdict = Literal["merge", "review", "apart"]


@dataclass(frozen=True)
class MatchProfile:
    """What fuzzy matching compares: a name and a company, normalised. Holds no email or phone."""

    name_tokens: tuple[str, ...]  # romanised, lower-case, sorted
    name_characters: str  # the Chinese characters of the name, in order ("" when none)
    company: str  # without legal form, lower-case, without spaces and punctuation ("" when none)


@dataclass(frozen=True)
class Match:
    score: float  # 0.0 … 1.0
    verdict: Verdict
    reasons: tuple[str, ...]  # what the score and verdict rest on, for the review list and the history


def profile(name: str | None, company: str | None) -> MatchProfile:
    return MatchProfile(name_tokens=_name_tokens(name), name_characters="".join(_CJK.findall(name or "")),
                        company=normalised_company(company))


def blocking_keys(person: MatchProfile) -> tuple[str, ...]:
    """The index keys that find candidates: the name with the company, and the name alone (a lead
    without a company, or a company written another way). Hashed: fixed width, and the index
    spells out no one's name."""
    if not person.name_tokens:
        return ()
    name = " ".join(person.name_tokens)
    keys = ["n:" + _digest(name)]
    if person.company:
        keys.insert(0, "nc:" + _digest(f"{name}|{person.company}"))
    return tuple(keys)


def compare(known: MatchProfile, known_keys: tuple[str, ...], lead: MatchProfile,
            lead_keys: tuple[str, ...]) -> Match:
    """How alike a known person and a new lead are, and what to do about it. ``*_keys`` are the
    identity keys (``e:``, ``p:``, ``x:`` prefixed hashes): different ones of a kind are a conflict."""
    if not known.name_tokens or not lead.name_tokens:
        return Match(0.0, "apart", ("no name on one side",))
    reasons = []
    name = fuzz.token_sort_ratio(" ".join(known.name_tokens), " ".join(lead.name_tokens)) / 100
    if known.name_characters and lead.name_characters and known.name_characters != lead.name_characters:
        name *= 0.6  # same sound, other characters: 王磊 is not 汪蕾
        reasons.append("names sound alike but are written differently")
    reasons.append(f"name {name:.2f}")
    if known.company and lead.company:
        company = company_similarity(known.company, lead.company)
        reasons.append(f"company {company:.2f}")
        score = _NAME_WEIGHT * name + (1 - _NAME_WEIGHT) * company
    else:
        reasons.append("no company on one side")
        score = name * _NO_COMPANY_FACTOR
    conflicts = [label for kind, label in (("p:", "phone"), ("e:", "email")) if _differ(known_keys, lead_keys, kind)]
    reasons += [f"different {label}" for label in conflicts]
    score = round(score, 4)
    if score >= MERGE_AT and not conflicts:
        return Match(score, "merge", tuple(reasons))
    if score >= REVIEW_AT:
        return Match(score, "review", tuple(reasons))
    return Match(score, "apart", tuple(reasons))


def _differ(known_keys: tuple[str, ...], lead_keys: tuple[str, ...], kind: str) -> bool:
    known = {k for k in known_keys if k.startswith(kind)}
    lead = {k for k in lead_keys if k.startswith(kind)}
    return bool(known and lead and not known & lead)


def _name_tokens(name: str | None) -> tuple[str, ...]:
    """A name as sorted romanised tokens. Characters are read as pinyin the way a Chinese name is
    written in Latin letters: the family name, then the given name's syllables joined ("王小明" is
    "wang xiaoming", as its owner writes it)."""
    text = unicodedata.normalize("NFKC", (name or "").strip()).casefold()
    if not text:
        return ()
    tokens: list[str] = []
    for part in _NOT_WORD.split(text):
        if not part:
            continue
        if _CJK.search(part):
            syllables = [s for s in lazy_pinyin(part) if s.strip()]
            tokens += [syllables[0], "".join(syllables[1:])] if len(syllables) > 1 else syllables
        else:
            tokens.append(part)
    return tuple(sorted(token for token in tokens if token))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]
