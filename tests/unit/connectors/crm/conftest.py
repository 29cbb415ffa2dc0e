from __future__ import annotations

from pathlib import Path

import pytest

from funnelwatch.connectors.crm.mapping import CrmMapping, load_mapping
from tests.support.crm import MAPPING_YAML


@pytest.fixture
def mapping(tmp_path: Path) -> CrmMapping:
    path = tmp_path / "crm.yaml"
    path.write_text(MAPPING_YAML)
    return load_mapping(path)
