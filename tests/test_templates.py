"""Message templates: values masked, near-duplicates merged when there are too many to show."""

from __future__ import annotations

from postmortem.analysis.message_templates import MAX_TEMPLATES, message_templates

from .events_factory import ev, table


def app_errors(messages):
    return table([ev(i, "app", "app.log", message=m, level="error") for i, m in enumerate(messages)])


def test_values_are_masked_into_one_template():
    events = app_errors([f"job {i} failed after {i * 3} ms on 10.0.0.{i}" for i in range(20)])
    (t,) = message_templates(events, [])
    assert t["count"] == 20 and t["template"] == "job <n> failed after <n> ms on <ip>"


def test_many_wordings_are_merged_deterministically():
    words = [f"stage{chr(97 + i)}" for i in range(MAX_TEMPLATES + 10)]
    msgs = [f"cache read failed in {w}: connection refused by upstream cache" for w in words] + [
        "completely different thing happened"]
    a = message_templates(app_errors(msgs), [])
    b = message_templates(app_errors(list(reversed(msgs))), [])
    assert a == b
    top = a[0]
    assert top["variants"] > 1 and top["count"] >= len(words) // 2


def test_unrecognized_samples_are_templated_too():
    out = message_templates(app_errors([]), ["weird line 1", "weird line 2"])
    assert out == [{"template": "weird line <n>", "count": 2, "variants": 1, "origin": "unrecognized",
                    "example": "weird line 1"}]
