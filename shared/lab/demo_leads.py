"""Realistic synthetic leads, for trying Leadrelay and for simulating a policy before rollout.

:func:`generate_leads` yields leads in the shape of the ``POST /v1/leads`` body, plus two
fields a replay needs: ``source`` (the lead source's name) and ``received_at`` (ISO 8601 with
the lead's local offset). Strip those two to post a lead to intake.

What the leads look like, and why:

- Countries are China-heavy (about 60%), then the US, Japan, Germany, the UK and Singapore, with
  a few from places no example territory covers (Korea, Australia, India, France, Brazil), so a
  simulation shows what happens to leads nobody's territory holds.
- People have names of their country (Chinese in characters or pinyin, Japanese in kanji or
  romaji, English, German); work at companies with a domain of their country; write from the
  company domain or from a free mailbox (qq.com, 163.com, gmail.com, ...), which scoring treats
  differently. Companies recur (a few big ones send many leads), so named accounts and owner
  stickiness have something to stick to.
- Phone numbers are valid in their country's numbering plan (checked against the
  ``phonenumbers`` metadata as they are made, so every one passes intake's normalisation), in
  international or national writing.
- Titles are long-tailed (many engineers and managers, few chiefs), in English, Chinese,
  Japanese or German; company sizes are long-tailed (median about 50, one in ten 500 or more).
- About 5% of leads are returning people: the same email (and name, company, ...) as an earlier
  lead, from a new source at a new time.
- Arrival times are spread over days (``per_day`` leads on a weekday, a fifth of that on
  weekend days), mostly inside the lead's local office hours, in arrival order.

Deterministic: the same ``n``, ``seed``, ``start`` and ``per_day`` give the same leads. Pure: no
I/O and no clock.
"""

from __future__ import annotations

import heapq
import random
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import PhoneMetadata

__all__ = ["DEFAULT_START", "generate_leads"]

# A Monday: generated arrival times start here unless told otherwise.
DEFAULT_START = date(2026, 6, 1)

# The share of leads from a person seen before (same email), as the design asks for.
RETURNING_SHARE = 0.05
# Returning people come back from recent history; remembering a bounded window keeps memory flat
# for a million leads.
_HISTORY = 20_000

_COUNTRIES: tuple[tuple[str, float], ...] = (
    ("CN", 60),
    ("US", 12),
    ("JP", 8),
    ("DE", 6),
    ("GB", 6),
    ("SG", 5),
    ("KR", 0.8),
    ("AU", 0.8),
    ("IN", 0.6),
    ("FR", 0.5),
    ("BR", 0.3),
)

