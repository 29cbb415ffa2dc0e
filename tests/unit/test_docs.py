"""The README's configuration table is the one the settings object prints."""

from __future__ import annotations

from pathlib import Path

from funnelwatch.cli import settings_reference

README = Path(__file__).parents[2] / "README.md"


def test_readme_settings_table_matches_the_settings_object() -> None:
    text = README.read_text()
    start = text.index("<!-- settings-reference -->\n") + len("<!-- settings-reference -->\n")
    end = text.index("<!-- /settings-reference -->")
    assert text[start:end].strip() == settings_reference().strip(), (
        "README settings table is stale: paste `funnelwatch settings --markdown`"
    )
