"""Group past incidents that look alike, from their findings and figures (scikit-learn).

Each incident becomes a vector: TF-IDF over its rule IDs (a rule every incident has says little
about which ones are alike) plus its key figures (log-scaled numeric finding stats and the window's
duration, each column scaled to [-1, 1] and given half the weight). Incidents with no finding get
the token `(none)`, so healthy ones group together. Cosine distance, then average-linkage
agglomerative clustering with a distance threshold: no random state, and the input order is fixed
(sorted by name), so the groups are deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from postmortem.batch.summary import IncidentSummary

DISTANCE_THRESHOLD = 0.5
STATS_WEIGHT = 0.5
NO_FINDINGS = "(none)"
METHOD = (
    "TF-IDF over rule IDs + max-abs-scaled log figures (weight 0.5), cosine distance, "
    f"average-linkage agglomerative clustering (scikit-learn), distance threshold {DISTANCE_THRESHOLD}"
)


@dataclass(frozen=True)
class Group:
    """Incidents that look alike, and the rules all of them share."""

    number: int
    members: tuple[str, ...]
    shared_rules: tuple[str, ...]


def _signed_log(v: float) -> float:
    return math.copysign(math.log1p(abs(v)), v)


def feature_matrix(incidents: list[IncidentSummary]) -> np.ndarray:
    """One row per incident: TF-IDF of rule IDs, then weighted scaled figures."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import MaxAbsScaler

    docs = [" ".join(i.rule_ids()) or NO_FINDINGS for i in incidents]
    tfidf = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False).fit_transform(docs)
    figures: list[dict[str, float]] = []
    for inc in incidents:
        row = {f"{f.rule_id}.{k}": _signed_log(v) for f in inc.findings for k, v in f.numeric_stats().items()}
        if inc.duration_seconds is not None:
            row["duration"] = _signed_log(inc.duration_seconds)
        figures.append(row)
    columns = sorted({k for row in figures for k in row})
    if not columns:
        return tfidf.toarray()
    stats = np.array([[row.get(c, 0.0) for c in columns] for row in figures], dtype=float)
    stats = MaxAbsScaler().fit_transform(stats) * (STATS_WEIGHT / math.sqrt(len(columns)))
    return np.hstack([tfidf.toarray(), stats])


def group_incidents(incidents: list[IncidentSummary]) -> list[Group]:
    """Groups of similar incidents, largest first, then by first member name; numbered from 1."""
    incidents = sorted((i for i in incidents if i.ok), key=lambda i: i.name)
    if not incidents:
        return []
    if len(incidents) == 1:
        labels = [0]
    else:
        from sklearn.cluster import AgglomerativeClustering
        from sklearn.metrics.pairwise import cosine_distances

        dist = cosine_distances(feature_matrix(incidents))
        np.clip(dist, 0.0, 2.0, out=dist)
        model = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                        distance_threshold=DISTANCE_THRESHOLD)
        labels = model.fit_predict(dist).tolist()
    members: dict[int, list[IncidentSummary]] = {}
    for inc, label in zip(incidents, labels, strict=True):
        members.setdefault(label, []).append(inc)
    ordered = sorted(members.values(), key=lambda ms: (-len(ms), ms[0].name))
    groups = []
    for n, ms in enumerate(ordered, 1):
        shared = set(ms[0].rule_ids()).intersection(*(m.rule_ids() for m in ms[1:]))
        groups.append(Group(n, tuple(m.name for m in ms), tuple(sorted(shared))))
    return groups
