"""A client's reconnect policy as the replay runs it: client retries with their backoff, the app's own
retry loop, the pool cap. Read from a logged configuration, a config snippet, or a `--retry` spec."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# redis-py backoff classes → (shape, jitter); all but NoBackoff/ConstantBackoff grow as base x 2^n up to cap.
_BACKOFFS = {
    "nobackoff": ("none", "none"), "constantbackoff": ("constant", "none"),
    "exponentialbackoff": ("exponential", "none"), "exponentialwithjitterbackoff": ("exponential", "full"),
    "fulljitterbackoff": ("exponential", "full"), "equaljitterbackoff": ("exponential", "equal"),
    "decorrelatedjitterbackoff": ("exponential", "full"),
}
_NUM = r"([0-9]*\.?[0-9]+)"


@dataclass(frozen=True)
class Policy:
    """What one request does when Redis does not answer."""

    label: str
    retries: int = 0  # client retries per call after the first try (redis-py `Retry(backoff, N)`)
    backoff: str = "none"  # none | constant | linear | exponential
    base: float = 0.0  # seconds
    cap: float = 0.0  # seconds (0: no cap)
    jitter: str = "none"  # none | full | equal
    app_interval: float = 0.0  # the app's own delay before calling again after a failed call
    app_attempts: int = 1  # calls per request (1: the app does not retry)
    pool_cap: int | None = None  # connections per pod (None: unbounded pool)
    pool_timeout: float = 2.0  # a capped pool's wait for a free connection
    breaker_failures: int = 0  # failed calls in a row that open a pod's circuit breaker (0: no breaker)
    breaker_open_s: float = 0.0  # how long it stays open before one trial call

    def _raw(self, n: np.ndarray) -> np.ndarray:
        """Backoff before retry number `n` (1-based) before jitter, capped."""
        import numpy as np  # late: numpy loads only when a replay runs (start-up of reports without one)

        if self.backoff == "constant":
            raw = np.full(len(n), self.base)
        elif self.backoff == "linear":
            raw = self.base * n
        else:
            raw = self.base * np.power(2.0, n)
        return np.minimum(raw, self.cap) if self.cap > 0 else raw

    def delays(self, failures: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Client backoff before retry number `failures` (1-based), one per row, as redis-py computes it."""
        import numpy as np

        n = failures.astype(float)
        if self.backoff == "none":
            return np.zeros(len(n))
        raw = self._raw(n)
        if self.jitter == "full":
            return raw * rng.random(len(n))
        if self.jitter == "equal":
            return raw / 2 + raw / 2 * rng.random(len(n))
        return raw

    def failed_call_s(self) -> float:
        """The mean time a call spends in its backoff sleeps when every try is refused at once: a thread
        is busy that long per failed call, so Little's law on failure lines must count it (inputs.measure)."""
        import numpy as np

        if self.backoff == "none" or self.retries < 1:
            return 0.0
        mean_jitter = {"full": 0.5, "equal": 0.75}.get(self.jitter, 1.0)  # of `delays`' uniform draws
        return float(self._raw(np.arange(1, self.retries + 1, dtype=float)).sum()) * mean_jitter

    def describe(self) -> str:
        """One line a reader can compare with the config they run."""
        shape = "no backoff" if self.backoff == "none" else (
            f"{self.backoff} backoff base {self.base:g} s" + (f", cap {self.cap:g} s" if self.cap else "")
            + (f", {self.jitter} jitter" if self.jitter != "none" else ""))
        app = (f"app retries every {self.app_interval:g} s, {self.app_attempts} calls per request"
               if self.app_attempts > 1 else "no app retry")
        pool = f"pool cap {self.pool_cap}" if self.pool_cap else "unbounded pool"
        extra = (f"; breaker opens after {self.breaker_failures} failed calls for {self.breaker_open_s:g} s"
                 if self.breaker_failures else "")
        return f"{self.retries} client retries, {shape}; {app}; {pool}{extra}"


def _args(text: str) -> dict[str, float]:
    """`base=0.05, cap=1.0` or positional `(cap, base)` numbers → {name: seconds}."""
    named = {k.lower(): float(v) for k, v in re.findall(r"(\w+)\s*=\s*" + _NUM + r"\s*(?:ms|s)?", text)}
    for k, v in re.findall(r"(\w+)\s*=\s*" + _NUM + r"\s*ms", text):
        named[k.lower()] = float(v) / 1000
    return named


def from_backoff(policy: Policy, name: str, args: str) -> Policy:
    """`policy` with a redis-py backoff class and its arguments (`ExponentialWithJitterBackoff`, `base=…`)."""
    shape, jitter = _BACKOFFS.get(name.strip().lower(), ("exponential", "none"))
    values = _args(args or "")
    positional = [float(x) for x in re.findall(_NUM, args or "")] if not values else []
    if shape == "constant":
        base = values.get("backoff", positional[0] if positional else 0.0)
        return replace(policy, backoff=shape, base=base, cap=0.0, jitter="none")
    default_cap, default_base = 0.512, 0.008  # redis-py's defaults
    cap = values.get("cap", positional[0] if positional else default_cap)
    base = values.get("base", positional[1] if len(positional) > 1 else default_base)
    return replace(policy, backoff=shape, base=base, cap=cap, jitter=jitter)


def parse_retry_spec(spec: str, base: Policy) -> Policy:
    """`exponential(base=0.1s, cap=2s, jitter=full)`, `constant(0.5s)`, `linear(base=0.1s)`, `none`,
    optionally `, retries=3`; the rest of `base` stays."""
    m = re.fullmatch(r"\s*(none|constant|linear|exponential)\s*(?:\((.*)\))?\s*", spec, flags=re.I)
    if not m:
        raise ValueError(f"retry spec {spec!r}: expected none | constant(...) | linear(...) | exponential(...)")
    kind, inner = m.group(1).lower(), m.group(2) or ""
    values = _args(inner)
    jitter = (re.search(r"jitter\s*=\s*(none|full|equal)", inner, flags=re.I) or [None, "none"])[1].lower()
    if kind == "constant" and "base" not in values:
        numbers = re.findall(_NUM, inner)
        values["base"] = float(numbers[0]) if numbers else 0.0
    retries = int(values.get("retries", base.retries if base.retries else 3))
    return replace(base, label=f"--retry {spec.strip()}", backoff=kind, base=values.get("base", 0.0),
                   cap=values.get("cap", 0.0), jitter=jitter if kind != "none" else "none", retries=retries)


def parse_breaker_spec(spec: str, base: Policy) -> Policy:
    """`5/30s` or `failures=5, open=30s`: the breaker opens after 5 failed calls in a row for 30 s;
    `none` removes it."""
    if spec.strip().lower() == "none":
        return replace(base, breaker_failures=0, breaker_open_s=0.0)
    m = (re.fullmatch(r"\s*(\d+)\s*/\s*" + _NUM + r"\s*(ms|s)?\s*", spec)
         or re.fullmatch(r"\s*failures\s*=\s*(\d+)\s*,\s*open\s*=\s*" + _NUM + r"\s*(ms|s)?\s*", spec, flags=re.I))
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"breaker spec {spec!r}: expected N/Ts (e.g. 5/30s), failures=N, open=Ts, or none")
    open_s = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
    return replace(base, breaker_failures=int(m.group(1)), breaker_open_s=open_s)
