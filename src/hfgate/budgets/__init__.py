"""Budgets per API key and per person: tokens and dollars per day or month (docs/budgets.md)."""

from hfgate.budgets.counters import FallbackCounters, MemoryCounters
from hfgate.budgets.gate import BudgetGate
from hfgate.budgets.service import Budgets

__all__ = ["BudgetGate", "Budgets", "FallbackCounters", "MemoryCounters"]