# (region, city, city in Chinese or None, time zone), by country.
_PLACES: dict[str, tuple[tuple[str, str, str | None, str], ...]] = {
    "CN": (
        ("Shanghai", "Shanghai", "上海", "Asia/Shanghai"),
        ("Jiangsu", "Suzhou", "苏州", "Asia/Shanghai"),
        ("Jiangsu", "Nanjing", "南京", "Asia/Shanghai"),
        ("Zhejiang", "Hangzhou", "杭州", "Asia/Shanghai"),
        ("Zhejiang", "Ningbo", "宁波", "Asia/Shanghai"),
        ("Beijing", "Beijing", "北京", "Asia/Shanghai"),
        ("Tianjin", "Tianjin", "天津", "Asia/Shanghai"),
        ("Guangdong", "Shenzhen", "深圳", "Asia/Shanghai"),
        ("Guangdong", "Guangzhou", "广州", "Asia/Shanghai"),
        ("Sichuan", "Chengdu", "成都", "Asia/Shanghai"),
        ("Hubei", "Wuhan", "武汉", "Asia/Shanghai"),
        ("Shandong", "Qingdao", "青岛", "Asia/Shanghai"),
        ("Fujian", "Xiamen", "厦门", "Asia/Shanghai"),
        ("Shaanxi", "Xi'an", "西安", "Asia/Shanghai"),
    ),
    "US": (
        ("California", "San Francisco", None, "America/Los_Angeles"),
        ("California", "Los Angeles", None, "America/Los_Angeles"),
        ("New York", "New York", None, "America/New_York"),
        ("Texas", "Austin", None, "America/Chicago"),
        ("Washington", "Seattle", None, "America/Los_Angeles"),
        ("Illinois", "Chicago", None, "America/Chicago"),
        ("Massachusetts", "Boston", None, "America/New_York"),
    ),
    "JP": (
        ("Tokyo", "Tokyo", None, "Asia/Tokyo"),
        ("Osaka", "Osaka", None, "Asia/Tokyo"),
        ("Aichi", "Nagoya", None, "Asia/Tokyo"),
        ("Fukuoka", "Fukuoka", None, "Asia/Tokyo"),
    ),
    "DE": (
        ("Bavaria", "Munich", None, "Europe/Berlin"),
        ("Berlin", "Berlin", None, "Europe/Berlin"),
        ("Hesse", "Frankfurt", None, "Europe/Berlin"),
        ("Baden-Württemberg", "Stuttgart", None, "Europe/Berlin"),
        ("Hamburg", "Hamburg", None, "Europe/Berlin"),
    ),
    "GB": (
        ("England", "London", None, "Europe/London"),
        ("England", "Manchester", None, "Europe/London"),
        ("Scotland", "Edinburgh", None, "Europe/London"),
    ),
    "SG": (("Singapore", "Singapore", None, "Asia/Singapore"),),
    "KR": (("Seoul", "Seoul", None, "Asia/Seoul"),),
    "AU": (("New South Wales", "Sydney", None, "Australia/Sydney"), ("Victoria", "Melbourne", None, "Australia/Melbourne")),
    "IN": (("Karnataka", "Bengaluru", None, "Asia/Kolkata"), ("Maharashtra", "Mumbai", None, "Asia/Kolkata")),
    "FR": (("Île-de-France", "Paris", None, "Europe/Paris"),),
    "BR": (("São Paulo", "São Paulo", None, "America/Sao_Paulo"),),
}

# National significant number templates: (leading digits, random digits to add). Each made
# number is checked against the country's plan; a miss is drawn again.
_PHONES: dict[str, tuple[tuple[str, int], ...]] = {
    "CN": (
        *((f"1{p}", 8) for p in ("30", "31", "32", "33", "35", "36", "37", "38", "39", "50", "51", "52", "55", "56",
                                 "57", "58", "59", "76", "77", "80", "81", "82", "83", "85", "86", "87", "88", "89")),
        ("21", 8), ("10", 8), ("755", 8), ("20", 8), ("571", 8), ("512", 8), ("25", 8), ("28", 8),
    ),
    "US": tuple((area, 7) for area in ("212", "415", "646", "206", "312", "512", "617", "213", "305", "404")),
    "JP": (("90", 8), ("80", 8), ("70", 8), ("3", 8), ("6", 8)),
    "DE": (("151", 8), ("152", 8), ("157", 8), ("159", 8), ("170", 7), ("171", 7), ("176", 8), ("30", 8), ("89", 8)),
    "GB": (("74", 8), ("75", 8), ("77", 8), ("78", 8), ("79", 8), ("20", 8)),
    "SG": (("8", 7), ("9", 7), ("6", 7)),
    "KR": (("10", 8), ("2", 8)),
    "AU": (("4", 8), ("2", 8)),
    "IN": (("98", 8), ("99", 8)),
    "FR": (("6", 8), ("1", 8)),
    "BR": (("119", 8),),
}
# Countries whose national writing puts a trunk 0 before the number (and, for China, only
# before landlines: mobiles are written bare).
_TRUNK_ZERO = frozenset({"JP", "DE", "GB", "KR", "AU", "IN", "FR"})

