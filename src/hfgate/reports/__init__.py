"""Usage figures over time, read from the usage and cold-start tables (docs/usage.md)."""

from hfgate.reports.export import usage_csv, usage_view
from hfgate.reports.usage import UsageQuery, UsageReports, usage_query

__all__ = ["UsageQuery", "UsageReports", "usage_csv", "usage_query", "usage_view"]
