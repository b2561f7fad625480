"""Command line: the only module that prints, reads options and exits.

Exit codes: 0 no finding at or above --fail-on, 1 findings, 2 usage error, nothing could be read, or an
internal error (one line and a hint; POSTMORTEM_DEBUG=1 shows the traceback). Every message that quotes
input (file names, log text) is printed through `quoting.terminal`: no ESC/OSC sequence reaches the terminal.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from postmortem import __version__
from postmortem.allocator import configure
from postmortem.quoting import shorten, terminal

configure()  # before anything loads polars

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
SEVERITIES = ("info", "low", "medium", "high", "critical")


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 time", param_hint=name) from exc
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _source_types(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    from postmortem.input.ingest import parser_names

    known = parser_names()
    out = []
    for v in values:
        name, _, glob = v.partition("=")
        if name not in known:
            raise click.BadParameter(f"unknown parser {name!r}; known: {', '.join(known)}", param_hint="--source-type")
        out.append((name, glob or "*"))
    return tuple(out)


def _check_tz(tz: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise click.BadParameter(f"unknown time zone {tz!r}", param_hint="--tz") from exc
    return tz


def _zones(values: tuple[str, ...]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """--tz values: one ZONE for every zone-less time, and any number of ZONE=GLOB for matching files."""
    default, globs = [], []
    for v in values:
        zone, eq, glob = v.partition("=")
        if eq and not glob:
            raise click.BadParameter(f"{v!r}: ZONE=GLOB needs a glob", param_hint="--tz")
        (globs.append((_check_tz(zone), glob)) if eq else default.append(_check_tz(zone)))
    if len(set(default)) > 1:
        raise click.BadParameter(f"one zone for every file, got {', '.join(default)} (use ZONE=GLOB per file)",
                                 param_hint="--tz")
    return (default[0] if default else "UTC"), tuple(globs)


def _say(text: str) -> None:
    """One line to stderr, made safe for the terminal (untrusted names are quoted in most messages)."""
    click.echo(terminal(text), err=True)


def _split_rules(value: str | None, hint: str = "--select") -> tuple[str, ...]:
    """Rule IDs or ID prefixes; one that matches no rule is refused (as ruff does), not silently empty."""
    from postmortem.analysis.detectors import rules as all_rules

    wanted = tuple(s.strip().upper() for s in (value or "").split(",") if s.strip())
    known = [r.rule_id for r in all_rules()]
    for w in wanted:
        if not any(rid.startswith(w) for rid in known):
            raise click.BadParameter(f"unknown rule selector {w!r} (see `postmortem rules`)", param_hint=hint)
    return wanted


REPORT_SUFFIXES = {"md": "md", "markdown": "md", "html": "html", "htm": "html", "json": "json"}
EVENT_SUFFIXES = {"ndjson": "ndjson", "jsonl": "ndjson", "json": "ndjson", "csv": "csv", "parquet": "parquet"}


def _output_format(output: str | None, fmt: str | None, suffixes: dict[str, str], default: str) -> str:
    """The format for -o: from -f, else the file's extension; an unknown extension without -f, an
    extension of another format, or a missing folder is refused before any input is read."""
    if not output:
        return fmt or default
    path = Path(output)
    if not path.parent.is_dir():
        raise click.BadParameter(f"folder {str(path.parent)!r} does not exist (create it first)", param_hint="-o")
    suffix = path.suffix.lower().lstrip(".")
    by_suffix = suffixes.get(suffix)
    if fmt is None and by_suffix is None:
        raise click.BadParameter(f"unknown extension {path.suffix or '(none)'!r}: use one of "
                                 f"{', '.join('.' + s for s in suffixes)} or say -f", param_hint="-o")
    if fmt is not None and by_suffix is not None and by_suffix != fmt:
        raise click.BadParameter(f"{path.name!r} looks like {by_suffix}, but -f {fmt} was asked", param_hint="-o")
    return fmt or by_suffix


def _ingest_options(tz, year, now, source_type):
    from postmortem.input.ingest import IngestOptions

    zone, globs = _zones(tz)
    return IngestOptions(
        tz=zone, tz_globs=globs, year=year, now=_parse_time(now, "--now"), source_types=_source_types(source_type)
    )


NO_ALIGN_HELP = "Keep every source's times as read: no clock offsets inferred from shared edges are applied."

common_input_options = [
    click.option("--tz", multiple=True, metavar="ZONE[=GLOB]",
                 help="Zone for timestamps that carry none (default UTC); ZONE=GLOB for matching files only "
                      "(repeatable, first matching glob wins)."),
    click.option("--year", type=int, help="Year for year-less timestamps (default: from the other sources)."),
    click.option("--now", help="Reference time for relative ages like '5m' (default: file modification time)."),
    click.option(
        "--source-type", multiple=True, metavar="NAME[=GLOB]",
        help="Force a parser for matching files (see `postmortem formats`).",
    ),
]


def with_input_options(f):
    for opt in reversed(common_input_options):
        f = opt(f)
    return f


class _Guarded(click.Group):
    """A bug (an exception no stage turned into a warning) exits 2 with one line and a hint, never 1
    (which means "findings") and never a traceback the user must read; POSTMORTEM_DEBUG=1 re-raises."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("POSTMORTEM_DEBUG"):
                raise
            _say(f"postmortem: internal error: {type(exc).__name__}: {shorten(exc)} (a bug: rerun with "
                 "POSTMORTEM_DEBUG=1 for the traceback and report it with the input that caused it)")
            sys.exit(2)


