"""The Hugging Face Hub's model info, beside the endpoint (docs/protocols.md §4.2: the task check).

``GET /api/models/{org}/{name}`` (optionally ``/revision/{rev}``) answers from
``SimConfig.hub_models`` (default: the served model and its pipeline tag). An unknown repo is
the Hub's 401 ``{"error": "Repository not found"}`` with ``X-Error-Code: RepoNotFound``.
Not behind the endpoint's proxy: a scaled-to-zero endpoint's Hub is still up.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hfgate.sim.http import json_response
from hfgate.sim.state import Runtime
from hfgate.sim.tgi import build_sha

NOT_FOUND_HEADERS = {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"}


def model_info(repo_id: str, pipeline_tag: str | None) -> dict[str, Any]:
    tags = ["transformers", "safetensors"]
    if pipeline_tag:
        tags.append(pipeline_tag)
    if pipeline_tag == "text-generation":
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

    return [Route("/api/models/{repo_id:path}", model, methods=["GET"])]