_CN_SURNAMES = (
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"), ("黄", "huang"),
    ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"),
    ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("高", "gao"), ("林", "lin"), ("罗", "luo"), ("郑", "zheng"),
    ("梁", "liang"), ("宋", "song"), ("谢", "xie"), ("唐", "tang"), ("韩", "han"), ("冯", "feng"), ("于", "yu"),
)
_CN_GIVEN = (
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("强", "qiang"),
    ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("娟", "juan"),
    ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("秀英", "xiuying"), ("霞", "xia"), ("平", "ping"),
    ("刚", "gang"), ("建华", "jianhua"), ("志强", "zhiqiang"), ("晓明", "xiaoming"), ("海燕", "haiyan"),
    ("子涵", "zihan"), ("浩然", "haoran"), ("雨桐", "yutong"), ("欣怡", "xinyi"), ("俊杰", "junjie"),
    ("思远", "siyuan"), ("嘉怡", "jiayi"), ("文博", "wenbo"), ("佳琪", "jiaqi"), ("宇航", "yuhang"),
)
_JP_SURNAMES = (
    ("佐藤", "Sato"), ("鈴木", "Suzuki"), ("高橋", "Takahashi"), ("田中", "Tanaka"), ("伊藤", "Ito"),
    ("渡辺", "Watanabe"), ("山本", "Yamamoto"), ("中村", "Nakamura"), ("小林", "Kobayashi"), ("加藤", "Kato"),
)
_JP_GIVEN = (
    ("翔", "Sho"), ("陽菜", "Hina"), ("蓮", "Ren"), ("結衣", "Yui"), ("大翔", "Hiroto"), ("美咲", "Misaki"),
    ("健太", "Kenta"), ("さくら", "Sakura"), ("拓也", "Takuya"), ("愛", "Ai"),
)
_EN_FIRST = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William",
    "Susan", "Sarah", "Emily", "Daniel", "Olivia", "Oliver", "Emma", "Jack", "Sophie", "Harry", "Amelia", "Chloe",
    "Ethan", "Grace", "Noah", "Ava", "Lucas", "Mia", "Henry",
)
_EN_LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor", "Clark", "Walker",
    "Wright", "Thompson", "Evans", "Hughes", "Roberts", "Green", "Baker", "Hall", "Young", "King", "Scott",
)
_DE_FIRST = ("Lukas", "Anna", "Felix", "Lena", "Jonas", "Marie", "Maximilian", "Sophie", "Paul", "Laura", "Jan", "Julia")
_DE_LAST = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann", "Schulz")
_SG_LAST = ("Tan", "Lim", "Lee", "Ng", "Wong", "Goh", "Chua", "Koh")
_KR_LAST = ("Kim", "Lee", "Park", "Choi", "Jung")
_KR_FIRST = ("Minjun", "Seoyeon", "Jiho", "Hayoon", "Dohyun")
_IN_FIRST = ("Priya", "Rahul", "Ananya", "Arjun", "Kavya", "Vikram")
_IN_LAST = ("Sharma", "Patel", "Iyer", "Nair", "Reddy", "Gupta")
_FR_FIRST = ("Camille", "Louis", "Léa", "Hugo", "Chloé", "Jules")
_FR_LAST = ("Martin", "Bernard", "Dubois", "Moreau", "Laurent")
_BR_FIRST = ("Ana", "João", "Maria", "Pedro", "Beatriz", "Lucas")
_BR_LAST = ("Silva", "Santos", "Oliveira", "Souza", "Costa")

