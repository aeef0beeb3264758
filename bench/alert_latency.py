"""Alert latency: from the fetch that brings a matching article to the webhook receiving
its alert, through the real daemon.

    python bench/alert_latency.py [--trials 20]

The daemon (APScheduler, as ``spacewatch run`` runs it) runs in this process on a feed on
127.0.0.1 polled every second, with an alert rule whose webhook is a receiver on 127.0.0.1.
Each trial adds one on-topic article to the feed, dated a week after the previous one so
that it starts a story of its own (one alert per story). The latency of a trial runs from
the moment the feed server answered the GET that first carried the article to the moment
the receiver got the alert naming it: fetch, parse, store, NER, matching, stories, queueing
and the POST. Both clocks are this process's. A warm-up trial (the model loads) is not
counted. Target: under 2 s.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT  # noqa: E402
from pipeline.daemon import Daemon, DaemonOptions  # noqa: E402

TEXT = ("Roscosmos head Dmitry Bakanov and acting NASA Administrator Sean Duffy agreed to "
        "extend the cross-flight program. Cosmonaut Oleg Platonov will fly on Crew-11 aboard "
        "Crew Dragon, and an American astronaut will ride a Soyuz. The two agencies also "
        "discussed ISS deorbit plans and the extension of the International Space Station.")


class Servers:
    """The feed (items added one by one; when each was first served) and the webhook (when
    each alert arrived, by the titles it names)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []  # (guid, title, RFC 822 date)
        self.first_served: dict[str, float] = {}
        self.alerted: dict[str, float] = {}
        self.lock = threading.Lock()
        servers = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                with servers.lock:
                    items = list(servers.items)
                body = servers.feed(items)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                now = time.monotonic()
                with servers.lock:
                    for _guid, title, _date in items:
                        servers.first_served.setdefault(title, now)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.monotonic()
                with servers.lock:
                    for article in json.loads(body).get("articles", []):
                        servers.alerted.setdefault(article["title"], now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def feed(self, items: list[tuple[str, str, str]]) -> bytes:
        parts = [f"<item><title>{escape(title)}</title><link>{self.base}/a/{guid}</link>"
                 f"<guid>{guid}</guid><pubDate>{when}</pubDate>"
                 f"<description>{escape(TEXT)}</description></item>"
                 for guid, title, when in items]
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>bench</title><link>{self.base}</link><description>b</description>"
                f"{''.join(parts)}</channel></rss>").encode()

    def add(self, n: int) -> str:
        title = f"Bakanov and Duffy agree to extend cross-flights, round {n}"
        when = format_datetime(datetime(2024, 1, 1, 9, tzinfo=UTC) + timedelta(days=7 * n),
                               usegmt=True)
        with self.lock:
            self.items.append((f"bench-{n}", title, when))
        return title

    def __enter__(self) -> Servers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="Seconds to wait for one alert before giving up.")
    args = parser.parse_args(argv)
    # A 1 s feed interval: runs skipped while one is under way are expected, not news.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp, Servers() as servers:
        folder = Path(tmp)
        shutil.copytree(ROOT / "seeds", folder / "seeds")
        (folder / "feeds.yaml").write_text(
            "settings: {jitter: 0s, full_text: false, nlp_processes: 1}\n"
            f"feeds:\n  - {{name: wire, url: '{servers.base}/feed.xml', interval: 1s}}\n"
            "alerts:\n  - name: bench\n    seeds: ['*']\n    min_score: 0.0\n"
            f"    webhook: {servers.base}/hook\n")
        daemon = Daemon(DaemonOptions(config_path=folder / "feeds.yaml",
                                      db_path=folder / "bench.db",
                                      digest_dir=folder / "digests"))
        runner = threading.Thread(target=daemon.run, daemon=True)
        runner.start()
        latencies: list[float] = []
        try:
            for n in range(args.trials + 1):  # trial 0 warms up (model load)
                title = servers.add(n)
                deadline = time.monotonic() + args.timeout
                while title not in servers.alerted:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"no alert for trial {n} within {args.timeout:g}s")
                    time.sleep(0.01)
                if n:
                    latencies.append(servers.alerted[title] - servers.first_served[title])
        finally:
            daemon.stop()
            runner.join(timeout=30)
    latencies.sort()
    result = {"trials": float(len(latencies)), "min_s": latencies[0],
              "median_s": statistics.median(latencies),
              "p90_s": latencies[min(len(latencies) - 1, int(0.9 * len(latencies)))],
              "max_s": latencies[-1]}
    print(f"alert latency over {len(latencies)} trials (fetch that brought the article -> "
          "webhook received the alert):")
    print("  min {min_s:.2f} s   median {median_s:.2f} s   p90 {p90_s:.2f} s   "
          "max {max_s:.2f} s".format(**result))
    print(f"  target < 2 s at p90: {'yes' if result['p90_s'] < 2.0 else 'NO'}")
    return result


if __name__ == "__main__":
    main()
