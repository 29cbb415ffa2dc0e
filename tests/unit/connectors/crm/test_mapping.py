"""The YAML mapping: statuses checked at load, "*" pipelines, object statuses first."""

from __future__ import annotations

from pathlib import Path

import pytest

from funnelwatch.connectors.crm.mapping import EXAMPLE, CrmMapping, load_mapping


def test_shipped_example_loads_and_maps_every_provider() -> None:
    example = load_mapping(EXAMPLE)
    assert example.hubspot.status_of("default", "closedwon") == "won"
    assert example.pipedrive.status_of("1", "3", "open") == "meeting_booked"
    assert example.amocrm.status_of("7000001", "142") == "won"
    assert example.bitrix24.status_of("1", "C1:WON") == "won"


def test_unknown_status_in_mapping_fails_at_load_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "crm.yaml"
    path.write_text("hubspot:\n  pipelines:\n    default:\n      closedwon: wonn\n")
    with pytest.raises(ValueError, match=r"pipelines.default.closedwon: 'wonn' is not one of"):
        load_mapping(path)


def test_unknown_provider_section_fails_at_load(tmp_path: Path) -> None:
    path = tmp_path / "crm.yaml"
    path.write_text("salesforce: {}\n")
    with pytest.raises(ValueError, match="salesforce"):
        load_mapping(path)


def test_stage_not_in_mapping_maps_to_none(mapping: CrmMapping) -> None:
    assert mapping.hubspot.status_of("default", "qualifiedtobuy") is None
    assert mapping.hubspot.status_of("other-pipeline", "closedwon") is None


def test_star_pipeline_maps_stages_of_any_pipeline(mapping: CrmMapping) -> None:
    assert mapping.amocrm.status_of("7000001", "142") == "won"
    assert mapping.amocrm.status_of("", "143") == "lost"
    assert mapping.amocrm.status_of("7000001", "61000001") == "contacted"


def test_object_status_is_consulted_before_the_stage(mapping: CrmMapping) -> None:
    assert mapping.pipedrive.status_of("1", "2", "won") == "won"
    assert mapping.pipedrive.status_of("1", "2", "open") == "presentation_requested"


def test_numeric_yaml_ids_are_read_as_text(mapping: CrmMapping) -> None:
    assert mapping.pipedrive.status_of("1", "1", None) == "contacted"
