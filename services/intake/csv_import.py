"""Importing a CSV of leads through the same validation and durable publish as the API.

Each row's dedup key is a hash of its content, so importing the same file twice (after a
crash half-way, say) adds nothing the first run already accepted.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from leadrelay.services.intake.accept import accept_lead
from leadrelay.services.intake.validation import LeadIn, parse_lead, to_contact
from leadrelay.shared.problems import Problem
from leadrelay.shared.runtime import Runtime

KNOWN_COLUMNS = set(LeadIn.model_fields) - {"attributes"}


@dataclass
class ImportReport:
    new: int = 0  # rows accepted for the first time
    already: int = 0  # rows an earlier import accepted (their idempotency record was there): nothing added
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    @property
    def accepted(self) -> int:
        return self.new + self.already


def rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, lead body) for each data row; unknown columns become attributes."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            body: dict[str, Any] = {}
            attributes: dict[str, str] = {}
            for column, value in row.items():
                if column is None or value is None or value.strip() == "":
                    continue
                name = column.strip().lower()
                if name in KNOWN_COLUMNS:
                    body[name] = value.strip()
                else:
                    attributes[column.strip()] = value.strip()
            if "employees" in body:
                body["employees"] = _int_or_text(body["employees"])
            if "consent" in body:
                body["consent"] = body["consent"].lower() in ("1", "true", "yes", "y")
            if attributes:
                body["attributes"] = attributes
            yield line, body


def _int_or_text(value: str) -> int | str:
    cleaned = value.replace(",", "").strip()
    return int(cleaned) if cleaned.isdigit() else value


def count_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return max(0, sum(1 for _ in csv.reader(handle)) - 1)


async def import_csv(runtime: Runtime, path: Path, source: str, progress: Callable[[], None] = lambda: None
                     ) -> ImportReport:
    report = ImportReport()
    for line, body in rows(path):
        try:
            lead = parse_lead(body)
            contact = to_contact(lead)
            raw = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
            accepted = await accept_lead(runtime, source=source, source_kind="csv", contact=contact,
                                         external_id=lead.external_id,
                                         dedup_key="csv:" + hashlib.sha256(raw).hexdigest(), body_fingerprint=raw)
            if accepted.replayed:
                report.already += 1
            else:
                report.new += 1
        except Problem as problem:
            where = ", ".join(f"{e['field']}: {e['reason']}" for e in problem.errors) or problem.detail
            report.rejected.append((line, where))
            if problem.status >= 500:
                raise
        finally:
            progress()
    return report
