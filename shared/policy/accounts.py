"""Named accounts: the companies a rep owns, found by email domain, website or company name.

The policy's ``accounts`` section maps a name to its owner. Two forms, mixed freely:

    accounts:
      acme.com: rep-a                      # a company domain and its owner (matched by domain only)
      Big Factory:                         # an account by name: its owner, domains and other names
        owner: rep-li
        domains: [bigfactory.cn, bigfactory.com]
        names: [大工厂, BF Group]

A lead belongs to an account when (first that holds):

1. its email domain is one of the account's domains, or a subdomain of one (never a free-mail
   domain: gmail.com is nobody's account);
2. its website is;
3. its company, without legal form (``shared/companies.py``), is the account's name or one of
   its ``names``, or alike enough: similarity at least :data:`NAME_MATCH_AT`.

Guarantees: pure and deterministic (no I/O, no clock); the same lead and accounts give the same
match; validation makes every domain and every normalised name belong to one account only, so
a match never has to choose between two owners of the same evidence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import field_validator

from leadrelay.shared.companies import company_similarity, normalised_company
from leadrelay.shared.identity import is_free_email_domain
from leadrelay.shared.policy.values import Identifier, Section, as_tuple

__all__ = ["NAME_MATCH_AT", "Account", "AccountIndex", "AccountMatch", "account_problems", "normalise_domain"]

# At or above, a lead's company is the account's (names compared without legal form). Chosen so
# that a typo or a spacing ("Big Factory" / "BigFactory Co., Ltd." / "Big Factroy") matches and
# a different firm sharing a word ("Acme" / "Acme Plastics", "Acme" / "Acne") does not: a wrong
# match hands a lead to a rep who does not own it, so the bar sits above the dedup's review zone.
NAME_MATCH_AT = 0.9
# One name inside the other counts (0.95) only when the shorter is this long: "bigfactory" in
# "bigfactorygroup" is the group; "acme" in "acmeplastics" is another company. A shorter Chinese
# name ("示例制造" in "上海示例制造") is listed under ``names`` instead.
_CONTAINED_MIN_LENGTH = 6

Evidence = Literal["email domain", "website", "company name"]


def normalise_domain(domain: str) -> str:
    """``WWW.Acme.com`` / ``@acme.com`` / ``https://acme.com/`` -> ``acme.com``."""
    text = domain.strip().casefold()
    text = re.sub(r"^[a-z]+://", "", text).split("/")[0].lstrip("@")
    return text.removeprefix("www.")


