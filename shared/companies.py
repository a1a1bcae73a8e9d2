"""Company names compared without their legal form: "Big Factory Co., Ltd." is "Big Factory".

Shared by scoring (is a new lead a person we know? the company corroborates the name) and the
router (is a new lead from a named account?), which must not import each other.

Guarantees:
- Pure and deterministic: no I/O, no clock.
- ``normalised_company`` is idempotent: a normalised name normalises to itself.
- Legal forms are stripped with cleanco ("Co., Ltd.", "Inc.", "GmbH", …) and our own list for
  Chinese names (有限公司, 股份有限公司, 集团, …); what remains is case-folded, without spaces
  and punctuation, so "示例制造有限公司" is "示例制造" and "ACME, Inc." is "acme".
"""

from __future__ import annotations

import re
import unicodedata

from cleanco import basename
from rapidfuzz import fuzz

__all__ = ["company_similarity", "normalised_company"]

# Legal forms and generic words of Chinese company names, longest first (stripped from the end).
_CHINESE_SUFFIXES = tuple(sorted((
    "股份有限公司", "有限责任公司", "有限公司", "集团有限公司", "集团股份有限公司", "集团", "公司", "分公司",
    "控股", "股份", "总公司", "厂", "工作室", "事务所",
), key=len, reverse=True))
_NOT_WORD = re.compile(r"[^\w]+")
# Containment ("上海示例制造" holds "示例制造": a city or group prefix) counts only for names at
# least this long: "ab" inside "abc corp" means nothing.
_CONTAINED_MIN_LENGTH = 4


def normalised_company(company: str | None) -> str:
    """"Big Factory Co., Ltd." → "bigfactory"; "示例制造有限公司" → "示例制造"; "" when none."""
    text = unicodedata.normalize("NFKC", (company or "").strip())
    if not text:
        return ""
    for _ in range(3):  # "Co., Ltd." is two legal words: strip until nothing changes
        stripped = basename(text)
        if stripped == text or not stripped:
            break
        text = stripped
    changed = True
    while changed:
        changed = False
        for suffix in _CHINESE_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix) + 1:
                text, changed = text[: -len(suffix)], True
                break
    return _NOT_WORD.sub("", text.casefold())


def company_similarity(a: str, b: str, *, contained_min_length: int = _CONTAINED_MIN_LENGTH) -> float:
    """How alike two *normalised* company names are, 0.0 … 1.0 (rapidfuzz's ratio; 0.95 at least
    when one name, at least ``contained_min_length`` long, is inside the other)."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    whole = fuzz.ratio(a, b) / 100
    if min(len(a), len(b)) >= contained_min_length and (a in b or b in a):
        return max(whole, 0.95)
    return whole
