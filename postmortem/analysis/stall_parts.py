"""A stall that held a blocking command: which of the two opens the summary, and how the stall's parts are told.

A server stopped (SIGSTOP, a frozen host) while a client's `KEYS` waited in its socket runs the `KEYS` when it
resumes: its clients see one stall (PM100), of which only the later part is the command's (PM108). slow-pause-12:
paused 18.4-21.4, the `KEYS` ran 21.5-27.0, one 8.6 s stall. Ranked by their shares of the clients' errors, the
command led at some fleet sizes and the stall at others (234 of 331 timeouts at 12 pods, 159 of 323 at 20), and a
command that led swallowed the stall (most of the stall's window inside its own) with the storm the stall set off.

The stall leads, at any size, when it began longer before the command ran than two clocks may disagree
(`clocks.AGREE_S`): it began first and covers the command's run too; it is told with its parts (until the command no
command explains it, with what the server's log says of that part, then the command with its own figures). A command
that began with the stall (slow-8 to slow-w1-40: each `KEYS` began within 0.2 s of the stall it caused) is ranked by
its share as any trigger (story.py), and the stall is that command seen from outside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from postmortem.analysis.clocks import AGREE_S
from postmortem.analysis.detectors.base import Detector
from postmortem.model import Finding

# a pause shorter than this is no part of its own: the two findings' starts are read on clocks that may disagree
APART = timedelta(seconds=AGREE_S)


def _stall_and_command(stall_d: Detector, stall: Finding, cmd_d: Detector, cmd: Finding) -> bool:
    """Whether `cmd` is a command that kept the server from answering anyone and `stall` a trigger that is not, both
    timed, the command having begun before the stall ended and ended after it began."""
    if stall.start is None or cmd.start is None or not cmd_d.stops_server(cmd) or stall_d.stops_server(stall):
        return False
    return cmd.start <= (stall.end or stall.start) and stall.start <= (cmd.end or cmd.start)


def ran_inside(stall_d: Detector, stall: Finding, cmd_d: Detector, cmd: Finding) -> bool:
    """Whether the command `cmd` ran inside the stall `stall` after the stall had already lasted `APART`: the stall's
    first part is no doing of the command's (slow-pause-12: 3.2 s before the `KEYS` ran)."""
    return _stall_and_command(stall_d, stall, cmd_d, cmd) and cmd.start - stall.start > APART


def leader(triggers: Sequence[Detector], first: Mapping[str, Finding]) -> Detector | None:
    """The stall that opens the summary in place of `triggers[0]`, a command that ran inside it (`ran_inside`). None:
    `triggers[0]` leads."""
    if not triggers:
        return None
    lead = triggers[0]
    lf = first[lead.rule.rule_id]
    return next((d for d in triggers[1:] if ran_inside(d, first[d.rule.rule_id], lead, lf)), None)


def parts(stall_d: Detector, stall: Finding, cmd_d: Detector, cmd: Finding, findings: Sequence[Finding],
          detectors: Mapping[str, Detector]) -> str | None:
    """The sentence that tells a stall's parts after the stall's own opening: until the command ran no command
    explains it (what the server's log says of that part, when the stall's finding says it), then the command with
    its own opening and outcome. None when the command has no words for it, or another command's finding overlaps
    the first part (then a command does explain it)."""
    opening, outcome = cmd_d.opening(cmd), cmd_d.outcome(cmd)
    if not opening or not outcome or cmd.start is None or stall.start is None:
        return None
    for f in findings:
        d = detectors.get(f.rule_id)
        if (f is not cmd and d is not None and f.start is not None and d.stops_server(f)
                and f.start < cmd.start and (f.end or f.start) > stall.start):
            return None
    quiet = stall_d.silence(stall)
    said = f": {quiet} (a pause or hang of its process or host)" if quiet else ""
    return (f"Until {cmd.start:%H:%M:%S} UTC no command explains the stall{said}; then "
            f"{opening[0].lower()}{opening[1:]} {outcome}.")