_INDUSTRIES: tuple[tuple[str, float], ...] = (
    ("manufacturing", 22), ("software", 18), ("retail", 12), ("finance", 9), ("education", 7), ("automotive", 7),
    ("energy", 5), ("healthcare", 6), ("logistics", 6),
)
# Chinese and English words for a company's line of business.
_TRADE = {
    "manufacturing": ("精密制造", "Precision", "mfg"),
    "software": ("软件", "Software", "soft"),
    "retail": ("商贸", "Trading", "trade"),
    "finance": ("金融服务", "Capital", "capital"),
    "education": ("教育科技", "Learning", "edu"),
    "automotive": ("汽车零部件", "Auto Parts", "auto"),
    "energy": ("新能源", "Energy", "energy"),
    "healthcare": ("医疗科技", "Health", "health"),
    "logistics": ("物流", "Logistics", "logistics"),
}
_CN_BRANDS = (
    ("恒信", "hengxin"), ("华泰", "huatai"), ("金龙", "jinlong"), ("东方", "dongfang"), ("中科", "zhongke"),
    ("博远", "boyuan"), ("天成", "tiancheng"), ("海纳", "haina"), ("瑞达", "ruida"), ("远景", "yuanjing"),
    ("云图", "yuntu"), ("智联", "zhilian"), ("鼎盛", "dingsheng"), ("宏达", "hongda"), ("星河", "xinghe"),
    ("盛世", "shengshi"), ("嘉和", "jiahe"), ("润丰", "runfeng"), ("青松", "qingsong"), ("汇通", "huitong"),
)
_EN_BRANDS = (
    "Northwind", "Bluepeak", "Ironbridge", "Silverline", "Brightwave", "Redwood", "Summit", "Keystone", "Harbor",
    "Lumen", "Vertex", "Cobalt", "Meridian", "Pioneer", "Crescent", "Evergreen", "Atlas", "Orion", "Granite", "Sterling",
)
_JP_BRANDS = (("山田", "yamada"), ("東和", "towa"), ("大和", "yamato"), ("日進", "nisshin"), ("光陽", "koyo"))
_COMPANY_TLD = {
    "CN": ("com.cn", "cn", "com"), "US": ("com", "io"), "JP": ("co.jp", "jp"), "DE": ("de", "com"),
    "GB": ("co.uk", "com"), "SG": ("com.sg", "sg"), "KR": ("co.kr",), "AU": ("com.au",), "IN": ("in", "co.in"),
    "FR": ("fr",), "BR": ("com.br",),
}
_FREE_MAIL = {
    "CN": ("qq.com", "163.com", "126.com", "foxmail.com", "sina.com", "gmail.com"),
    "JP": ("yahoo.co.jp", "gmail.com"),
    "DE": ("gmx.de", "gmail.com", "outlook.com"),
    "GB": ("hotmail.co.uk", "gmail.com", "outlook.com"),
}
_FREE_MAIL_ELSEWHERE = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com")

_TITLES_EN: tuple[tuple[str, float], ...] = (
    ("CEO", 1.5), ("CTO", 1.5), ("CFO", 0.8), ("COO", 0.7), ("Founder", 1.5), ("VP Sales", 1.5),
    ("VP of Engineering", 1.5), ("Director of IT", 2.5), ("Head of Procurement", 2), ("Purchasing Manager", 6),
    ("IT Manager", 6), ("Operations Manager", 5), ("Product Manager", 5), ("Software Engineer", 8), ("Engineer", 8),
    ("Analyst", 5), ("Consultant", 4), ("Marketing Specialist", 4), ("Student", 2),
)
_TITLES_ZH: tuple[tuple[str, float], ...] = (
    ("总经理", 3), ("总监", 3), ("技术总监", 3), ("副总裁", 1), ("总裁", 0.8), ("董事长", 0.7), ("采购经理", 6),
    ("销售经理", 5), ("项目经理", 6), ("工程师", 10), ("高级工程师", 5), ("IT主管", 4), ("运营专员", 4), ("分析师", 3),
)
_TITLES_JA: tuple[tuple[str, float], ...] = (
    ("代表取締役", 1), ("部長", 4), ("課長", 5), ("マネージャー", 5), ("エンジニア", 8), ("担当者", 6),
)
_TITLES_DE: tuple[tuple[str, float], ...] = (
    ("Geschäftsführer", 1.5), ("Leiter IT", 3), ("Einkaufsleiter", 3), ("Ingenieur", 6), ("Projektleiter", 4),
)

# (source name, weight, utm choices: (utm_source, utm_medium) pairs, or () for none)
_SOURCES: tuple[tuple[str, float], ...] = (
    ("web", 45), ("google-ads", 15), ("meta-lead-ads", 12), ("referral", 8), ("trade-show", 12), ("webinar", 8),
)
_WEB_UTM = (("google", "organic"), ("baidu", "organic"), ("bing", "organic"), ("linkedin", "social"),
            ("newsletter", "email"), ("wechat", "social"))