@click.group(cls=_Guarded, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version")
def main() -> None:
    """Turn a folder of Redis incident logs into a written postmortem."""


@main.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-f", "--format", "fmt", type=click.Choice(["md", "gfm", "jira", "html", "json"]),
              help="Default: from -o, else md. gfm: Markdown to paste into a GitHub/GitLab issue; jira: Jira wiki "
                   "markup. On a terminal without -f or -o: a one-screen summary, the report in ./postmortem-<date>.md.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report here instead of stdout.")
@click.option("--since", help="Ignore events before this ISO-8601 time.")
@click.option("--until", help="Ignore events after this ISO-8601 time.")
@click.option("--select", help="Only these rules (comma-separated rule IDs or ID prefixes; see `postmortem rules`).")
@click.option("--ignore", help="Skip these rules (comma-separated IDs or prefixes).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="medium", show_default=True,
              help="Lowest finding severity that makes the exit code 1.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--strict", is_flag=True, help="Exit 2 if any input could not be read.")
@click.option("--no-redact", is_flag=True, help="Show secrets in the report (the report says so).")
@click.option("--generated-at", help="Timestamp to print in the report (default: none, for reproducible output).")
@click.option("--jobs", type=click.IntRange(min=1),
              help="Processes the analysis may use: workers that read a big input, or, for a small input on a machine "
                   "with an idle CPU, a second process that draws the charts (default: CPUs, at most 4; 1: everything "
                   "in this process).")
