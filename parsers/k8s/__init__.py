"""Kubernetes events, one module per input shape; `K8sEvents` is the file parser."""

from parsers.k8s.event import REASON, SOURCE
from parsers.k8s.parser import K8sEvents

__all__ = ["REASON", "SOURCE", "K8sEvents"]
