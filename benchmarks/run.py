"""Performance benchmark: `postmortem analyze -f json` on generated folders of 100 MiB, 1 GiB, 3 GiB.

Prints, from one run, per size: wall time, peak RSS, MB/s, lines/s, and the ratio to
`rg -c ERROR` (or `grep -c ERROR` where ripgrep is missing) timed on the same files in the same run.
Targets (issue 9): 1 GiB ≤ 30× rg and ≤ 1 GiB RSS; 3 GiB ≤ 3.3× the 1 GiB time, RSS still ≤ 1 GiB.

    python benchmarks/run.py --sizes 100,1024,3072 [--work /tmp/pm-bench]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate  # noqa: E402


def _timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, int, int]:
    """Run cmd; return (wall seconds, peak RSS bytes of the child, exit code)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    # /usr/bin/time gives the child's own peak RSS even when an earlier child was bigger
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    try:
        rss_kib = int(proc.stderr.strip().splitlines()[-1])
    except (ValueError, IndexError):
        rss_kib = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return wall, rss_kib * 1024, proc.returncode


def _baseline_cmd(folder: Path) -> tuple[list[str], str]:
    files = sorted(str(p) for p in folder.iterdir() if p.is_file())
    if shutil.which("rg"):
        return ["rg", "-c", "ERROR", *files], "rg -c ERROR"
    return ["grep", "-c", "ERROR", *files], "grep -c ERROR"


def bench(size_mib: int, work: Path) -> dict:
    folder = work / f"{size_mib}mib"
    marker = folder / ".facts"
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        facts = generate(folder, size_mib)
        marker.write_text(f"{facts['bytes']} {facts['lines']}")
    size_bytes, lines = (int(x) for x in marker.read_text().split())
    base_cmd, base_name = _baseline_cmd(folder)
    base_wall, _, _ = _timed(base_cmd)
    out = work / f"report-{size_mib}.json"
    wall, rss, code = _timed([sys.executable, "-m", "postmortem.cli", "analyze", str(folder), "-f", "json",
                              "-o", str(out), "--exit-zero"])
    return {
        "size_mib": size_mib, "bytes": size_bytes, "lines": lines, "wall_s": wall, "rss_mib": rss / 2**20,
        "mb_s": size_bytes / 2**20 / wall, "lines_s": lines / wall, "baseline": base_name,
        "baseline_s": base_wall, "ratio": wall / base_wall if base_wall else float("nan"), "exit": code,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1024,3072", help="comma-separated MiB sizes")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "pm-bench")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"{'size':>8} {'wall s':>8} {'RSS MiB':>8} {'MB/s':>7} {'lines/s':>10} {'baseline s':>10} {'ratio':>6} exit")
    for size in (int(s) for s in args.sizes.split(",")):
        r = bench(size, args.work)
        rows.append(r)
        print(f"{r['size_mib']:>7}M {r['wall_s']:>8.2f} {r['rss_mib']:>8.0f} {r['mb_s']:>7.1f} {r['lines_s']:>10.0f} "
              f"{r['baseline_s']:>10.3f} {r['ratio']:>6.1f} {r['exit']}  ({r['baseline']})", flush=True)
    by = {r["size_mib"]: r for r in rows}
    if 1024 in by:
        r = by[1024]
        print(f"1 GiB: {r['ratio']:.1f}× {r['baseline']} (target ≤ 30×), RSS {r['rss_mib']:.0f} MiB (target ≤ 1024)")
    if 1024 in by and 3072 in by:
        scale = by[3072]["wall_s"] / by[1024]["wall_s"]
        print(f"3 GiB: {scale:.2f}× the 1 GiB time (target ≤ 3.3×), RSS {by[3072]['rss_mib']:.0f} MiB (target ≤ 1024)")


if __name__ == "__main__":
    main()
