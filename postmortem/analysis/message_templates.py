"""Group unrecognized lines and app error messages into templates, with counts.

Variable parts (numbers, hex ids, IPs, quoted strings, UUIDs) are masked first, so the same message
with different values becomes one template. When there are more templates than the report shows,
scikit-learn (term-frequency vectors over word tokens, no idf so shared words dominate, and
agglomerative clustering with a cosine distance threshold) merges templates that differ in a word or two.
Deterministic: sorted inputs, no random state involved.
"""

from __future__ import annotations

import polars as pl

from postmortem.redaction import redact_expr

MAX_MESSAGES = 1000  # distinct masked messages clustered at most (pairwise distances grow as n²)
DISTANCE = 0.3  # cosine distance under which two templates merge
MAX_TEMPLATES = 15

_MASKS = (
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<uuid>"),
    (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "<ip>"),
    (r"\b0x[0-9a-fA-F]+\b|\b[0-9a-f]{12,}\b", "<hex>"),
    (r"\"[^\"]*\"|'[^']*'", "<str>"),
    (r"\d+(?:\.\d+)?", "<n>"),
)


def mask(expr: pl.Expr) -> pl.Expr:
    for pattern, repl in _MASKS:
        expr = expr.str.replace_all(pattern, repl)
    return expr.str.slice(0, 300)


def message_templates(events: pl.DataFrame, unrecognized: list[str], redacted: bool = False) -> list[dict]:
    """Templates of app errors (warning and above) and unrecognized samples, most frequent first. `redacted`: the
    texts are redacted before they are masked, as the Report's redaction cannot find a secret in a template whose
    masks broke its key (`password%3D…%2C` masked to `password%<n>D…%<n>C`)."""
    app = events.filter((pl.col("source") == "app") & pl.col("level").cast(pl.String).is_in(["warning", "error", "critical"]))
    texts = pl.concat([
        app.select(pl.col("message").alias("text"), pl.lit("app").alias("origin")),
        pl.DataFrame({"text": unrecognized, "origin": ["unrecognized"] * len(unrecognized)},
                     schema={"text": pl.String, "origin": pl.String}),
    ]).filter(pl.col("text").is_not_null() & (pl.col("text").str.strip_chars() != ""))
    if texts.height == 0:
        return []
    if redacted:
        texts = texts.with_columns(text=redact_expr(pl.col("text")))
    grouped = (
        texts.with_columns(template=mask(pl.col("text")))
        .group_by(["template", "origin"])
        .agg(count=pl.len(), example=pl.col("text").sort().first())
        .sort(["count", "template"], descending=[True, False])
    )
    head = grouped.head(MAX_MESSAGES)
    labels = _cluster(head.get_column("template").to_list())
    head = head.with_columns(cluster=pl.Series(labels, dtype=pl.Int64))
    merged = (
        head.group_by("cluster")
        .agg(
            template=pl.col("template").sort_by("count", descending=True).first(),
            origin=pl.col("origin").sort_by("count", descending=True).first(),
            count=pl.col("count").sum(),
            variants=pl.len(),
            example=pl.col("example").sort_by("count", descending=True).first(),
        )
        .sort(["count", "template"], descending=[True, False])
        .head(MAX_TEMPLATES)
    )
    return [
        {"template": r["template"], "count": int(r["count"]), "variants": int(r["variants"]),
         "origin": r["origin"], "example": (r["example"] or "")[:300]}
        for r in merged.iter_rows(named=True)
    ]


def _cluster(templates: list[str]) -> list[int]:
    """Cluster labels per template. Up to MAX_TEMPLATES distinct templates are all shown as they are,
    so scikit-learn (about 2 s to import) is loaded only when there are more to merge."""
    if len(templates) <= MAX_TEMPLATES:
        return list(range(len(templates)))
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        matrix = TfidfVectorizer(token_pattern=r"[A-Za-z_<>]{2,}", lowercase=True, use_idf=False).fit_transform(templates)
    except ValueError:  # no tokens at all (only digits or punctuation)
        return list(range(len(templates)))
    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=DISTANCE
    )
    dense = matrix.toarray()
    empty = dense.sum(axis=1) == 0
    if empty.any():
        dense[empty, 0] = 1e-9  # cosine distance needs non-zero vectors; such rows stay near each other only
    return [int(x) for x in model.fit_predict(dense)]
