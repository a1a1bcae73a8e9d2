"""`leadrelay run`: a busy port is refused before anything is made; a restart says how to get a key."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from typer.testing import CliRunner

from leadrelay.shared.settings import Settings
from leadrelay.shared.shell.bootstrap import build_app, build_runtime
from leadrelay.shared.shell.cli import app

runner = CliRunner()


def leadrelay(*args: object) -> "object":
    return runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False, prog_name="leadrelay")


def test_a_port_in_use_is_one_line_and_exit_2_before_any_key_or_file_is_made(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = leadrelay("run", "--port", port, "--data-dir", data)
    assert result.exit_code == 2
    assert result.stdout == ""  # no demo key printed, to be lost
    assert result.stderr.strip() == (f"Port {port} on 127.0.0.1 is in use (is Leadrelay running already?): "
                                      "stop that process or choose another --port.")
    assert not data.exists()


class Running:
    """``leadrelay run`` in a child process, read line by line."""

    def __init__(self, data: Path, *options: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("LEADRELAY_PUBLIC_URL", "LEADRELAY_LINK_SECRET")}
        env["LEADRELAY_LOG_LEVEL"] = "WARNING"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "leadrelay.shared.shell.cli", "run", "--port", "0", "--data-dir", str(data),
             *options],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=data.parent)
        self.stderr: list[str] = []

    def stderr_line_with(self, text: str) -> str:
        assert self.process.stderr is not None
        while line := self.process.stderr.readline():
            self.stderr.append(line)
            if text in line:
                return line
        raise AssertionError(f"leadrelay run ended without printing {text!r}: {''.join(self.stderr)}")

    def stop(self) -> str:
        """Stops it as Ctrl-C does; returns what it wrote on stdout."""
        self.process.send_signal(signal.SIGINT)
        stdout, rest = self.process.communicate(timeout=60)
        self.stderr += rest.splitlines(keepends=True)
        return stdout


def test_a_restart_says_in_one_line_how_to_get_a_new_demo_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = Running(data)
    first.stderr_line_with("embedded on")
    old_key = first.stop().strip().splitlines()[-1]
    assert old_key.startswith("lrs_")

    second = Running(data)
    hint = second.stderr_line_with("leadrelay sources")
    assert second.stop() == ""  # no key on a restart
    assert hint.strip().endswith(f"leadrelay sources rotate demo --data-dir {data.resolve()}")

    rotated = leadrelay("sources", "rotate", "demo", "--data-dir", data)
    assert rotated.exit_code == 0
    new_key = rotated.stdout.strip().splitlines()[-1]

    async def statuses() -> tuple[int, int]:
        runtime = build_runtime(Settings(data_dir=data))
        transport = httpx.ASGITransport(app=build_app(runtime))
        lead = {"email": "a@acme-example.cn"}
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://leadrelay.test") as client:
                old = await client.post("/v1/leads", json=lead, headers={"Authorization": f"Bearer {old_key}"})
                new = await client.post("/v1/leads", json=lead, headers={"Authorization": f"Bearer {new_key}"})
                return old.status_code, new.status_code
        finally:
            await runtime.store.dispose()

    assert asyncio.run(statuses()) == (401, 202)


def test_without_a_public_url_run_warns_once_and_makes_the_link_secret_on_first_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = Running(data)
    first.stderr_line_with("embedded on")
    warning = first.stderr_line_with("No public URL")
    assert "one-click action links" in warning
    first.stop()
    secret = (data / "link-secret").read_text().strip()
    assert len(secret) >= 32 and (data / "link-secret").stat().st_mode & 0o777 == 0o600
    assert sum("No public URL" in line for line in first.stderr) == 1

    second = Running(data, "--public-url", "https://leadrelay.example")
    second.stderr_line_with("embedded on https://leadrelay.example")
    second.stop()
    assert not any("No public URL" in line for line in second.stderr)
    assert (data / "link-secret").read_text().strip() == secret  # links sent before the restart still work
