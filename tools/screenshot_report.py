"""Render a fixture's HTML report, screenshot it in headless Chromium, and report console errors.

    python tools/screenshot_report.py tests/data/example-incident -o /tmp/report.png

Chromium runs offline in a fresh profile; its stderr log is scanned for script, CSP and console
errors. Exit 1 when there were any, so the check can run in CI where Chromium is installed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CONSOLE_ERROR = re.compile(r"Uncaught|Refused to|CONSOLE\(\d+\).*[Ee]rror|Content Security Policy|ERR_")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def render_html(inputs: list[str], html: Path) -> None:
    from postmortem.analysis.pipeline import AnalyzeOptions, analyze
    from reports.render import render

    report, _ = analyze(inputs, AnalyzeOptions())
    html.write_text(render(report, "html"), encoding="utf-8")


def screenshot(html: Path, png: Path, size: str = "1280,4000") -> list[str]:
    """Take the screenshot; return the console/CSP error lines Chromium logged."""
    exe = next((shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n)), None)
    if exe is None:
        raise SystemExit("chromium not found (Debian: apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="pm-chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={size}",
               "--enable-logging=stderr", "--v=0", html.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if not png.exists():
        raise SystemExit(f"chromium wrote no screenshot (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return [line for line in proc.stderr.splitlines() if CONSOLE_ERROR.search(line)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help="incident folder(s) or files")
    ap.add_argument("-o", "--output", default="report.png", help="PNG to write")
    ap.add_argument("--html", help="also keep the HTML here")
    ap.add_argument("--window-size", default="1280,4000")
    args = ap.parse_args(argv)
    png = Path(args.output)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="pm-report-") as tmp:
        html = Path(args.html) if args.html else Path(tmp) / "report.html"
        render_html(args.inputs, html)
        errors = screenshot(html, png, args.window_size)
    print(f"screenshot: {png} ({png.stat().st_size} bytes)")
    if errors:
        print(f"console errors: {len(errors)}")
        for line in errors:
            print(f"  {line}")
        return 1
    print("console errors: none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
