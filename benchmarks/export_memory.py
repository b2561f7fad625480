"""Peak memory of reading a big log-platform export (issue 22: big exports stream like big logs).

Writes an export of about SIZE MiB by repeating the recorded storm converted into LAYOUT
(tools/export_fixture.py; each copy keeps its entries, so the events grow with the file as in a real
export), then ingests it in a child process and prints the child's peak RSS, CPU seconds and wall time,
with the file's accounting (lines, events, unrecognized).

    python benchmarks/export_memory.py --size-mib 512 --layout loki_jsonl --out /tmp/big.jsonl
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import export_fixture  # noqa: E402

STORM = ROOT / "tests" / "data" / "recorded" / "storm"
CHILD = """
import json, sys
from postmortem.input.ingest import ingest
r = ingest([sys.argv[1]])
(f,) = r.inputs
print(json.dumps({"parser": f.parser, "lines": f.lines, "events": r.events.height, "event_lines": f.event_lines,
                  "unrecognized": f.unrecognized_lines, "accounted": f.accounted(), "problems": f.problems[:3]}))
"""


def write_export(layout: str, size_mib: int, out: Path) -> None:
    """The storm in `layout`, repeated until the file holds `size_mib` MiB (a CSV keeps one header)."""
    (text,) = export_fixture.convert(STORM, layout).values()
    head, body = ("", text)
    if layout.endswith("_csv"):
        head, _, body = text.partition("\n")
        head += "\n"
    copies = max(1, size_mib * 1024 * 1024 // len(body.encode("utf-8")))
    with out.open("w", encoding="utf-8", newline="") as fh:
        fh.write(head)
        for _ in range(copies):
            fh.write(body)


def measure(path: Path) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "size_mib": round(path.stat().st_size / 2**20),
            "peak_rss_mib": round(usage.ru_maxrss / 1024), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "wall_s": round(wall, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--layout", default="loki_jsonl", choices=sorted(export_fixture.LAYOUTS))
    ap.add_argument("--out", type=Path, default=Path("/tmp/postmortem-big-export"))
    ap.add_argument("--reuse", action="store_true", help="measure the file at --out as it is")
    args = ap.parse_args()
    if not args.reuse:
        write_export(args.layout, args.size_mib, args.out)
    print(json.dumps(measure(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
