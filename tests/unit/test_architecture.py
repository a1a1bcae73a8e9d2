"""The house rules, checked on the source: which layer may import which, and what stays pure.

Layers, bottom to top (see docs/architecture.md):
- the pure domain (policy, identity, events, scoring and routing arithmetic, message builders):
  no I/O library, and nothing it imports (directly or not) does I/O either;
- ``leadrelay.shared`` contracts and ports (events, ports, settings, metrics, web deps);
- ``leadrelay.services.*``: each service on the contracts and ports only; never another service,
  never a concrete adapter;
- ``leadrelay.shared.adapters``: the concrete store and buses, behind the ports;
- ``leadrelay.shared.lab``: the policy lab (simulate, test cases, diff, demo leads), which may
  replay the services' *pure* domain and nothing else of theirs;
- ``leadrelay.shared.shell``: the composition root, CLI, app factory, consumer loop: the only code
  that imports services or a concrete adapter.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IO_LIBRARIES = {"sqlalchemy", "aiokafka", "httpx", "fastapi", "starlette", "asyncpg", "aiosqlite", "uvicorn",
                "alembic", "prometheus_client", "requests", "socket", "sqlite3", "subprocess", "typer", "rich",
                # Traces are the handlers', the shell's and the adapters' business, never the pure domain's.
                "opentelemetry"}
PURE_MODULES = [
    "leadrelay.shared.policy", "leadrelay.shared.policy.values", "leadrelay.shared.policy.hours",
    "leadrelay.shared.policy.people", "leadrelay.shared.policy.scoring", "leadrelay.shared.policy.sla",
    "leadrelay.shared.policy.rules", "leadrelay.shared.policy.document", "leadrelay.shared.policy.conditions",
    "leadrelay.shared.policy.facts", "leadrelay.shared.identity", "leadrelay.shared.events",
    "leadrelay.shared.policy.accounts", "leadrelay.shared.policy.protection", "leadrelay.shared.companies",
    "leadrelay.services.router.protection",
    "leadrelay.shared.action_links", "leadrelay.shared.erasure", "leadrelay.services.router.slack_interactions",
    "leadrelay.services.router.action_pages", "leadrelay.services.intake.field_names",
    "leadrelay.services.intake.lead_sync",
    "leadrelay.services.scoring.scoring", "leadrelay.services.scoring.dedup",
    "leadrelay.services.router.routing", "leadrelay.services.router.strategies",
    "leadrelay.services.router.availability", "leadrelay.services.router.business_hours",
    "leadrelay.services.router.sla", "leadrelay.services.router.clocks", "leadrelay.services.router.funnel",
    "leadrelay.services.notifier.messages", "leadrelay.services.notifier.platforms",
    "leadrelay.services.notifier.platforms.slack", "leadrelay.services.notifier.platforms.teams",
    "leadrelay.services.notifier.platforms.feishu", "leadrelay.services.notifier.platforms.dingtalk",
    "leadrelay.services.notifier.platforms.wecom",
    "leadrelay.services.notifier.targets", "leadrelay.services.notifier.targets.webhook",
    "leadrelay.services.notifier.webhook_events", "leadrelay.shared.signed_webhooks",
    "leadrelay.shared.policy.crm", "leadrelay.services.notifier.targets.crm",
    "leadrelay.services.notifier.targets.hubspot", "leadrelay.services.notifier.targets.salesforce",
    "leadrelay.services.router.hubspot_webhooks", "leadrelay.services.router.salesforce_outbound",
    "leadrelay.shared.lab.simulation", "leadrelay.shared.lab.cases", "leadrelay.shared.lab.diff",
    "leadrelay.shared.lab.demo_leads",
]
ADAPTERS = "leadrelay.shared.adapters"
SHELL = "leadrelay.shared.shell"
LAB = "leadrelay.shared.lab"


def module_files() -> dict[str, Path]:
    """Every module of the installed namespace, by dotted name, from the card's folders."""
    found = {}
    for folder in ("shared", "services"):
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(("leadrelay", *parts))] = path
    return found


MODULES = module_files()


@cache
def imports_of(module: str) -> frozenset[str]:
    """The project modules and outside libraries ``module`` imports (also inside functions)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names.add(base)
            # ``from leadrelay.shared.adapters.sql import schema`` imports the module ``…sql.schema``
            names.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return frozenset(names)


def project_imports(module: str) -> set[str]:
    return {name for name in imports_of(module) if name in MODULES}


def transitive_imports(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        for name in project_imports(todo.pop()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_every_pure_module_exists():
    assert [m for m in PURE_MODULES if m not in MODULES] == []


def test_the_pure_domain_imports_no_io_library_even_indirectly():
    for module in PURE_MODULES:
        for name in {module} | transitive_imports(module):
            libraries = {lib.split(".")[0] for lib in imports_of(name)} & IO_LIBRARIES
            assert not libraries, f"{module} reaches {sorted(libraries)} through {name}"
            assert not under(name, ADAPTERS) and not under(name, SHELL), f"{module} reaches {name}"


def test_a_service_never_imports_another_service_or_a_concrete_adapter_even_indirectly():
    for module in MODULES:
        if not module.startswith("leadrelay.services."):
            continue
        service = module.split(".")[2]
        for name in transitive_imports(module):
            assert not under(name, ADAPTERS) and not under(name, SHELL), f"{module} reaches {name}"
            if under(name, "leadrelay.services"):
                assert name.split(".")[2] == service, f"{module} reaches {name}"


def test_only_the_shell_imports_services_or_concrete_adapters():
    pure = set(PURE_MODULES)
    for module in MODULES:
        if under(module, SHELL) or under(module, "leadrelay.services"):
            continue
        for name in project_imports(module):
            if under(name, "leadrelay.services"):
                assert under(module, LAB) and name in pure, f"{module} imports {name}"
            if under(name, ADAPTERS):
                assert under(module, ADAPTERS), f"{module} imports {name}"


def test_no_module_uses_another_modules_private_names():
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("leadrelay"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{module} imports {private} from {node.module}"
        imported = {alias.asname or alias.name.rsplit(".", 1)[-1] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("leadrelay")
                    for alias in node.names}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in imported):
                raise AssertionError(f"{module}:{node.lineno} uses {node.value.id}.{node.attr}")


def test_the_checks_see_what_they_check():
    """The graph is real: a known direct and a known indirect edge are found."""
    assert "leadrelay.shared.ports" in project_imports("leadrelay.shared.shell.consumer")
    assert "leadrelay.shared.policy.conditions" in transitive_imports("leadrelay.services.router.routing")
    assert {"sqlalchemy"} <= {n.split(".")[0] for n in imports_of("leadrelay.shared.adapters.sql.store")}


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
