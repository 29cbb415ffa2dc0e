"""The served snippet: the committed script with the cookie lifetime rendered in,
small, and reading exactly the click ids and utm tags the worker accepts."""

from __future__ import annotations

import re

from funnelwatch.processors.web.landing import CLICK_ID_CHANNELS, SNIPPET_CLICK_ID_TYPE, UTM_FIELDS
from funnelwatch.processors.web.snippet import PLACEHOLDER, snippet_js


def test_the_cookie_lifetime_is_rendered_into_the_script() -> None:
    script = snippet_js(30).decode()
    assert PLACEHOLDER not in script
    assert "const DAYS = 30;" in script
    assert "const DAYS = 400;" in snippet_js(400).decode()


def test_the_snippet_is_small_and_loads_nothing_else() -> None:
    script = snippet_js(90)
    assert len(script) < 5000
    code = script.split(b"*/", 1)[1]  # after the header comment with the embed example
    assert not re.search(rb"import\s*\(|importScripts|<script|document\.write", code)
    assert b"http://" not in code and b"https://" not in code


def test_the_snippet_reads_the_click_ids_and_utm_tags_collect_accepts() -> None:
    script = snippet_js(90).decode()
    click_ids = re.search(r"const CLICK_IDS = \[(.*?)\];", script)
    utm = re.search(r"const UTM = \[(.*?)\];", script)
    assert click_ids and utm
    assert re.findall(r'"(\w+)"', click_ids.group(1)) == list(CLICK_ID_CHANNELS)
    assert tuple(re.findall(r'"(\w+)"', utm.group(1))) == UTM_FIELDS
    assert f'click_id_type: "{SNIPPET_CLICK_ID_TYPE}"' in script
