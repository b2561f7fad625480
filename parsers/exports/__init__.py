"""File parsers for log-platform exports (Loki, Elasticsearch, CloudWatch, Cloud Logging, Datadog,
Splunk, Azure Log Analytics): each reads its platform's layout into entries (`entries.py`), which are framed,
recognized and accounted like a pod's log."""

from parsers.exports.azure import AzureCliQueryJson, AzureContainerLogCsv, AzureLogAnalyticsApiJson
from parsers.exports.cloudwatch import CloudWatchEventsJson, CloudWatchInsightsCsv, CloudWatchInsightsJson
from parsers.exports.datadog import DatadogApiJson, DatadogCsv
from parsers.exports.elastic import ElasticdumpNdjson, ElasticSearchJson, KibanaCsv
from parsers.exports.gcp import GcpLoggingJson, GcpLoggingYaml
from parsers.exports.loki import GrafanaLogsJson, GrafanaLogsTxt, LokiApiJson, LokiJsonl, LokiText
from parsers.exports.splunk import SplunkCsv, SplunkExportJson, SplunkResultsJson

__all__ = ["AzureCliQueryJson", "AzureContainerLogCsv", "AzureLogAnalyticsApiJson", "CloudWatchEventsJson", "CloudWatchInsightsCsv", "CloudWatchInsightsJson", "DatadogApiJson", "DatadogCsv",
           "GcpLoggingJson", "GcpLoggingYaml", "ElasticSearchJson", "ElasticdumpNdjson", "KibanaCsv", "GrafanaLogsJson", "GrafanaLogsTxt", "LokiApiJson", "LokiJsonl", "LokiText",
           "SplunkCsv", "SplunkExportJson", "SplunkResultsJson"]
