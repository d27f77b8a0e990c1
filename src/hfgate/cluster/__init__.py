"""Scale-out: what several hfgate processes share through Redis (HFGATE_REDIS_URL).

Without Redis every process keeps its own model status and wakes endpoints on its own; with
it, status is shared and one process in the whole cluster wakes a cold endpoint while the
others wait for it. While Redis is lost each process carries on with its own state
(``fallback.py``) and says so. The database is shared either way (integrations, keys,
sessions, usage).
"""

from hfgate.cluster.coordination import RedisCoordinator
from hfgate.cluster.fallback import FallbackCoordinator, FallbackLimiter, RedisHealth
from hfgate.cluster.status_sync import StatusSync

__all__ = [
    "FallbackCoordinator",
    "FallbackLimiter",
    "RedisCoordinator",
    "RedisHealth",
    "StatusSync",
]
