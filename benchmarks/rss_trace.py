"""Where the memory peak is: run `postmortem analyze` and sample the RSS of every process of its tree (the
analysis and its workers) every 0.2 s, with the main process's stage boundaries (ingest, reading the
workers' frames back, the events table, the analysis' stages) marked in the timeline.

    python benchmarks/rss_trace.py [--every 0.2] [--out trace.json] -- <file or folder> -f json -o out.json

Prints the timeline (summed and per process, MiB), the summed peak and when it was, each process's peak,
and CPU seconds (user + sys of the analysis and the workers it waited for)."""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

MARKED = {  # module: functions whose start and end are marked in the main process
    "postmortem.analysis.pipeline": ("ingest", "align", "canonical_events", "build_context", "run_detectors",
                                     "error_bursts", "message_templates", "with_sections", "redact_report"),
    "postmortem.analysis.replay.section": ("whatif_section",),
    "postmortem.input.ingest": ("ingest_parts", "build_events", "fill_time_ranges"),
    "postmortem.input.workers": ("load_frames",),
}


def rss_by_pid(root: int) -> dict[int, int]:
    """Resident bytes of `root` and of each of its descendants, by process id."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[pid] = int(line.split()[1]) * 1024
        except OSError:
            pass
    return out


def _marked_cli(log_path: str, argv: list[str]) -> None:
    """The CLI's `analyze` with each MARKED function's start and end written to `log_path` (time, own RSS)."""
    import importlib
    import threading

    log = open(log_path, "w", buffering=1)  # noqa: SIM115 - open for the whole run
    high = [0]  # the main process's highest RSS since the last mark, sampled every 5 ms by a thread
    page = os.sysconf("SC_PAGE_SIZE")

    def own_rss() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * page

    def sample() -> None:
        while True:
            high[0] = max(high[0], own_rss())
            time.sleep(0.005)

    threading.Thread(target=sample, daemon=True).start()

    def mark(label: str) -> None:
        now = own_rss()
        log.write(f"{time.time():.3f} {now >> 20} {label} (high since the last mark {max(high[0], now) >> 20})\n")
        high[0] = now

    def wrapped(fn, label):
        @functools.wraps(fn)
        def inner(*a, **k):
            mark(f"> {label}")
            try:
                return fn(*a, **k)
            finally:
                mark(f"< {label}")
        return inner

    from postmortem.analysis import detectors

    for det in detectors.DETECTORS:  # each detector, its findings listed so that a lazy rule is measured
        detect = det.detect
        object.__setattr__(det, "detect", wrapped(lambda e, c, d=detect: list(d(e, c)), det.rule.rule_id))
    for name, fns in MARKED.items():
        mod = importlib.import_module(name)
        for fn in fns:
            setattr(mod, fn, wrapped(getattr(mod, fn), f"{name.rsplit('.', 1)[1]}.{fn}"))
    from postmortem import cli

    sys.argv = ["postmortem", "analyze", *argv]
    try:
        cli.main()
    finally:
        mark("end")


def trace(argv: list[str], every: float, marks_path: str) -> dict:
    """Run the marked analysis; the samples (seconds from start, {pid: bytes}), marks, CPU s and wall."""
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, __file__, "--child", marks_path, "--", *argv], stdout=subprocess.DEVNULL)
    samples = []
    while True:
        pid, _, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        samples.append((time.time() - t0, rss_by_pid(proc.pid)))
        time.sleep(every)
    marks = []
    for line in Path(marks_path).read_text().splitlines():
        t, rss, label = line.split(" ", 2)
        marks.append((float(t) - t0, int(rss), label))
    return {"samples": samples, "marks": marks, "cpu_s": usage.ru_utime + usage.ru_stime,
            "wall_s": time.time() - t0}


def report(run: dict, step: float) -> None:
    marks, m, last = run["marks"], 0, -step
    for t, procs in run["samples"]:
        while m < len(marks) and marks[m][0] <= t:
            print(f"        {marks[m][0]:7.1f} s  {marks[m][2]} (main {marks[m][1]} MiB)")
            m += 1
        if t - last >= step:
            print(f"{t:7.1f} s  sum {sum(procs.values()) >> 20:5d} MiB  "
                  + "  ".join(f"{p}: {r >> 20}" for p, r in sorted(procs.items())))
            last = t
    peak_t, peak = max(run["samples"], key=lambda s: sum(s[1].values()))
    per: dict[int, int] = {}
    for _, procs in run["samples"]:
        for p, r in procs.items():
            per[p] = max(per.get(p, 0), r)
    print(f"wall {run['wall_s']:.1f} s, CPU {run['cpu_s']:.1f} s, peak summed {sum(peak.values()) >> 20} MiB "
          f"at {peak_t:.1f} s; each process's peak (MiB): " + ", ".join(f"{p}: {r >> 20}" for p, r in per.items()))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        _marked_cli(sys.argv[2], sys.argv[4:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--every", type=float, default=0.2, help="seconds between samples")
    ap.add_argument("--step", type=float, default=5.0, help="seconds between printed samples")
    ap.add_argument("--out", help="write the samples and marks as JSON here")
    ap.add_argument("args", nargs="+", help="the arguments of `postmortem analyze`")
    args = ap.parse_args()
    marks_path = (args.out or "rss-trace") + ".marks"
    run = trace(args.args, args.every, marks_path)
    if args.out:
        Path(args.out).write_text(json.dumps(run))
    report(run, args.step)


if __name__ == "__main__":  # spawned workers import this file as __mp_main__: they must not run it
    main()