@click.option("--no-align", is_flag=True, help=NO_ALIGN_HELP)
@with_input_options
def analyze(paths, fmt, output, since, until, select, ignore, fail_on, exit_zero, strict, no_redact,
            generated_at, jobs, no_align, tz, year, now, source_type):
    """Analyze incident logs under PATHS and write a postmortem."""
    from postmortem.import_gc import imports_without_gc

    chosen = fmt
    fmt = _output_format(output, fmt, REPORT_SUFFIXES, "md")
    jobs = jobs or min(4, os.cpu_count() or 1)
    # charts are drawn for HTML and for Markdown written to a file (or to the terminal's report file)
    draws = fmt == "html" or (fmt == "md" and bool(output or (chosen is None and sys.stdout.isatty())))
    # with an idle CPU, a second process draws the charts while the analysis runs. It starts before this process
    # imports the analysis (~0.3 s), because on a small incident its matplotlib import and drawing are the longer path
    side = _side_process(list(paths)) if draws and jobs > 1 and _free_cpu() else None
    imports = None
    try:
        with imports_without_gc():
            from postmortem.analysis.pipeline import AnalyzeOptions
            from postmortem.analysis.pipeline import analyze as run
            from postmortem.model import Severity
            from reports.render import chart_files, prefetch, render

        opts = AnalyzeOptions(
            ingest=dataclasses.replace(_ingest_options(tz, year, now, source_type), jobs=jobs),
            select=_split_rules(select), ignore=_split_rules(ignore, "--ignore"), redact=not no_redact,
            generated_at=generated_at, since=_parse_time(since, "--since"), until=_parse_time(until, "--until"),
            align=not no_align, return_events=False,  # only the Report is rendered
        )
        drawing = _chart_drawing(side) if side is not None else None
        imports = prefetch(fmt, charts=draws and side is None)  # jinja2 (and matplotlib) load on a second thread
        if drawing is not None:
            opts = dataclasses.replace(opts, on_chart_data=drawing.draw_data)
        report, _ = run(list(paths), opts)
        drawn = drawing.charts(report) if drawing is not None else None
    finally:
        if imports is not None:
            imports.join()
        if side is not None:
            side.close()
    to_terminal = chosen is None and not output and sys.stdout.isatty()
    if to_terminal and report.warnings:  # the screen is for the summary; the warnings are in the appendix
        _say(f"postmortem: {len(report.warnings)} input warnings (listed in the report's appendix)")
    else:
        for w in report.warnings:
            _say(f"postmortem: warning: {w}")
    read = [i for i in report.inputs if not i.skipped]
    if not read or all(i.lines == 0 for i in read):
        _say("postmortem: error: nothing could be read from the given paths")
        sys.exit(2)
    if to_terminal:
        output = _terminal_report_path(report)
    folder = None
    if output and fmt == "md":
        folder = Path(output).with_name(Path(output).stem + "_files")
        _write_charts(folder, chart_files(report, drawn))
    text = render(report, fmt, chart_folder=folder.name if folder else None, drawn=drawn)
    if to_terminal:
        from reports.terminal import terminal_summary

        Path(output).write_text(text, encoding="utf-8")
        shown = output + (f" (charts in {folder}/)" if folder and folder.exists() else "")
        colour = not os.environ.get("NO_COLOR")
        width = min(120, shutil.get_terminal_size((100, 24)).columns)
        click.echo(terminal_summary(report, shown, width, colour=colour), nl=False, color=colour)
    elif output:
        Path(output).write_text(text, encoding="utf-8")
        _say(f"postmortem: wrote {output}")
    else:
        click.echo(text, nl=False)
    if strict and any(i.skipped for i in report.inputs):
        sys.exit(2)
    threshold = Severity[fail_on.upper()]
    if not exit_zero and any(f.severity >= threshold for f in report.findings):
        sys.exit(1)


def _side_process(paths: list[str]):
    """The second process that draws the charts (postmortem/side_process.py), for an input the workers would not
    take (the same files and the same size test as `ingest_parts`): a big input's workers already use the CPUs,
    and its charts are a small part of its time."""
    from postmortem.input.discover import discover
    from postmortem.input.options import PARALLEL_MIN_BYTES

    if sum(f.size or 0 for f in discover(paths)[0]) >= PARALLEL_MIN_BYTES:
        return None
    from postmortem.side_process import SideProcess
    from reports.chart_process import PRELOAD

    return SideProcess(PRELOAD)


def _free_cpu() -> bool:
    """Whether a CPU is idle now: fewer runnable tasks besides this one than CPUs less one (Linux's
    /proc/loadavg; elsewhere the last minute's load average). On a busy machine a second process only adds
    its start-up to the work."""
    cpus = os.cpu_count() or 1
    if cpus < 2:
        return False
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            running = int(f.read().split()[3].split("/")[0]) - 1  # runnable tasks, this one left out
        return running < cpus - 1
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.getloadavg()[0] < cpus - 1
    except OSError:
        return False


def _chart_drawing(side):
    from reports.chart_process import ChartDrawing

    return ChartDrawing(side)


def _terminal_report_path(report) -> str:
    """Where the full report goes when the terminal gets the summary: ./postmortem-<incident date>.md."""
    day = report.window_start.strftime("%Y-%m-%d") if report.window_start else "undated"
    return f"postmortem-{day}.md"


def _write_charts(folder: Path, files: list[tuple[str, str]]) -> None:
    """Markdown's charts beside it (`<stem>_files/<name>.svg`); nothing when the report has none."""
    if not files:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for name, svg in files:
        (folder / name).write_text(svg, encoding="utf-8")


