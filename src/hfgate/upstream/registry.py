"""Which dialect speaks to a served model: one entry per engine, looked up, never branched on.

The keys are the ``engine`` fact validation stores (``integrations/engines``): vLLM and SGLang
share ``openai`` (one dialect; ``engine_flavour`` tells them apart where it matters).
"""

from __future__ import annotations

from collections.abc import Callable

from hfgate.errors import UpstreamProtocolError
from hfgate.upstream import llamacpp, openai_compat, tei, tgi
from hfgate.upstream.base import Dialect
from hfgate.values.served import ServedModel

ENGINES: dict[str, Callable[[ServedModel], Dialect]] = {
    "tgi": tgi.dialect_for,
    "openai": openai_compat.dialect_for,
    "llamacpp": llamacpp.dialect_for,
    "tei": lambda _model: tei.DIALECT,
}


def dialect_for(model: ServedModel) -> Dialect:
    factory = ENGINES.get(model.engine)
    if factory is None:
        raise UpstreamProtocolError(
            f"{model.name} is stored with the engine {model.engine!r}, which this version of"
            f" hfgate cannot call (it knows: {', '.join(sorted(ENGINES))})"
        )
    return factory(model)
