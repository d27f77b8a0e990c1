"""The Hugging Face Hub beside the endpoint: model info (docs/protocols.md §4.2) and whoami.

``GET /api/models/{org}/{name}`` (optionally ``/revision/{rev}``) answers from
``SimConfig.hub_models`` (default: the served model and its pipeline tag). An unknown repo is
the Hub's 401 ``{"error": "Repository not found"}`` with ``X-Error-Code: RepoNotFound``.
``GET /api/whoami-v2`` (bearer) → the user ``management_user`` with its ``orgs`` and a
fine-grained token whose scoped permissions follow the token (``management.token_role``);
an unknown or missing token → 401 ``{"error": "Invalid credentials in Authorization header"}``
(also in ``X-Error-Message``, as the Hub sends it). Whoami calls are counted in
``stats.management``. Not behind the endpoint's proxy: a scaled-to-zero endpoint's Hub is
still up, and ``management_down`` is the endpoints API's fault, not the Hub's.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hfgate.sim import records
from hfgate.sim.http import json_response
from hfgate.sim.management import count, orgs, token_role
from hfgate.sim.proxy import bearer
from hfgate.sim.state import Runtime
from hfgate.sim.tgi import build_sha

NOT_FOUND_HEADERS = {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"}
BAD_TOKEN = "Invalid credentials in Authorization header"


def model_info(repo_id: str, pipeline_tag: str | None) -> dict[str, Any]:
    tags = ["transformers", "safetensors"]
    if pipeline_tag:
        tags.append(pipeline_tag)
    if pipeline_tag in ("text-generation", "image-text-to-text"):
        tags += ["conversational", "text-generation-inference"]
    return {
        "_id": build_sha("hub-" + repo_id)[:24],
        "id": repo_id,
        "modelId": repo_id,
        "author": repo_id.split("/", 1)[0],
        "sha": build_sha(repo_id),
        "private": False,
        "gated": False,
        "disabled": False,
        "library_name": "transformers",
        "pipeline_tag": pipeline_tag,
        "tags": tags,
    }


def hub_routes(runtime: Runtime) -> list[Route]:
    async def model(request: Request) -> Response:
        repo_id = request.path_params["repo_id"].split("/revision/", 1)[0].strip("/")
        models = runtime.config.hub()
        if repo_id.count("/") > 1 or repo_id not in models:
            return json_response({"error": "Repository not found"}, 401, NOT_FOUND_HEADERS)
        return json_response(model_info(repo_id, models[repo_id]))

    async def whoami(request: Request) -> Response:
        count(runtime, "GET /api/whoami-v2")
        config = runtime.config
        role = token_role(config, bearer(dict(request.scope["headers"])))
        if role is None:
            return json_response({"error": BAD_TOKEN}, 401, {"X-Error-Message": BAD_TOKEN})
        return json_response(records.whoami(config, role, orgs(config)))

    return [
        Route("/api/models/{repo_id:path}", model, methods=["GET"]),
        Route("/api/whoami-v2", whoami, methods=["GET"]),
    ]
