"""The CRM mapping (YAML): per provider, which pipeline/stage ids are which funnel status,
and which CRM fields carry the lead id, the contact and the currency.

Invariants: a mapping names only statuses of the crm_event contract (a typo fails at load,
with the file and the key); a stage not in the mapping maps to None — the caller keeps
and counts it (never drops it); the pipeline ``"*"`` holds the stages of any pipeline,
consulted after the record's own pipeline (and the only one when a webhook names none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from funnelwatch.schemas.events import CRM_STATUSES

#: the example mapping shipped with funnelwatch (documented in the README)
EXAMPLE = Path(__file__).with_name("crm.example.yaml")
ANY_PIPELINE = "*"


def _check_status(status: str, where: str) -> str:
    if status not in CRM_STATUSES:
        raise ValueError(f"{where}: {status!r} is not one of {', '.join(CRM_STATUSES)}")
    return status


class ProviderMapping(BaseModel):
    """One provider's section of the mapping file."""

    model_config = {"frozen": True, "extra": "forbid"}

    pipelines: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="pipeline id -> stage/status id -> funnel status"
    )
    statuses: dict[str, str] = Field(
        default_factory=dict,
        description="the object's own status (Pipedrive: won/lost) -> funnel status; "
        "consulted before the stage",
    )
    lead_id_field: str | None = Field(
        default=None, description="field (custom property / custom field id) carrying the lead_id"
    )
    email_field: str | None = Field(default=None, description="field carrying the contact's e-mail")
    phone_field: str | None = Field(default=None, description="field carrying the contact's phone")
    currency: str | None = Field(
        default=None, description="currency of deal values when the webhook names none (ISO 4217)"
    )

    @field_validator("pipelines")
    @classmethod
    def _known_statuses(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for pipeline, stages in value.items():
            for stage, status in stages.items():
                _check_status(status, f"pipelines.{pipeline}.{stage}")
        return {str(p): {str(s): st for s, st in stages.items()} for p, stages in value.items()}

    @field_validator("statuses")
    @classmethod
    def _known_object_statuses(cls, value: dict[str, str]) -> dict[str, str]:
        for key, status in value.items():
            _check_status(status, f"statuses.{key}")
        return value

    def status_of(self, pipeline: str, stage: str, object_status: str | None = None) -> str | None:
        """The funnel status of a record, or None when the mapping does not know it."""
        if object_status is not None and object_status in self.statuses:
            return self.statuses[object_status]
        for key in (pipeline, ANY_PIPELINE):
            found = self.pipelines.get(key, {}).get(stage)
            if found is not None:
                return found
        return None


class CrmMapping(BaseModel):
    """The whole mapping file: one optional section per provider."""

    model_config = {"frozen": True, "extra": "forbid"}

    hubspot: ProviderMapping = Field(default_factory=ProviderMapping)
    pipedrive: ProviderMapping = Field(default_factory=ProviderMapping)
    amocrm: ProviderMapping = Field(default_factory=ProviderMapping)
    bitrix24: ProviderMapping = Field(default_factory=ProviderMapping)

    def of(self, provider: str) -> ProviderMapping:
        section: ProviderMapping = getattr(self, provider)
        return section


def _coerce_keys(data: Any) -> Any:
    # YAML reads unquoted numeric ids (pipeline 1, status 142) as ints: ids are text here
    if isinstance(data, dict):
        return {str(k): _coerce_keys(v) for k, v in data.items()}
    return data


def load_mapping(path: Path) -> CrmMapping:
    """Read and check a mapping file; ValueError names the file and every problem."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read the CRM mapping {path}: {exc}") from None
    try:
        return CrmMapping.model_validate(_coerce_keys(data))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise ValueError(f"invalid CRM mapping {path}: {problems}") from None
