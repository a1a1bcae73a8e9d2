"""The README's tour, run as a newcomer would: its shell block pasted into bash, top to bottom."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def tour_script() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A five-minute tour"):]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_the_readme_tour_runs_top_to_bottom(tmp_path: Path):
    for port in (8080, 9009):
        assert port_is_free(port), f"the tour needs port {port}, and something is listening there"
    # No pipefail: `… | head` closing early is fine in a terminal, and so it is here.
    script = "set -eu\n" + tour_script()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
    log = tmp_path / "tour.log"
    with log.open("w") as out:
        # Its own session: whatever the tour leaves running is killed with it, pass or fail.
        process = subprocess.Popen(["bash", "-c", script], cwd=tmp_path, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            process.wait(timeout=100)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    output = log.read_text()
    assert process.returncode == 0, output[-3000:]
    assert "HTTP/1.1 202 Accepted" in output
    assert "HTTP/1.1 422 Unprocessable Entity" in output and '"title":"Invalid field"' in output
    assert '"field":"email"' in output
    assert '"rule": "enterprise-by-territory"' in output  # the lead went where the README says
    owner = re.search(r'"owner": "(rep-[a-z]+)"', output).group(1)
    assert owner in ("rep-li", "rep-chen")
    assert f"to {owner}" in output  # the chat sink printed the owner's message
    # …with its one-click links, under it; the owner (rep-li or rep-chen) reads Chinese.
    for action, label in (("accepted", "接受"), ("contacted", "已联系"), ("not_mine", "不是我的")):
        assert f"[{action}] {label}: http://127.0.0.1:8080/v1/act/" in output
    assert "No public URL" not in output  # the tour gives `leadrelay run` one
    # The rep accepts from the printed link: the page (a GET) asks, its POST acts, once.
    assert "<h1>接受这条线索？</h1>" in output
    assert re.search(r"^HTTP/1.1 200 OK\r?\n(.|\n)*^HTTP/1.1 409 Conflict", output, re.M)
    assert f"accepted [('{owner}', 'link')]" in output
    # …then marks it contacted through the API.
    assert "HTTP/1.1 200 OK" in output and '"status":"contacted"' in output
    assert "leadrelay_leads_accepted_total" in output