_CAMPAIGNS = ("book-a-demo", "product-demo", "spring-promo", "free-trial", "brand", "pricing", "case-studies")
_LANGUAGES = {
    "CN": (("zh", 70), ("zh-CN", 28), ("en", 2)), "US": (("en", 100),), "JP": (("ja", 90), ("en", 10)),
    "DE": (("de", 70), ("en", 30)), "GB": (("en", 100),), "SG": (("en", 70), ("zh", 30)), "KR": (("ko", 80), ("en", 20)),
    "AU": (("en", 100),), "IN": (("en", 100),), "FR": (("fr", 80), ("en", 20)), "BR": (("pt", 85), ("en", 15)),
}

# Company sizes: a Pareto tail with median ~50 and one in ten at 500 or more.
_SIZE_SCALE, _SIZE_SHAPE = 18.5, 0.7
_MAX_EMPLOYEES = 300_000


@dataclass(frozen=True)
class _Company:
    name: str
    domain: str
    country: str
    place: tuple[str, str, str | None, str]
    industry: str | None
    employees: int | None


class _Cumulative:
    """Weighted choice by bisection over cumulative weights (``random.choices`` rebuilds them
    on every call)."""

    def __init__(self, items: tuple[tuple[Any, float], ...]) -> None:
        self.values = [value for value, _ in items]
        self.bounds: list[float] = []
        total = 0.0
        for _, weight in items:
            total += weight
            self.bounds.append(total)
        self.total = total

    def pick(self, rnd: random.Random) -> Any:
        return self.values[min(bisect_right(self.bounds, rnd.random() * self.total), len(self.values) - 1)]


_COUNTRY_PICK = _Cumulative(_COUNTRIES)
_INDUSTRY_PICK = _Cumulative(_INDUSTRIES)
_SOURCE_PICK = _Cumulative(_SOURCES)
_TITLE_PICKS = {
    "zh": _Cumulative(_TITLES_ZH), "ja": _Cumulative(_TITLES_JA), "de": _Cumulative(_TITLES_DE),
    "en": _Cumulative(_TITLES_EN),
}
_LANGUAGE_PICKS = {country: _Cumulative(choices) for country, choices in _LANGUAGES.items()}


@lru_cache(maxsize=64)
def _plan(country: str) -> tuple[int, re.Pattern[str], tuple[tuple[re.Pattern[str], tuple[int, ...]], ...]]:
    """The country calling code and the national-number patterns of its landlines and mobiles."""
    metadata = PhoneMetadata.metadata_for_region(country)
    assert metadata is not None, country
    descs = tuple(
        (re.compile(desc.national_number_pattern), tuple(desc.possible_length))
        for desc in (metadata.fixed_line, metadata.mobile)
        if desc is not None and desc.national_number_pattern
    )
    general = metadata.general_desc
    assert general is not None and general.national_number_pattern, country
    return phonenumbers.country_code_for_region(country), re.compile(general.national_number_pattern), descs


def _valid_national_number(country: str, digits: str) -> bool:
    """Whether the number is a landline or mobile of the country's plan (what phonenumbers'
    ``is_valid_number`` decides, for these two kinds)."""
    _, general, descs = _plan(country)
    if not general.fullmatch(digits):
        return False
    return any(pattern.fullmatch(digits) and (not lengths or len(digits) in lengths) for pattern, lengths in descs)


