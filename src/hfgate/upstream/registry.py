"""Which dialect speaks to a served model: one entry per engine, looked up, never branched on."""

from __future__ import annotations

from collections.abc import Callable

from hfgate.errors import UpstreamProtocolError
from hfgate.upstream import openai_compat, tgi
from hfgate.upstream.base import Dialect
from hfgate.values.served import ServedModel

ENGINES: dict[str, Callable[[ServedModel], Dialect]] = {
    "tgi": tgi.dialect_for,
    "openai": openai_compat.dialect_for,
}


def dialect_for(model: ServedModel) -> Dialect:
    factory = ENGINES.get(model.engine)
    if factory is None:
        raise UpstreamProtocolError(
            f"{model.name} is stored with the engine {model.engine!r}, which this version of"
            f" hfgate cannot call (it knows: {', '.join(sorted(ENGINES))})"
        )
    return factory(model)
