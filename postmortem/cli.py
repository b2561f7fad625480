"""Command line: the only module that prints, reads options and exits.

Exit codes: 0 no finding at or above --fail-on, 1 findings, 2 usage error or nothing could be read.
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


def _split_rules(value: str | None) -> tuple[str, ...]:
    return tuple(s.strip().upper() for s in (value or "").split(",") if s.strip())


def _ingest_options(tz, year, now, source_type):
    from postmortem.input.ingest import IngestOptions

    return IngestOptions(
        tz=_check_tz(tz), year=year, now=_parse_time(now, "--now"), source_types=_source_types(source_type)
    )


common_input_options = [
    click.option("--tz", default="UTC", show_default=True, help="Zone for timestamps that carry none."),
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


@click.group(context_settings=CONTEXT)
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
              help="Processes that read and frame files of a big input (default: CPUs, at most 4).")
@with_input_options
def analyze(paths, fmt, output, since, until, select, ignore, fail_on, exit_zero, strict, no_redact,
            generated_at, jobs, tz, year, now, source_type):
    """Analyze incident logs under PATHS and write a postmortem."""
    from postmortem.analysis.pipeline import AnalyzeOptions
    from postmortem.analysis.pipeline import analyze as run
    from postmortem.model import Severity
    from reports.render import chart_files, render

    chosen = fmt
    if fmt is None:
        suffix = Path(output).suffix.lower().lstrip(".") if output else ""
        fmt = {"html": "html", "htm": "html", "json": "json"}.get(suffix, "md")
    opts = AnalyzeOptions(
        ingest=dataclasses.replace(_ingest_options(tz, year, now, source_type),
                                   jobs=jobs or min(4, os.cpu_count() or 1)),
        select=_split_rules(select), ignore=_split_rules(ignore), redact=not no_redact,
        generated_at=generated_at, since=_parse_time(since, "--since"), until=_parse_time(until, "--until"),
    )
    report, result = run(list(paths), opts)
    to_terminal = chosen is None and not output and sys.stdout.isatty()
    if to_terminal and report.warnings:  # the screen is for the summary; the warnings are in the appendix
        click.echo(f"postmortem: {len(report.warnings)} input warnings (listed in the report's appendix)", err=True)
    else:
        for w in report.warnings:
            click.echo(f"postmortem: warning: {w}", err=True)
    read = [i for i in report.inputs if not i.skipped]
    if not read or all(i.lines == 0 for i in read):
        click.echo("postmortem: error: nothing could be read from the given paths", err=True)
        sys.exit(2)
    if to_terminal:
        output = _terminal_report_path(report)
    folder = None
    if output and fmt == "md":
        folder = Path(output).with_name(Path(output).stem + "_files")
        _write_charts(folder, chart_files(report))
    text = render(report, fmt, chart_folder=folder.name if folder else None)
    if to_terminal:
        from reports.terminal import terminal_summary

        Path(output).write_text(text, encoding="utf-8")
        shown = output + (f" (charts in {folder}/)" if folder and folder.exists() else "")
        colour = not os.environ.get("NO_COLOR")
        width = min(120, shutil.get_terminal_size((100, 24)).columns)
        click.echo(terminal_summary(report, shown, width, colour=colour), nl=False, color=colour)
    elif output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"postmortem: wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
    if strict and any(i.skipped for i in report.inputs):
        sys.exit(2)
    threshold = Severity[fail_on.upper()]
    if not exit_zero and any(f.severity >= threshold for f in report.findings):
        sys.exit(1)


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
@click.option("-f", "--format", "fmt", type=click.Choice(["ndjson", "csv", "parquet"]), default="ndjson",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--no-redact", is_flag=True, help="Keep secrets in the events (redacted by default).")
@with_input_options
def parse(paths, fmt, output, no_redact, tz, year, now, source_type):
    """Print the normalized events table of PATHS."""
    from postmortem.input.ingest import ingest
    from postmortem.redaction import redact_events, redact_text

    result = ingest(list(paths), _ingest_options(tz, year, now, source_type))
    shown = (lambda s: s) if no_redact else redact_text
    for w in result.warnings:
        click.echo(f"postmortem: warning: {shown(w)}", err=True)
    events = result.events if no_redact else redact_events(result.events)
    for i in result.inputs:
        click.echo(
            f"postmortem: {shown(i.path)}: parser={i.parser or '-'} lines={i.lines} events={i.events} "
            f"unrecognized={i.unrecognized_lines} blank={i.blank_lines}", err=True,
        )
    if fmt == "parquet":
        if not output:
            raise click.UsageError("parquet needs -o FILE")
        events.write_parquet(output)
        return
    out_df = events.with_columns(events["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
    text = out_df.write_ndjson() if fmt == "ndjson" else out_df.write_csv()
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


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
        click.echo(f"postmortem: error: no rule {rule_id!r} (see `postmortem rules`)", err=True)
        sys.exit(2)
    click.echo(f"{rule.rule_id} {rule.name} ({rule.severity.label()})\n\n{rule.doc}")


@main.command(context_settings=CONTEXT)
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", default="postmortem-batch", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the per-incident reports and the index.")
@click.option("--jobs", type=click.IntRange(min=1), help="Worker processes (default: CPUs, at most 4).")
@click.option("--executor", metavar="dask://HOST:PORT", help="Run on an existing Dask cluster instead.")
@click.option("--force", is_flag=True, help="Re-analyze incidents whose inputs did not change.")
@with_input_options
def batch(directory, output, jobs, executor, force, tz, year, now, source_type):
    """Analyze each sub-folder or archive of DIRECTORY as one incident; write reports and an index.

    Exit 0 when every incident was analyzed, 1 if any failed (its error is in the index), 2 usage error.
    """
    from tqdm import tqdm

    from postmortem.analysis.pipeline import AnalyzeOptions
    from postmortem.batch.run import BatchUsageError, run_batch

    opts = AnalyzeOptions(ingest=_ingest_options(tz, year, now, source_type))
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
    if res.skipped:
        click.echo(f"postmortem: skipped {res.skipped} unchanged incidents (--force re-analyzes them)", err=True)
    for inc in res.failed:
        click.echo(f"postmortem: error: {inc.name}: {inc.error}", err=True)
    click.echo(f"postmortem: wrote {Path(output) / 'index.md'}: {len(res.incidents)} incidents, "
               f"{res.analyzed} analyzed, {res.skipped} unchanged, {len(res.failed)} failed", err=True)
    sys.exit(1 if res.failed else 0)


if __name__ == "__main__":
    main()