@main.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-f", "--format", "fmt", type=click.Choice(["ndjson", "csv", "parquet"]),
              help="Default: from -o, else ndjson.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--no-redact", is_flag=True, help="Keep secrets in the events (redacted by default).")
@with_input_options
def parse(paths, fmt, output, no_redact, tz, year, now, source_type):
    """Print the normalized events table of PATHS."""
    from postmortem.import_gc import imports_without_gc

    with imports_without_gc():
        from postmortem.input.ingest import ingest
        from postmortem.redaction import redact_events, redact_text

    fmt = _output_format(output, fmt, EVENT_SUFFIXES, "ndjson")
    if fmt == "parquet" and not output:
        raise click.UsageError("parquet needs -o FILE")
    result = ingest(list(paths), _ingest_options(tz, year, now, source_type))
    shown = (lambda s: s) if no_redact else redact_text
    for w in result.warnings:
        _say(f"postmortem: warning: {shown(w)}")
    events = result.events if no_redact else redact_events(result.events)
    for i in result.inputs:
        _say(f"postmortem: {shown(i.path)}: parser={i.parser or '-'} lines={i.lines} events={i.events} "
             f"unrecognized={i.unrecognized_lines} blank={i.blank_lines}")
    if fmt == "parquet":
        events.write_parquet(output)
        return
    out_df = events.with_columns(events["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
    text = out_df.write_ndjson() if fmt == "ndjson" else out_df.write_csv()
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@main.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--retry", help='Client retry policy, e.g. "exponential(base=0.1s, cap=2s, jitter=full)", '
              '"constant(0.5s)", "none"; optional ", retries=N".')
@click.option("--pool", type=click.IntRange(min=1), help="Connections per pod (a blocking pool cap).")
@click.option("--pods", type=click.IntRange(min=1), help="Fleet size (default: the pods in the logs).")
@click.option("--maxclients", type=click.IntRange(min=1), help="Server limit (default: the observed one).")
@click.option("--breaker", help='Circuit breaker per pod: "5/30s" opens after 5 failed calls in a row for 30 s '
              '(then one trial call); "none" removes one.')
@click.option("-f", "--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@with_input_options
def whatif(paths, retry, pool, pods, maxclients, breaker, fmt, tz, year, now, source_type):
    """Replay the incident in PATHS with other client settings: calibrate on the observed policy, then predict."""
    import json

    from postmortem.analysis.replay.policy import Policy, parse_breaker_spec, parse_retry_spec
    from postmortem.analysis.replay.section import try_settings
    from postmortem.input.ingest import ingest
    from reports.json_report import _whatif

    try:  # the specs are checked before anything is read
        parse_retry_spec(retry, Policy("check")) if retry else None
        parse_breaker_spec(breaker, Policy("check")) if breaker else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    result = ingest(list(paths), _ingest_options(tz, year, now, source_type))
    try:
        w = try_settings(result.events, retry, pool, pods, maxclients, breaker)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if w is None:
        raise click.ClickException("no outage that client logs lived through: nothing to replay")
    if fmt == "json":
        click.echo(json.dumps(_whatif(w), indent=2, ensure_ascii=False, default=str))
        return
    fmt_n = lambda v: "—" if v is None else f"{v:.0f}"  # noqa: E731
    click.echo(w.verdict + "\n")
    click.echo("| configuration | peak logged attempts/s | peak connections / maxclients | rejections | time to recover |")
    click.echo("|---|---|---|---|---|")
    for r in w.rows:
        rec = f"> {w.horizon_s:.0f} s" if r.recovery_s is None else f"{r.recovery_s:.1f} s"
        click.echo(f"| {r.label} | {fmt_n(r.peak_attempts)} | {fmt_n(r.peak_connections)} / {fmt_n(r.maxclients)} "
                   f"| {fmt_n(r.rejections)} | {rec} |")
    click.echo("\nTolerance: " + w.tolerance)
    for i in w.inputs:
        click.echo(f"- {i}")


@main.command(context_settings=CONTEXT)
def formats():
    """List the input formats understood, with one example each."""
    from parsers import FILE_PARSERS, RECOGNIZERS
    from parsers.envelopes import HEADER_VARIANTS, OUTER_PREFIXES

    click.echo("Log sources (recognized inside any envelope):")
    for r in RECOGNIZERS:
        click.echo(f"  {r.name:22} e.g. {r.example}")
    click.echo("Whole-file formats (chosen by content; force with --source-type NAME[=GLOB]):")
    for p in FILE_PARSERS:
        click.echo(f"  {p.name:22} e.g. {p.example}")
    click.echo("  log                    any line log framed by the envelopes below")
    click.echo("Envelopes (record layouts): " + ", ".join(n for n, _ in HEADER_VARIANTS))
    click.echo("Transport prefixes: " + ", ".join(n for n, _ in OUTER_PREFIXES) + ", docker_json, json lines")
    click.echo("Containers: gzip (.gz, detected by content), UTF-8, UTF-8 BOM, UTF-16 with or without BOM, CRLF")


@main.command(context_settings=CONTEXT)
def rules():
    """List the detection rules."""
    from postmortem.analysis.detectors import rules as all_rules

    for r in all_rules():
        click.echo(f"{r.rule_id}  {r.name:28} {r.severity.label():9} {r.summary}")


@main.command(context_settings=CONTEXT)
@click.argument("rule_id")
def explain(rule_id):
    """Explain one rule: what it detects, why it matters, what to do."""
    from postmortem.analysis.detectors import find_rule

    rule = find_rule(rule_id)
    if rule is None:
        _say(f"postmortem: error: no rule {rule_id!r} (see `postmortem rules`)")
        sys.exit(2)
    click.echo(f"{rule.rule_id} {rule.name} ({rule.severity.label()})\n\n{rule.doc}")


@main.command(context_settings=CONTEXT)
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", default="postmortem-batch", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the per-incident reports and the index.")
@click.option("--jobs", type=click.IntRange(min=1), help="Worker processes (default: CPUs, at most 4).")
@click.option("--executor", metavar="dask://HOST:PORT", help="Run on an existing Dask cluster instead.")
@click.option("--force", is_flag=True, help="Re-analyze incidents whose inputs did not change.")
@click.option("--no-align", is_flag=True, help=NO_ALIGN_HELP)
@with_input_options
def batch(directory, output, jobs, executor, force, no_align, tz, year, now, source_type):
    """Analyze each sub-folder or archive of DIRECTORY as one incident; write reports and an index.

    Exit 0 when every incident was analyzed, 1 if any failed (its error is in the index), 2 usage error.
    """
    from tqdm import tqdm

    from postmortem.analysis.pipeline import AnalyzeOptions
    from postmortem.batch.run import BatchUsageError, run_batch

    opts = AnalyzeOptions(ingest=_ingest_options(tz, year, now, source_type), align=not no_align)
    bar = tqdm(total=0, unit="incident", file=sys.stderr, disable=None)

    def progress(total, outcome):
        bar.total = total
        bar.update(1 if outcome is not None else 0)

    try:
        res = run_batch(directory, output, opts, jobs=jobs or min(4, os.cpu_count() or 1), executor=executor, force=force, progress=progress)
    except BatchUsageError as exc:
        raise click.UsageError(str(exc)) from exc
    finally:
        bar.close()
    for note in res.not_incidents:
        _say(f"postmortem: warning: {note}")
    if res.skipped:
        _say(f"postmortem: skipped {res.skipped} unchanged incidents (--force re-analyzes them)")
    for inc in res.failed:
        _say(f"postmortem: error: {inc.name}: {inc.error}")
    _say(f"postmortem: wrote {Path(output) / 'index.md'}: {len(res.incidents)} incidents, "
         f"{res.analyzed} analyzed, {res.skipped} unchanged, {len(res.failed)} failed")
    sys.exit(1 if res.failed else 0)


def run() -> None:
    """The command's process entry (`postmortem`, `python -m postmortem.cli`): `main`, then the process ends without
    the interpreter's teardown. Clearing polars', numpy's and our modules object by object takes ~0.1 s after the
    report is written; nothing is left to finalize by then (files are closed, pools and the side process joined),
    so only the standard streams are flushed. In-process callers (tests, CliRunner) call `main` and keep theirs."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    if code is not None and not isinstance(code, int):  # sys.exit("message"): printed, exit 1, as Python does
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: Python's own exit would fail to flush it as well
            code = code or 120
    os._exit(code or 0)


if __name__ == "__main__":
    run()
