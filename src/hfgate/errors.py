"""The one error hierarchy of hfgate.

Every failure hfgate reports is an ``HfgateError``. Each carries what the OpenAI wire format
needs (``status``, ``type``, ``code``, ``param``) so the HTTP boundary translates it once, in
``hfgate.api.errors``, into ``{"error": {"message", "type", "param", "code"}}``. Upstream
engines translate what an endpoint answered into these classes once, in ``hfgate.upstream``;
nothing above that layer looks at an upstream status code.

    HfgateError
    ├── InvalidRequest               400  the caller sent something we cannot use
    │   ├── CredentialInvalid        400  the pasted credential JSON (one message per problem)
    │   └── ContextLengthExceeded    400  even the system prompt + last turn do not fit
    ├── AuthenticationRequired       401  no or unknown hfgate key / session
    ├── PermissionDenied             403  the caller's role may not do this
    ├── NotFound                     404  unknown model, integration, conversation …
    ├── Conflict                     409  e.g. a model name already taken
    ├── PayloadTooLarge              413  body over HFGATE_MAX_BODY_BYTES
    ├── ValidationFailed             422  a live check of a credential failed (carries the report)
    ├── RateLimited                  429  the caller's key is over its limits
    └── UpstreamError                     the endpoint (not the caller) is the problem
        ├── UpstreamAuthFailed       502  the stored endpoint token was rejected (admin's problem)
        ├── UpstreamUnreachable      502  DNS / connect / TLS failure, dropped connection
        ├── UpstreamProtocolError    502  the endpoint answered something we cannot read
        ├── UpstreamBadRequest       400  the engine refused the request's parameters
        ├── UpstreamOverloaded       429  the engine is at its concurrency limit
        ├── EndpointPaused           503  paused: it will not wake by itself
        ├── EndpointColdStart        503  scaled to zero / initializing (retryable)
        ├── EndpointColdStartTimeout 503  still cold after the wake-up deadline
        └── EndpointFailed           503  failed or deleted on Hugging Face (an admin must act)

Messages are written for the person who must act on them and never contain secrets.
"""

from __future__ import annotations

from typing import Any, ClassVar


class HfgateError(Exception):
    """Base of every error hfgate raises on purpose."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.retry_after = retry_after
        self.extra = extra or {}

    def to_body(self) -> dict[str, Any]:
        """The OpenAI-shaped error body."""
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.type,
            "param": self.param,
            "code": self.code,
        }
        error.update(self.extra)
        return {"error": error}


class InvalidRequest(HfgateError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class CredentialInvalid(InvalidRequest):
    code = "invalid_credential"


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class AuthenticationRequired(HfgateError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(HfgateError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFound(HfgateError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class Conflict(HfgateError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class PayloadTooLarge(HfgateError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class ValidationFailed(HfgateError):
    status = 422
    type = "invalid_request_error"
    code = "validation_failed"


class RateLimited(HfgateError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class BudgetExceeded(RateLimited):
    """A key's or a person's budget for the period is spent; the message names which, the
    figure, and when it resets."""

    code = "budget_exceeded"


class UpstreamError(HfgateError):
    status = 502
    type = "upstream_error"
    code = "upstream_error"


class UpstreamAuthFailed(UpstreamError):
    code = "upstream_auth_failed"


class UpstreamUnreachable(UpstreamError):
    code = "upstream_unreachable"


class UpstreamProtocolError(UpstreamError):
    code = "upstream_protocol_error"


class UpstreamBadRequest(UpstreamError):
    status = 400
    type = "invalid_request_error"
    code = "upstream_rejected_request"


class UpstreamOverloaded(UpstreamError):
    status = 429
    code = "upstream_overloaded"


class EndpointPaused(UpstreamError):
    status = 503
    code = "endpoint_paused"


class EndpointColdStart(UpstreamError):
    status = 503
    code = "endpoint_cold_start"


class EndpointColdStartTimeout(UpstreamError):
    status = 503
    code = "endpoint_cold_start_timeout"


class EndpointFailed(UpstreamError):
    status = 503
    code = "endpoint_failed"
