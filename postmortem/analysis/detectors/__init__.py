"""Detector registry: a new detector is one module plus one line in DETECTORS."""

from __future__ import annotations

from postmortem.analysis.detectors.base import Detector
from postmortem.analysis.detectors.breaker import BreakerBehaviour, BreakerMissing
from postmortem.analysis.detectors.cascade import Cascade
from postmortem.analysis.detectors.client_health import RedisLoading, SlowResponses, ThreadpoolStarvation
from postmortem.analysis.detectors.clock import ClockSkew
from postmortem.analysis.detectors.configs import (
    AbortConnectTrue,
    ConnectionPerRequest,
    LowMinThreads,
    RetryWithoutBackoff,
    TimeoutsMisconfigured,
    UnboundedPool,
)
from postmortem.analysis.detectors.inputs import UnrecognizedInput
from postmortem.analysis.detectors.kubernetes import HpaFeedback, LivenessDependsOnRedis, PodRestarts
from postmortem.analysis.detectors.memory import WritesRefusedAtMaxmemory
from postmortem.analysis.detectors.metrics import (
    ConnectedClientsSpike,
    ConnectionChurn,
    Evictions,
    RejectedConnections,
)
from postmortem.analysis.detectors.offenders import TopOffenders
from postmortem.analysis.detectors.slow_commands import BlockingCommand
from postmortem.analysis.detectors.storm import (
    MaxclientsSaturation,
    PoolExhaustion,
    ReconnectStorm,
    RedisUnreachable,
    RetryStorm,
)

DETECTORS: tuple[Detector, ...] = (
    UnrecognizedInput(),
    ClockSkew(),
    RedisUnreachable(),
    ReconnectStorm(),
    RetryStorm(),
    BreakerMissing(),
    BreakerBehaviour(),
    MaxclientsSaturation(),
    PoolExhaustion(),
    ThreadpoolStarvation(),
    SlowResponses(),
    RedisLoading(),
    BlockingCommand(),
    WritesRefusedAtMaxmemory(),
    AbortConnectTrue(),
    RetryWithoutBackoff(),
    ConnectionPerRequest(),
    UnboundedPool(),
    LowMinThreads(),
    TimeoutsMisconfigured(),
    PodRestarts(),
    HpaFeedback(),
    LivenessDependsOnRedis(),
    TopOffenders(),
    ConnectedClientsSpike(),
    RejectedConnections(),
    ConnectionChurn(),
    Evictions(),
    Cascade(),
)


def rules() -> list:
    return sorted((d.rule for d in DETECTORS), key=lambda r: r.rule_id)


def find_rule(rule_id: str):
    return next((d.rule for d in DETECTORS if d.rule.rule_id.upper() == rule_id.upper()), None)
