"""Performance benchmark: `postmortem analyze -f json` on generated folders of 100 MiB, 1 GiB, 3 GiB.

Prints, from one run, per size: wall time, peak RSS (summed over the analysis and its worker
processes), MB/s, lines/s, and the ratio to `rg -c ERROR` (or `grep -c ERROR` where ripgrep is
missing) timed on the same files in the same run, warm; the ratio to `grep -c ERROR` is printed too.
Targets (issue 9): 1 GiB ≤ 30× rg and ≤ 1 GiB RSS; 3 GiB ≤ 3.3× the 1 GiB time, RSS still ≤ 1 GiB.

    python benchmarks/run.py --sizes 100,1024,3072 [--work /tmp/pm-bench]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate  # noqa: E402


def _tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants (worker processes count too)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def _timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, int, int]:
    """Run cmd; return (wall seconds, peak RSS bytes summed over the process tree, exit code).

    The tree is sampled every 50 ms, so a peak shorter than that can be missed; the child's own
    peak (getrusage) is a floor that cannot be."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.05)
    wall = time.perf_counter() - t
    return wall, max(peak, usage.ru_maxrss * 1024), os.waitstatus_to_exitcode(status)


def _baseline_cmds(folder: Path) -> list[tuple[list[str], str]]:
    files = sorted(str(p) for p in folder.iterdir() if p.is_file())
    cmds = [(["rg", "-c", "ERROR", *files], "rg -c ERROR")] if shutil.which("rg") else []
    return cmds + [(["grep", "-c", "ERROR", *files], "grep -c ERROR")]


def bench(size_mib: int, work: Path) -> dict:
    folder = work / f"{size_mib}mib"
    marker = folder / ".facts"
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        facts = generate(folder, size_mib)
        marker.write_text(f"{facts['bytes']} {facts['lines']}")
    size_bytes, lines = (int(x) for x in marker.read_text().split())
    baselines = []
    for cmd, name in _baseline_cmds(folder):
        _timed(cmd)  # once to warm the page cache, as the analysis finds it
        baselines.append((name, _timed(cmd)[0]))
    out = work / f"report-{size_mib}.json"
    wall, rss, code = _timed([sys.executable, "-m", "postmortem.cli", "analyze", str(folder), "-f", "json",
                              "-o", str(out), "--exit-zero"])
    base_name, base_wall = baselines[0]
    return {
        "size_mib": size_mib, "bytes": size_bytes, "lines": lines, "wall_s": wall, "rss_mib": rss / 2**20,
        "mb_s": size_bytes / 2**20 / wall, "lines_s": lines / wall, "baseline": base_name,
        "baseline_s": base_wall, "ratio": wall / base_wall if base_wall else float("nan"), "exit": code,
        "grep_ratio": wall / baselines[-1][1] if baselines[-1][1] else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1024,3072", help="comma-separated MiB sizes")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "pm-bench")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"{'size':>8} {'wall s':>8} {'RSS MiB':>8} {'MB/s':>7} {'lines/s':>10} {'baseline s':>10} {'ratio':>6} "
          f"{'grep×':>6} exit")
    for size in (int(s) for s in args.sizes.split(",")):
        r = bench(size, args.work)
        rows.append(r)
        print(f"{r['size_mib']:>7}M {r['wall_s']:>8.2f} {r['rss_mib']:>8.0f} {r['mb_s']:>7.1f} {r['lines_s']:>10.0f} "
              f"{r['baseline_s']:>10.3f} {r['ratio']:>6.1f} {r['grep_ratio']:>6.1f} {r['exit']}  ({r['baseline']})",
              flush=True)
    by = {r["size_mib"]: r for r in rows}
    if 1024 in by:
        r = by[1024]
        print(f"1 GiB: {r['ratio']:.1f}× {r['baseline']} (target ≤ 30×), RSS {r['rss_mib']:.0f} MiB (target ≤ 1024)")
    if 1024 in by and 3072 in by:
        scale = by[3072]["wall_s"] / by[1024]["wall_s"]
        print(f"3 GiB: {scale:.2f}× the 1 GiB time (target ≤ 3.3×), RSS {by[3072]['rss_mib']:.0f} MiB (target ≤ 1024)")


if __name__ == "__main__":
    main()
