"""Who is calling, as every layer sees it: a person's role and, for an API key, its limits."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hfgate.errors import PermissionDenied


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    email: str
    role: Role
    key_id: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    models: tuple[str, ...] | None = None  # a key's model allowlist; None: every model
    context_policy: str | None = None  # a key's choice: trim | strict; None: the default

    @property
    def is_admin(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models

    def require_model(self, model: str) -> None:
        if not self.may_use(model):
            raise PermissionDenied(
                f"this API key may not use {model!r}; it is limited to:"
                f" {', '.join(self.models or ())}",
                param="model",
                code="model_not_allowed",
            )

    def require_admin(self) -> None:
        if not self.is_admin:
            raise PermissionDenied(
                "this needs an admin or owner; ask one of them to do it or to change your role"
            )
