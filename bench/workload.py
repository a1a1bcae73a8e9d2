"""What the pipeline benchmarks post, and where their chat messages go: one lead body and one
Slack-like sink shared by ``embedded_pipeline.py``, ``kafka_pipeline.py`` and ``rss_run.py``."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import textwrap

# -- the leads -----------------------------------------------------------------------------------

REGIONS = [("CN", "Shanghai"), ("CN", "Beijing"), ("CN", "Guangdong"), ("CN", "Zhejiang"), ("JP", None),
           ("US", None), ("DE", None), ("GB", None), ("BR", None)]
INDUSTRIES = ["manufacturing", "software", "finance", "retail", "education", "energy", "automotive"]
TITLES = ["CTO", "Engineer", "Head of IT", "Buyer", "Director of Operations", "Analyst", "总经理"]


def lead_body(run: str, i: int) -> dict:
    """Lead ``i`` of a run: spread over the example policy's territories, industries and sizes,
    one in four with a free-mail address; ``run`` keeps runs on one database apart."""
    rnd = random.Random(i)
    country, region = rnd.choice(REGIONS)
    domain = rnd.choice(["gmail.com", "qq.com", "163.com"]) if i % 4 == 0 else f"co{i % 300}-{run}.example.com"
    body = {"email": f"bench{i}.{run}@{domain}", "name": f"Bench {i}", "company": f"Company {i % 300}",
            "title": rnd.choice(TITLES), "country": country, "industry": rnd.choice(INDUSTRIES),
            "employees": rnd.choice([5, 40, 120, 800, 5000]), "utm_source": "bench",
            "utm_campaign": "demo-request" if i % 5 == 0 else "newsletter"}
    if region:
        body["region"] = region
    return body


# -- a chat sink ---------------------------------------------------------------------------------

SINK = textwrap.dedent("""
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Ok(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    print(server.server_address[1], flush=True)
    server.serve_forever()
""")


def start_chat_sink() -> tuple[subprocess.Popen, str]:
    """A Slack-like incoming webhook in another process (so it takes none of the measured
    process's CPU) that answers every POST with Slack's ``200 ok``. Returns it and its base URL."""
    proc = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    port = proc.stdout.readline().strip()  # type: ignore[union-attr]
    return proc, f"http://127.0.0.1:{port}"


_CHAT_WEBHOOK = re.compile(r'(webhook:\s*")[^"]*/([^"/]+)"')


def policy_with_chat_sink(policy: str, sink_url: str) -> str:
    """The policy with every chat webhook pointed at the sink (``<sink>/services/T000/B000/<person>``,
    shaped like a Slack incoming-webhook URL). Raises ValueError when the policy has none."""
    rewritten, count = _CHAT_WEBHOOK.subn(lambda m: f'{m[1]}{sink_url}/services/T000/B000/{m[2]}"', policy)
    if count == 0:
        raise ValueError("the policy names no chat webhook to point at the sink")
    return rewritten
