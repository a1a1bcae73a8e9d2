"""The dependency rule, checked: services meet only in events and shared ports; the domain is pure."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IO_LIBRARIES = {"sqlalchemy", "aiokafka", "httpx", "fastapi", "starlette", "asyncpg", "aiosqlite", "uvicorn",
                "alembic", "prometheus_client", "requests", "socket", "sqlite3"}
PURE_MODULES = [
    "shared/policy.py", "shared/conditions.py", "shared/identity.py", "shared/facts.py", "shared/events.py",
    "services/scoring/scoring.py", "services/scoring/dedup.py",
    "services/router/routing.py", "services/router/strategies.py", "services/router/availability.py",
    "services/router/business_hours.py", "services/router/sla.py", "services/router/clocks.py",
    "services/notifier/platforms/__init__.py", "services/notifier/platforms/slack.py",
    "services/notifier/platforms/teams.py", "services/notifier/platforms/feishu.py",
    "services/notifier/platforms/dingtalk.py", "services/notifier/platforms/wecom.py", "services/notifier/messages.py",
]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_pure_domain_modules_import_no_io_library():
    for module in PURE_MODULES:
        roots = {name.split(".")[0] for name in imported_modules(ROOT / module)}
        assert not roots & IO_LIBRARIES, f"{module} imports {sorted(roots & IO_LIBRARIES)}"


def test_a_service_never_imports_another_service_or_a_concrete_adapter():
    # The one exception: another service's *pure* domain, which the policy simulator replays
    # (scoring's rules before routing), touches no I/O and owns no state.
    pure = {module.removesuffix(".py").replace("/", ".") for module in PURE_MODULES}
    for path in (ROOT / "services").rglob("*.py"):
        service = path.relative_to(ROOT / "services").parts[0]
        for name in imported_modules(path):
            assert not name.startswith("shared.adapters"), f"{path.relative_to(ROOT)} imports {name}"
            if name.startswith("services.") and name not in pure:
                assert name.split(".")[1] == service, f"{path.relative_to(ROOT)} imports {name}"


# Reads of the real time. Intervals (time.monotonic, loop.time) are fine: they are never stored.
REAL_TIME_READS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
                   ("time", "time"), ("time", "time_ns")}


def real_time_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and (node.func.value.id, node.func.attr) in REAL_TIME_READS):
            found.append(f"{path}:{node.lineno} {node.func.value.id}.{node.func.attr}()")
    return found


def test_only_the_clock_module_reads_the_real_time():
    """Every time the product stores or compares comes from the runtime's injected clock, so the
    suite passes whatever today's date is (a real-clock stamp once made every chat delivery look
    days in the future to a test's clock)."""
    offenders = [hit for top in ("shared", "services") for path in sorted((ROOT / top).rglob("*.py"))
                 if path != ROOT / "shared" / "clock.py" for hit in real_time_reads(path)]
    assert offenders == []


def test_the_real_time_check_sees_a_real_time_read(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text("import time\nfrom datetime import UTC, datetime\nstamp = datetime.now(UTC)\nt = time.monotonic()\n"
                      "u = time.time()\n")
    assert [hit.split(" ")[1] for hit in real_time_reads(sample)] == ["datetime.now()", "time.time()"]