class Account(Section):
    """One named account. ``names``: other names the company goes by (a Chinese and an English
    name, a brand); the account's own name (its key) counts too, unless the key is one of its
    domains (the short form ``acme.com: rep-a``)."""

    owner: Identifier
    domains: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    @field_validator("domains", mode="before")
    @classmethod
    def _normalise(cls, domains: Any) -> Any:
        domains = as_tuple(domains)
        if not isinstance(domains, (list, tuple)):
            return domains
        return tuple(normalise_domain(d) if isinstance(d, str) else d for d in domains)

    @field_validator("domains")
    @classmethod
    def _real_domains(cls, domains: tuple[str, ...]) -> tuple[str, ...]:
        for domain in domains:
            if "." not in domain or " " in domain:
                raise ValueError(f"{domain!r} is not a domain (like bigfactory.cn)")
        return tuple(dict.fromkeys(domains))

    @field_validator("names", mode="before")
    @classmethod
    def _listed(cls, names: Any) -> Any:
        return as_tuple(names)

    @field_validator("names")
    @classmethod
    def _comparable(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if not normalised_company(name):
                raise ValueError(f"{name!r} has nothing left to compare once its legal form is stripped")
        return names

    def matched_names(self, key: str) -> tuple[str, ...]:
        """The names a lead's company is compared with."""
        own = () if normalise_domain(key) in self.domains else (key,)
        return own + self.names

    def short_form(self, key: str) -> bool:
        """Written as ``domain: owner``: dumped back that way."""
        return self.domains == (normalise_domain(key),) and not self.names


def accounts_from_document(accounts: Any) -> Any:
    """The section as written -> {name: Account fields}: ``domain: owner`` becomes an account
    named by its (normalised) domain, with that one domain."""
    if not isinstance(accounts, Mapping):
        return accounts
    found: dict[Any, Any] = {}
    for key, value in accounts.items():
        if isinstance(value, str):
            domain = normalise_domain(str(key))
            found[domain] = {"owner": value, "domains": [domain]}
        else:
            found[str(key).strip()] = value
    return found


def accounts_to_document(accounts: Mapping[str, Account]) -> dict[str, Any]:
    return {key: account.owner if account.short_form(key) else account.model_dump(mode="json")
            for key, account in accounts.items()}


def account_problems(accounts: Mapping[str, Account]) -> list[tuple[str, str]]:
    """A domain or a normalised name claimed by two accounts: which would a lead belong to?"""
    problems: list[tuple[str, str]] = []
    domains: dict[str, str] = {}
    names: dict[str, str] = {}
    for key, account in accounts.items():
        for domain in account.domains:
            if domain in domains and domains[domain] != key:
                problems.append((f"accounts.{key}.domains", f"{domain} is already account {domains[domain]}'s"))
            domains.setdefault(domain, key)
        for name in account.matched_names(key):
            normal = normalised_company(name)
            if normal in names and names[normal] != key:
                problems.append((f"accounts.{key}.names", f"{name!r} is already account {names[normal]}'s name"))
            names.setdefault(normal, key)
    return problems


@dataclass(frozen=True)
class AccountMatch:
    """A lead's named account, and what it was found by."""

    account: str  # the account's name (its key in the policy)
    owner: str
    by: Evidence
    evidence: str  # the domain, or the lead's company as written
    score: float = 1.0  # the company names' similarity; 1.0 for a domain

    def describe(self) -> str:
        """``account Big Factory matched by email domain bigfactory.cn``; ``account acme.com`` when
        the account is named by the domain that matched."""
        if self.account == self.evidence:
            return f"account {self.account}"
        said = f"account {self.account} matched by {self.by} {self.evidence}"
        return said + (f" ({self.score:.2f})" if self.by == "company name" and self.score < 1 else "")


class AccountIndex:
    """The accounts of one policy, ready to match leads against (build once per policy)."""

    def __init__(self, accounts: Mapping[str, Account]) -> None:
        self.domains: dict[str, tuple[str, Account]] = {}
        self.names: list[tuple[str, str, Account]] = []  # (normalised name, account key, account)
        for key, account in accounts.items():
            for domain in account.domains:
                self.domains.setdefault(domain, (key, account))
            for name in account.matched_names(key):
                self.names.append((normalised_company(name), key, account))
        self.names.sort(key=lambda entry: (entry[1], entry[0]))
        self.exact = {normal: (key, account) for normal, key, account in reversed(self.names)}

    def __bool__(self) -> bool:
        return bool(self.domains or self.names)

    def match(self, email_domain: str | None, website: Any = None, company: Any = None) -> AccountMatch | None:
        """The lead's account by its email domain, its website, then its company; None otherwise."""
        if isinstance(email_domain, str) and email_domain.strip():
            domain = normalise_domain(email_domain)
            if not is_free_email_domain(domain) and (found := self._by_domain(domain)) is not None:
                return AccountMatch(found[0], found[1].owner, "email domain", found[2])
        if isinstance(website, str) and website.strip():
            if (found := self._by_domain(normalise_domain(website))) is not None:
                return AccountMatch(found[0], found[1].owner, "website", found[2])
        if isinstance(company, str) and self.names:
            return self._by_name(company)
        return None

    def _by_domain(self, domain: str) -> tuple[str, Account, str] | None:
        """The account of ``domain`` or of a parent domain (sales.bigfactory.cn is bigfactory.cn)."""
        labels = domain.split(".")
        for start in range(len(labels) - 1):
            candidate = ".".join(labels[start:])
            if candidate in self.domains:
                key, account = self.domains[candidate]
                return key, account, candidate
        return None

    def _by_name(self, company: str) -> AccountMatch | None:
        normal = normalised_company(company)
        if not normal:
            return None
        if normal in self.exact:
            key, account = self.exact[normal]
            return AccountMatch(key, account.owner, "company name", company.strip())
        best: tuple[float, str, Account] | None = None
        for name, key, account in self.names:
            score = company_similarity(name, normal, contained_min_length=_CONTAINED_MIN_LENGTH)
            if score >= NAME_MATCH_AT and (best is None or score > best[0]):
                best = (score, key, account)
        if best is None:
            return None
        score, key, account = best
        return AccountMatch(key, account.owner, "company name", company.strip(), round(score, 2))