class _Generator:
    def __init__(self, seed: int, n: int, start: date, per_day: int) -> None:
        self.rnd = random.Random(seed)
        self.n = n
        self.start = start
        self.per_day = per_day
        # A few companies send many leads and most send a handful: big enough a pool that a
        # million leads do not all come from the same few hundred firms.
        self.company_count = max(50, min(250_000, n // 4))
        self.companies: dict[int, _Company] = {}
        self.seed = seed

    # --- people and companies --------------------------------------------------------------

    def company(self) -> _Company:
        # index = count * u**2.5: the first 1% of companies get about 16% of the leads.
        index = int(self.company_count * self.rnd.random() ** 2.5)
        found = self.companies.get(index)
        if found is None:
            found = self.companies[index] = self._make_company(index)
        return found

    def _make_company(self, index: int) -> _Company:
        rnd = random.Random(f"{self.seed}:company:{index}")
        country = _COUNTRY_PICK.pick(rnd)
        place = rnd.choice(_PLACES[country])
        industry = _INDUSTRY_PICK.pick(rnd) if rnd.random() < 0.92 else None
        trade_zh, trade_en, trade_slug = _TRADE[industry or "software"]
        tld = rnd.choice(_COMPANY_TLD[country])
        number = f"{index % 97}" if index >= 97 else ""  # keeps domains apart once the brands repeat
        if country == "CN":
            brand_zh, brand_py = rnd.choice(_CN_BRANDS)
            city = place[2] or ""
            name = f"{city}{brand_zh}{trade_zh}有限公司" if rnd.random() < 0.8 else f"{brand_py.title()} {trade_en} Co., Ltd."
            domain = f"{brand_py}{number}-{trade_slug}.{tld}"
        elif country == "JP":
            brand_ja, brand_ro = rnd.choice(_JP_BRANDS)
            name = f"{brand_ja}{trade_en}株式会社" if rnd.random() < 0.6 else f"{brand_ro.title()} {trade_en} K.K."
            domain = f"{brand_ro}{number}-{trade_slug}.{tld}"
        else:
            brand = rnd.choice(_EN_BRANDS)
            suffix = {"DE": "GmbH", "GB": "Ltd", "SG": "Pte. Ltd.", "FR": "SAS", "BR": "Ltda."}.get(country, "Inc.")
            name = f"{brand} {trade_en} {suffix}"
            domain = f"{brand.lower()}{number}-{trade_slug}.{tld}"
        employees = None
        if rnd.random() < 0.92:
            size = _SIZE_SCALE / (1.0 - rnd.random()) ** (1 / _SIZE_SHAPE)
            employees = max(1, min(_MAX_EMPLOYEES, int(size)))
        return _Company(name, domain, country, place, industry, employees)

    def person(self, company: _Company) -> dict[str, Any]:
        rnd = self.rnd
        country = company.country
        language = _LANGUAGE_PICKS[country].pick(rnd)
        name, first, last = self._name(country)
        email = self._email(company, first, last) if rnd.random() < 0.95 else None
        phone = self._phone(country) if email is None or rnd.random() < 0.65 else None
        title_language = language.split("-")[0] if rnd.random() < 0.8 else "en"
        titles = _TITLE_PICKS.get(title_language, _TITLE_PICKS["en"])
        region, city, city_zh, _ = company.place
        person: dict[str, Any] = {
            "email": email,
            "phone": phone,
            "name": name,
            "company": company.name,
            "title": titles.pick(rnd) if rnd.random() < 0.9 else None,
            "country": country,
            "region": region,
            "city": city_zh if city_zh and rnd.random() < 0.3 else city,
            "industry": company.industry,
            "employees": company.employees,
            "language": language,
            "website": f"https://www.{company.domain}" if rnd.random() < 0.3 else None,
        }
        return person

    def _name(self, country: str) -> tuple[str, str, str]:
        """(name as written on the form, first name and last name in ASCII for the email)."""
        rnd = self.rnd
        if country == "CN" or (country == "SG" and rnd.random() < 0.5):
            surname, surname_py = rnd.choice(_CN_SURNAMES)
            given, given_py = rnd.choice(_CN_GIVEN)
            if country == "SG":
                surname_py = rnd.choice(_SG_LAST).lower()
                return f"{rnd.choice(_EN_FIRST)} {surname_py.title()}", given_py, surname_py
            if rnd.random() < 0.7:
                return f"{surname}{given}", given_py, surname_py
            return f"{given_py.title()} {surname_py.title()}", given_py, surname_py
        if country == "JP":
            (surname, surname_ro), (given, given_ro) = rnd.choice(_JP_SURNAMES), rnd.choice(_JP_GIVEN)
            written = f"{surname} {given}" if rnd.random() < 0.5 else f"{given_ro} {surname_ro}"
            return written, given_ro.lower(), surname_ro.lower()
        first_names, last_names = {
            "DE": (_DE_FIRST, _DE_LAST), "KR": (_KR_FIRST, _KR_LAST), "IN": (_IN_FIRST, _IN_LAST),
            "FR": (_FR_FIRST, _FR_LAST), "BR": (_BR_FIRST, _BR_LAST),
        }.get(country, (_EN_FIRST, _EN_LAST))
        first, last = rnd.choice(first_names), rnd.choice(last_names)
        return f"{first} {last}", _ascii(first), _ascii(last)

    def _email(self, company: _Company, first: str, last: str) -> str:
        rnd = self.rnd
        if rnd.random() < 0.28:
            domain = rnd.choice(_FREE_MAIL.get(company.country, _FREE_MAIL_ELSEWHERE))
            if domain in ("qq.com", "foxmail.com") and rnd.random() < 0.6:
                return f"{rnd.randint(10_000_000, 3_999_999_999)}@{domain}"
            return f"{first}{last}{rnd.randint(1, 9999)}@{domain}"
        style = rnd.random()
        if style < 0.4:
            local = f"{first}.{last}"
        elif style < 0.6:
            local = f"{first[0]}{last}"
        elif style < 0.8:
            local = f"{last}.{first}"
        else:
            local = f"{first}{last}{rnd.randint(1, 99)}"
        return f"{local}@{company.domain}"

    def _phone(self, country: str) -> str:
        rnd = self.rnd
        code, _, _ = _plan(country)
        for _ in range(20):
            lead_digits, extra = rnd.choice(_PHONES[country])
            first = str(rnd.randint(2, 9)) if country == "US" else ""  # NANP exchanges start 2-9
            digits = lead_digits + first + "".join(rnd.choices("0123456789", k=extra - len(first)))
            if _valid_national_number(country, digits):
                break
        else:  # pragma: no cover - every template yields valid numbers far more often than not
            example = phonenumbers.example_number(country)
            assert example is not None, country
            digits = str(example.national_number)
        written = rnd.random()
        if written < 0.35:
            return f"+{code}{digits}"
        if written < 0.6:
            return f"+{code} {_grouped(digits)}"
        landline_cn = country == "CN" and not digits.startswith("1")
        trunk = "0" if country in _TRUNK_ZERO or landline_cn else ""
        if country == "BR":
            return f"+{code} {digits}"
        return f"{trunk}{_grouped(digits)}"

    # --- leads -----------------------------------------------------------------------------

    def _lead(self) -> tuple[dict[str, Any], str]:
        """A new lead and the time zone of its company's city."""
        company = self.company()
        source = _SOURCE_PICK.pick(self.rnd)
        return {**self.person(company), **self._marketing(source), "source": source}, company.place[3]

    def _marketing(self, source: str) -> dict[str, Any]:
        rnd = self.rnd
        utm: dict[str, Any] = {"consent": True if rnd.random() < 0.9 else None}
        if source == "web":
            if rnd.random() < 0.7:
                utm["utm_source"], utm["utm_medium"] = rnd.choice(_WEB_UTM)
                if rnd.random() < 0.5:
                    utm["utm_campaign"] = rnd.choice(_CAMPAIGNS)
        elif source == "google-ads":
            utm.update(utm_source="google", utm_medium="cpc", utm_campaign=rnd.choice(_CAMPAIGNS),
                       utm_term=rnd.choice(("crm", "lead routing", "sales automation", "销售管理")))
            utm["external_id"] = f"gclid-{rnd.getrandbits(48):012x}"
        elif source == "meta-lead-ads":
            utm.update(utm_source=rnd.choice(("facebook", "instagram")), utm_medium="paid_social",
                       utm_campaign=rnd.choice(_CAMPAIGNS))
            utm["external_id"] = str(rnd.randint(10**14, 10**15 - 1))
        elif source == "webinar":
            utm.update(utm_source="newsletter", utm_medium="email", utm_campaign="webinar-" + rnd.choice(
                ("product-demo", "industry-4-0", "ai-sales", "quarterly-update")))
        elif source == "trade-show":
            utm["attributes"] = {"event": rnd.choice(("CIIE Shanghai", "Hannover Messe", "CES", "Canton Fair")),
                                 "badge_scanned": True}
        return utm

    def _local_minute(self) -> int:
        """Minutes after local midnight: mostly office hours, some early or late, a few at night."""
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.75:
            return rnd.randrange(9 * 60, 18 * 60)
        if roll < 0.9:
            return rnd.choice((rnd.randrange(7 * 60, 9 * 60), rnd.randrange(18 * 60, 23 * 60)))
        return rnd.randrange(0, 24 * 60)

    def leads(self) -> Iterator[tuple[datetime, dict[str, Any]]]:
        """New leads with their arrival instants, in arrival order: ``per_day`` on weekdays, a
        fifth of that on weekend days, each on the lead's own local calendar."""
        rnd = self.rnd
        made = 0
        day = self.start
        pending: list[tuple[float, int, datetime, dict[str, Any]]] = []
        while made < self.n:
            count = self.per_day if day.weekday() < 5 else max(1, self.per_day // 5)
            count = min(count, self.n - made)
            for _ in range(count):
                lead, zone = self._lead()
                minute = self._local_minute()
                local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, rnd.randrange(60),
                                 tzinfo=ZoneInfo(zone))
                made += 1
                heapq.heappush(pending, (local.timestamp(), made, local, lead))
            # A local day's instants lie within a day and a half across the world's zones:
            # nothing made for a later day can arrive before this day began at UTC-14.
            cutoff = datetime(day.year, day.month, day.day, tzinfo=_LATEST_ZONE).timestamp()
            while pending and pending[0][0] < cutoff:
                _, _, at, lead = heapq.heappop(pending)
                yield at, lead
            day += timedelta(days=1)
        while pending:
            _, _, at, lead = heapq.heappop(pending)
            yield at, lead


_LATEST_ZONE = timezone(timedelta(hours=-14))  # later than any place's clock


def _grouped(digits: str) -> str:
    """``13812345678`` -> ``138 1234 5678``: groups of four from the right, as people write."""
    head = len(digits) % 4 or 4
    groups = [digits[:head]] + [digits[i : i + 4] for i in range(head, len(digits), 4)]
    return " ".join(groups)


_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "ç": "c", "ã": "a", "ó": "o"})


