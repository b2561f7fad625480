"""kube-controller-manager's HPA controller log lines (pkg/controller/podautoscaler/horizontal.go): the rescale it
made, with the replicas before and after and its reason, one `hpa.rescale` event per line.

Two wordings, both klog: before structured logging
`Successful rescale of worker, old size: 16, new size: 24, reason: cpu resource utilization … above target`
(klog.Infof), since 1.2x `"Successfully rescaled" logger="horizontal-pod-autoscaler-controller" HPA="default/worker"
currentReplicas=4 desiredReplicas=6 reason="…"` (logger.Info with key/values; as pasted in public issues).
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from parsers.base import attrs_json, no_claims
from postmortem.model import Kind

FAMILY = "k8s_controller"
HPA_RESCALE = Kind(
    "hpa.rescale", FAMILY,
    "the HPA controller's own log of a rescale (`Successful rescale of …` / `\"Successfully rescaled\"`): "
    "`hpa`, `from_replicas`, `to_replicas`, `scale_reason`; `value` = replicas after",
)
_OLD = (r"Successful rescale of (?P<name>[^,\s]+), old size: (?P<from>\d+), new size: (?P<to>\d+)"
        r"(?:, reason: (?P<reason>[^\n]*))?")
_NEW = (r"\"Successfully rescaled\"(?:[^\n]*?\b(?:HPA|PodAutoscaler)=\"(?P<name>[^\"]+)\")?[^\n]*?"
        r"\bcurrentReplicas=(?P<from>\d+)[^\n]*?\bdesiredReplicas=(?P<to>\d+)(?:[^\n]*?\breason=\"(?P<reason>[^\"]*)\")?")


class HpaControllerLog:
    """kube-controller-manager HPA rescale lines (klog, old and structured wording)."""

    name: ClassVar[str] = FAMILY
    kinds: ClassVar[tuple[Kind, ...]] = (HPA_RESCALE,)
    keep_words: ClassVar[tuple[str, ...]] = ("successful rescale of", "successfully rescaled")
    example: ClassVar[str] = ("I0318 17:19:05.040429       1 horizontal.go:765] Successful rescale of worker, old size: 16, "
                              "new size: 24, reason: cpu resource utilization (percentage of request) above target")
    samples: ClassVar[tuple[str, ...]] = (
        # wording of horizontal.go's klog.Infof (kubernetes ≤ 1.2x), in klog's header layout
        "I0318 17:19:05.040429       1 horizontal.go:765] Successful rescale of worker, old size: 16, new size: 24, "
        "reason: cpu resource utilization (percentage of request) above target\n",
        # as pasted from kube-controller-manager logs in public issues (structured logging)
        'I0401 09:45:00.062979       1 horizontal.go:881] "Successfully rescaled" logger="horizontal-pod-autoscaler-'
        'controller" HPA="default/gohttpserver" currentReplicas=1 desiredReplicas=2 reason="Pod metric '
        'http_requests_per_second above target"\n',
    )

    def recognize(self, records: pl.DataFrame) -> pl.DataFrame:
        text = pl.col("text").fill_null("")
        df = records.filter(text.str.contains("Successful rescale of|\"Successfully rescaled\""))
        if df.height == 0:
            return no_claims()
        old, new = text.str.extract_groups(_OLD), text.str.extract_groups(_NEW)
        df = df.with_columns(
            **{f"_{k}": pl.coalesce(old.struct.field(k), new.struct.field(k)) for k in ("name", "from", "to", "reason")}
        ).filter(pl.col("_to").is_not_null())
        name = pl.col("_name")
        ns = pl.when(name.str.contains("/")).then(name.str.split("/").list.first()).otherwise(pl.lit("default"))
        short = name.str.split("/").list.last()
        return df.select(
            "rec",
            kind=pl.lit(HPA_RESCALE.name),
            entity=pl.when(name.is_not_null()).then(pl.format("hpa:{}/{}", ns, short)),
            message=text.str.splitn("\n", 2).struct.field("field_0").str.slice(0, 2000),
            value=pl.col("_to").cast(pl.Float64),
            attrs=attrs_json(
                hpa=short, from_replicas=pl.col("_from").cast(pl.Int64), to_replicas=pl.col("_to").cast(pl.Int64),
                scale_reason=pl.col("_reason").str.strip_chars(),
            ),
        )
