"""PM501 (no breaker during a retry storm) and PM502 (what the breakers did) on realistic incidents.

tests/data/breakers/polly-protected: two .NET pods (Serilog text) behind a Polly v8 pipeline `redis-cache`
(retry inside a circuit breaker) while redis-server is down for 30 s: a few handled attempts, the
breaker opens 3 s in, calls fail fast until it half-opens and closes after the restart.
tests/data/breakers/tenacity-no-breaker: two Python workers whose tenacity decorator retries every 0.5 s
through the same outage, with no breaker anywhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from postmortem.analysis.pipeline import analyze

from .conftest import DATA

BREAKERS = DATA / "breakers"


def _findings(folder: Path) -> dict:
    report, ingest = analyze([str(folder)])
    assert all(i.accounted() for i in ingest.inputs)
    return {f.rule_id: f for f in report.findings}, report


def test_breaker_that_protected_redis_is_said():
    found, report = _findings(BREAKERS / "polly-protected")
    assert "PM501" not in found
    f = found["PM502"]
    s = f.stats
    assert s["protected_redis"] is True and s["flapping"] == []
    assert s["rejected_calls"] == 116 and s["openings"] == 2  # one opening per pod
    assert {b["host"] for b in s["breakers"]} == {"api-6f7c9d-k2m4p", "api-6f7c9d-x8q1z"}
    assert 2.5 <= s["open_delay_s"] <= 3.5  # redis-server's shutdown at 10:02:10, the breaker at 10:02:13
    assert all(b["closed"] for b in s["breakers"])
    assert any("OnCircuitOpened" in e.text for e in f.evidence)
    assert "PM502" in report.chain("impact")
    # Polly's handled attempts are retries, the application's own exceptions the Redis failures
    assert found["PM100"].stats  # the outage is still seen from the client failures


def test_retry_storm_without_breaker_is_an_amplifier():
    found, report = _findings(BREAKERS / "tenacity-no-breaker")
    assert "PM502" not in found
    f = found["PM501"]
    assert f.stats["retried_attempts"] == 180 and f.stats["hosts"] == 2 and f.stats["breakers_seen"] == 0
    assert f.stats["operations"] == ["app.cache.get_profile"]
    assert "PM501" in report.chain("amplifiers")
    assert all("Retrying app.cache.get_profile" in e.text for e in f.evidence)


def test_breaker_that_never_opened_during_the_storm(tmp_path):
    """A breaker that logged (closed at start-up) but never opened while 30 retries ran: still PM501."""
    folder = tmp_path / "incident"
    folder.mkdir()
    src = BREAKERS / "tenacity-no-breaker"
    for p in src.iterdir():
        (folder / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    with (folder / "worker-7b9c5-qz4lm.log").open("a", encoding="utf-8") as fh:
        fh.write("2024-01-15 10:03:30,000 INFO app.cache - Circuit breaker 'redis' is now closed\n")
    found, _ = _findings(folder)
    assert found["PM501"].stats["breakers_seen"] == 1
    assert "no breaker opened" in found["PM501"].title


@pytest.mark.parametrize("openings", [1, 3])
def test_flapping_breaker(tmp_path, openings):
    lines = ["1:M 15 Jan 2024 10:00:00.120 * Ready to accept connections tcp",
             "1:M 15 Jan 2024 10:02:10.000 # User requested shutdown...",
             "1:M 15 Jan 2024 10:04:40.310 * Ready to accept connections tcp"]
    (tmp_path / "redis-server.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    log = []
    for n in range(openings):
        base = 10 + 40 * n
        log += [f"2024-01-15 10:02:{base:02d}.100 INFO 1 --- [pool-2] c.e.Cache : CircuitBreaker 'redisCache' changed "
                "state from CLOSED to OPEN",
                f"2024-01-15 10:02:{base + 5:02d}.100 WARN 1 --- [pool-2] c.e.Cache : io.github.resilience4j.circuitbreaker."
                "CallNotPermittedException: CircuitBreaker 'redisCache' is OPEN and does not permit further calls",
                f"2024-01-15 10:02:{base + 30:02d}.100 INFO 1 --- [pool-2] c.e.Cache : CircuitBreaker 'redisCache' changed "
                "state from OPEN to HALF_OPEN"]
    (tmp_path / "cart-5d4c-abcde.log").write_text("\n".join(log) + "\n", encoding="utf-8")
    found, _ = _findings(tmp_path)
    f = found["PM502"]
    assert f.stats["openings"] == openings
    if openings >= 3:
        assert f.stats["flapping"] == ["redisCache"] and "flapped" in f.title and f.severity.name == "MEDIUM"
    else:
        assert f.stats["flapping"] == [] and f.severity.name == "LOW"


def _tenacity_fleet(folder: Path, pods: int, retries_per_pod: int) -> Path:
    """tenacity-no-breaker's redis-server and its lines (tenacity's `before_sleep_log` layout, redis-py's start-up
    line) for a fleet of `pods` workers that each retried `retries_per_pod` times, every 0.5 s from the shutdown."""
    folder.mkdir()
    src = BREAKERS / "tenacity-no-breaker"
    (folder / "redis-server.log").write_text((src / "redis-server.log").read_text(encoding="utf-8"), encoding="utf-8")
    startup, retry = (next(line for line in (src / "worker-7b9c5-qz4lm.log").read_text(encoding="utf-8").splitlines()
                           if needle in line)[23:] for needle in ("redis client: Redis(", "Retrying app.cache"))
    for pod in range(pods):
        lines = [f"2024-01-15 10:00:01,{pod:03d}{startup}"]
        for n in range(retries_per_pod):
            ms = 10_100 + 500 * n + pod
            lines.append(f"2024-01-15 10:02:{ms // 1000:02d},{ms % 1000:03d}{retry}")
        (folder / f"worker-7b9c5-p{pod:03d}.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize(("pods", "per_pod", "storm"), [
    (1, 20, True), (1, 19, False),  # one process: the count the rule has always used
    (8, 3, False),  # 24 retries, 3 per pod: more than 20, no storm
    (40, 1, False),  # one retry per pod of a 40-pod fleet: 40 retries, a blip on every pod, not a storm
    (40, 20, True),
])
def test_retry_storm_is_counted_per_pod_of_the_fleet(tmp_path, pods, per_pod, storm):
    found, _ = _findings(_tenacity_fleet(tmp_path / "incident", pods, per_pod))
    assert ("PM501" in found) == storm
    if storm:
        s = found["PM501"].stats
        assert s["retried_attempts"] == pods * per_pod and s["fleet_pods"] == pods and s["per_pod"] == per_pod
        assert f"{float(per_pod)} per pod of {pods}" in found["PM501"].title
