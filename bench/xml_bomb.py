"""Peak memory of parsing a "quadratic blowup" feed, with and without SpaceWatch's defence.

    python bench/xml_bomb.py

A ~100 KB document whose DOCTYPE defines one 50 KB entity referenced 10,000 times. Each
parse runs in a child process (address space capped at 12 GiB so the undefended case cannot
take the machine down); the figure is the child's peak RSS. How far feedparser alone expands
such a document depends on the expat build it meets (expat >= 2.4 stops amplification and
feedparser then falls back to its lenient parser); SpaceWatch does not rely on either: the
internal subset is removed before feedparser sees the bytes.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import resource, sys, time
sys.path.insert(0, {root!r})
import feedparser
from pipeline.normalize import defuse_xml
entity = "A" * 50 * 1024
body = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY big "' + entity + '">]>'
        '<rss version="2.0"><channel><title>t</title><item><title>bomb</title><guid>q</guid>'
        '<description>' + "&big;" * 10000 + '</description></item></channel></rss>').encode()
if {defended}:
    body, _ = defuse_xml(body)
t = time.perf_counter()
try:
    parsed = feedparser.parse(body)
    size = sum(len(e.get("summary", "")) for e in parsed.entries)
    outcome = "parsed"
except MemoryError:
    size, outcome = -1, "MemoryError"
# VmHWM: this process image's own peak (ru_maxrss would carry the parent's over exec).
hwm = next(int(line.split()[1]) for line in open("/proc/self/status")
           if line.startswith("VmHWM:"))
print(hwm, len(body), size, outcome, round(time.perf_counter() - t, 2))
"""


def run(defended: bool) -> tuple[str, int]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (12 * 2**30, 12 * 2**30))

    proc = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT),
                                                               defended=defended)],
                          capture_output=True, text=True, preexec_fn=limit, timeout=900)
    if proc.returncode != 0 or not proc.stdout.strip():
        return (proc.stderr.strip().splitlines() or ["no output"])[-1], 0
    peak_kb, rest = proc.stdout.split(maxsplit=1)
    return rest.strip(), int(peak_kb)  # the child's own peak RSS


def main() -> None:
    print("quadratic blowup: ~100 KB document, one 50 KB entity x 10,000 references")
    print(f"{'case':28} {'peak RSS':>10}  result (doc bytes, text chars, outcome, seconds)")
    result, peak = run(defended=True)
    print(f"{'with defuse_xml (SpaceWatch)':28} {peak / 1024:8.0f} MB  {result}")
    result, peak = run(defended=False)
    print(f"{'feedparser alone':28} {peak / 1024:8.0f} MB  {result}")


if __name__ == "__main__":
    main()
