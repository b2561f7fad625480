"""Field names the log platforms share: which label is the pod, which the container, which the level,
and platform times (epoch seconds / ms / ns) as ISO text the time parser reads."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

# Pod first: per-pod figures need the pod, a node name would merge the pods on it.
HOST_KEYS = ("pod", "pod_name", "k8s_pod_name", "kubernetes_pod_name", "kubernetes.pod.name", "kubernetes.pod_name",
             "k8s.pod.name", "PodName", "host", "hostname", "host.name", "Computer", "instance", "service_name")
CONTAINER_KEYS = ("container", "container_name", "kubernetes.container.name", "kubernetes.container_name",
                  "k8s.container.name", "ContainerName")
NAMESPACE_KEYS = ("namespace", "namespace_name", "kubernetes.namespace", "kubernetes.namespace_name",
                  "k8s.namespace.name", "PodNamespace")
LEVEL_KEYS = ("level", "detected_level", "severity", "log.level", "levelname", "loglevel", "status", "SeverityLevel")


def first_of(labels: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first non-empty value among `keys`, nested (`a.b`) or as a literal dotted key."""
    from parsers.exports.jsondoc import get, text_of

    return text_of(get(labels, *keys))


def stream_of(labels: dict[str, Any]) -> str:
    """What keeps one source's lines together: namespace/pod/container when known, else all labels
    except the ones that split one container's output (`stream` = stdout/stderr, `filename`)."""
    pod = first_of(labels, HOST_KEYS)
    if pod:
        return "/".join(x or "" for x in (first_of(labels, NAMESPACE_KEYS), pod, first_of(labels, CONTAINER_KEYS)))
    kept = {k: v for k, v in labels.items() if k not in ("stream", "filename", "level", "detected_level")}
    return json.dumps(kept, sort_keys=True, default=str)


def epoch_iso(expr: pl.Expr, unit: str) -> pl.Expr:
    """Epoch integer text in `unit` ("s", "ms", "us", "ns") → ISO 8601 UTC text; other text stays."""
    num = expr.cast(pl.String).str.strip_chars().str.extract(r"^(\d{9,19})(?:\.\d+)?$", 1).cast(pl.Int64, strict=False)
    iso = pl.from_epoch(num, time_unit=unit).dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")  # type: ignore[arg-type]
    return pl.coalesce(iso, expr.cast(pl.String))