def _ascii(name: str) -> str:
    return name.lower().translate(_ASCII).replace(" ", "").replace("'", "")


def generate_leads(n: int, seed: int = 0, *, start: date = DEFAULT_START, per_day: int = 200) -> Iterator[dict[str, Any]]:
    """Yields ``n`` synthetic leads in arrival order. Each is a ``POST /v1/leads`` body (fields
    left out rather than null) plus ``source`` and ``received_at`` (ISO 8601, local offset).
    Raises ValueError for a negative ``n`` or a ``per_day`` below 1."""
    if n < 0:
        raise ValueError("n must not be negative")
    if per_day < 1:
        raise ValueError("per_day must be at least 1")
    generator = _Generator(seed, n, start, per_day)
    rnd = generator.rnd
    history: list[dict[str, Any]] = []
    for at, lead in generator.leads():
        if history and rnd.random() < RETURNING_SHARE:
            # The same person again: who they are stays, how and when they came is new.
            earlier = history[rnd.randrange(len(history))]
            lead.update(earlier)
        else:
            person = {key: lead[key] for key in _PERSON_FIELDS}
            if len(history) < _HISTORY:
                history.append(person)
            else:
                history[rnd.randrange(_HISTORY)] = person
        lead["received_at"] = at.isoformat()
        yield {key: value for key, value in lead.items() if value is not None}


_PERSON_FIELDS = ("email", "phone", "name", "company", "title", "country", "region", "city", "industry", "employees",
                  "language", "website")
