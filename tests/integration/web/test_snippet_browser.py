"""The landing-page snippet in a real headless browser, end to end.

A page server of the test (its own origin, the site key's) embeds ``/t.js`` from the
worker; chromium lands on it with a gclid and utm tags, reloads, navigates to a second
page without them and submits a form there; the page server receives the form post
with the snippet's hidden fields and, as a site's backend does, sends the
form_submission to ``/ingest/forms``. Then Kafka holds the landing's ad_click and the
form with the same click id, and ClickHouse attributes the lead by click to the
landing's campaign. The same page on a foreign origin is refused and produces nothing.

Run with FUNNELWATCH_WRITE_DOCS=1 to (re)write the README's screenshot under docs/.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from funnelwatch.localstack.ports import free_port
from funnelwatch.streams.catalogue import catalogue
from tests.support.browser import headless_chromium, network_events
from tests.support.clickhouse import value_sql

from .conftest import SITE_KEY, SITE_ORIGIN, SITE_PORT, Stack

pytestmark = pytest.mark.integration

SCREENSHOT = Path(__file__).parents[3] / "docs" / "snippet-test-page.png"
CARRIED = ("click_id", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")

LANDING_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Winter boots</title>
<script src="{worker}/t.js" data-site-key="{key}" async></script></head>
<body style="font-family: sans-serif; margin: 2em">
<h1>Winter boots</h1><p>The landing of an ad click.</p>
<a id="next" href="/signup.html">Sign up for a demo</a>
</body></html>
"""

# The form is in the page; a second one is added later, as sites do with pop-ups. The
# page's own script (not the snippet) shows what the forms carry, for the screenshot.
SIGNUP_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Request a demo</title>
<script src="{worker}/t.js" data-site-key="{key}" async></script>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 46em }}
form {{ border: 1px solid #bbb; border-radius: 6px; padding: 1em; margin: 1em 0 }}
input[type=text] {{ width: 18em }}
pre {{ background: #f4f4f4; padding: 1em; white-space: pre-wrap }}
</style></head>
<body>
<h1>Request a demo</h1>
<p>Second page of the visit: no click id in its URL
(<code id="url"></code>); the snippet took it from its cookie.</p>
<form id="signup" method="post" action="/submit">
  <label>Name <input type="text" name="name" value="Ada Example"></label>
  <button id="send" type="submit">Request a demo</button>
</form>
<h2>Hidden fields the snippet added</h2>
<pre id="carried">(none yet)</pre>
<script>
document.getElementById("url").textContent = location.href;
setTimeout(() => {{
  const late = document.createElement("form");
  late.id = "newsletter"; late.method = "post"; late.action = "/submit";
  late.innerHTML = '<label>Newsletter (a form added after load) ' +
    '<input type="text" name="name" value="Ada"></label>';
  document.body.insertBefore(late, document.querySelector("h2"));
}}, 300);
setInterval(() => {{
  document.getElementById("carried").textContent = Array.from(document.forms).map((f) =>
    "form#" + f.id + "\\n" + Array.from(f.querySelectorAll("input[type=hidden]"))
      .map((i) => "  " + i.name + " = " + i.value).join("\\n")).join("\\n\\n");
}}, 100);
</script>
</body></html>
"""


@dataclass
class PageServer:
    """A landing site and its backend: pages with the snippet, and a form handler that
    forwards each submission to the worker's /ingest/forms as a form_submission."""

    stack: Stack
    port: int
    submissions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def forward(self, fields: dict[str, str]) -> dict[str, Any]:
        form = {
            "event_type": "form_submission",
            "event_id": f"form-{uuid.uuid4().hex}",
            "event_time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "schema_version": 1,
            "lead_id": f"lead-{uuid.uuid4().hex[:16]}",
            "form_id": "signup",
            "form_type": "demo_request",
            **{name: fields[name] for name in CARRIED if fields.get(name)},
        }
        status, answer = self.stack.request(
            "POST",
            "/ingest/forms",
            json.dumps(form).encode(),
            {"Authorization": f"Bearer {self.stack.token}", "Content-Type": "application/json"},
        )
        done = {"fields": fields, "event": form, "status": status, "answer": answer}
        self.submissions.append(done)
        return done

    def page(self, template: str) -> bytes:
        return template.format(worker=self.stack.base, key=SITE_KEY).encode()


def serve(site: PageServer) -> ThreadingHTTPServer:
    """Run the site on its port in a thread (``shutdown()`` stops it)."""

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, kind: str = "text/html") -> None:
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            if path == "/page.html":
                self._send(200, site.page(LANDING_PAGE))
            elif path == "/signup.html":
                self._send(200, site.page(SIGNUP_PAGE))
            elif path == "/favicon.ico":
                self._send(204, b"")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            fields = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            done = site.forward(fields)
            text = f"<h1>Thanks</h1><p id='lead'>{done['event']['lead_id']} {done['status']}</p>"
            self._send(200, text.encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", site.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def site(stack: Stack) -> Iterator[PageServer]:
    """The site the snippet's key belongs to (its origin is the key's only one)."""
    page_server = PageServer(stack, SITE_PORT)
    assert page_server.origin == SITE_ORIGIN
    server = serve(page_server)
    try:
        yield page_server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def foreign_site(stack: Stack) -> Iterator[PageServer]:
    """Another origin (another port) that copied the snippet tag, key included."""
    page_server = PageServer(stack, free_port())
    server = serve(page_server)
    try:
        yield page_server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with headless_chromium(window="900,820") as chrome:
        yield chrome


class Network:
    """What the browser's DevTools saw of the worker's /collect."""

    def __init__(self, browser: webdriver.Chrome) -> None:
        self.browser = browser
        self.events: list[dict[str, Any]] = []

    def collect_statuses(self) -> list[int]:
        """Statuses of the /collect requests so far, in request order. A response that
        CORS hides from the page has no responseReceived, only its raw ExtraInfo."""
        self.events += network_events(self.browser)
        urls: dict[str, str] = {}
        statuses: dict[str, int] = {}
        for e in self.events:
            params = e["params"]
            if e["method"] == "Network.requestWillBeSent":
                urls.setdefault(params["requestId"], params["request"]["url"])
            elif e["method"] == "Network.responseReceived":
                statuses[params["requestId"]] = params["response"]["status"]
            elif e["method"] == "Network.responseReceivedExtraInfo":
                statuses.setdefault(params["requestId"], params["statusCode"])
        return [
            statuses[rid]
            for rid, url in urls.items()
            if url.endswith("/collect") and rid in statuses
        ]

    def wait_collects(self, n: int, timeout: float = 15) -> list[int]:
        deadline = time.monotonic() + timeout
        while len(self.collect_statuses()) < n:
            if time.monotonic() > deadline:
                seen = [e["method"] for e in self.events]
                console = self.browser.get_log("browser")
                raise AssertionError(f"{n} /collect answers not seen: {seen}; console {console}")
            time.sleep(0.2)
        return self.collect_statuses()


def _end_offsets(stack: Stack, topic: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=stack.env.bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in range(stack.env.partitions)]
        return dict(consumer.end_offsets(tps))
    finally:
        consumer.close()


def _records_since(stack: Stack, since: dict[TopicPartition, int]) -> list[tuple[bytes, Any]]:
    """(key, decoded value) of every record written after ``since``, up to the end now."""
    ends = _end_offsets(stack, next(iter(since)).topic)
    wanted = {tp: end for tp, end in ends.items() if end > since[tp]}
    if not wanted:
        return []
    consumer = KafkaConsumer(bootstrap_servers=stack.env.bootstrap, consumer_timeout_ms=10_000)
    out = []
    try:
        consumer.assign(list(wanted))
        for tp in wanted:
            consumer.seek(tp, since[tp])
        for record in consumer:
            out.append((record.key, json.loads(record.value)))
            tp = TopicPartition(record.topic, record.partition)
            if record.offset + 1 >= wanted[tp]:
                wanted.pop(tp)
                consumer.pause(tp)
            if not wanted:
                break
    finally:
        consumer.close()
    assert not wanted, f"records up to the end offsets not read: {wanted}"
    return out


def _lead_rows(stack: Stack, table: str, lead_id: str) -> list[tuple[Any, ...]]:
    client = stack.client()
    try:
        return client.execute(
            "SELECT argMax(attribution, version), argMax(campaign_id, version), "
            f"argMax({value_sql('channel')}, version), argMax(click_id, version) FROM {table} "
            "WHERE stage = 'lead' AND lead_id = %(lead)s GROUP BY event_id",
            {"lead": lead_id},
        )
    finally:
        client.close()


def _click_rows(stack: Stack, click_id: str) -> list[tuple[Any, ...]]:
    client = stack.client()
    try:
        return client.execute(
            f"SELECT event_id, campaign_id, {value_sql('channel')}, cost_micros, "
            f"{value_sql('device')} FROM funnel_facts "
            "WHERE stage = 'click' AND click_id = %(click)s",
            {"click": click_id},
        )
    finally:
        client.close()


def _wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"{what} not seen in {timeout}s")


def _hidden(form: Any) -> dict[str, str]:
    return {
        str(i.get_attribute("name")): str(i.get_attribute("value"))
        for i in form.find_elements(By.CSS_SELECTOR, "input[type=hidden]")
    }


def test_a_landing_click_id_reaches_kafka_with_the_form_and_attributes_the_lead_by_click(
    stack: Stack, site: PageServer, browser: webdriver.Chrome, measured: Callable[[str], None],
    tmp_path: Path,
) -> None:  # fmt: skip
    gclid = f"Cj0KCQiA-test-{uuid.uuid4().hex}"
    campaign = f"cmp-snippet-{uuid.uuid4().hex[:8]}"
    utm = {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": campaign}
    clicks_topic = catalogue(stack.env.settings).clicks.name
    forms_topic = catalogue(stack.env.settings).forms.name
    clicks_before = _end_offsets(stack, clicks_topic)
    forms_before = _end_offsets(stack, forms_topic)
    network = Network(browser)
    network_events(browser)  # drop what earlier tests left in the log
    started = time.monotonic()

    query = urllib.parse.urlencode({"gclid": gclid, **utm})
    browser.get(f"{site.origin}/page.html?{query}")
    assert network.wait_collects(1) == [202]
    # a reload reports the landing again: the same event, produced once
    browser.refresh()
    assert network.wait_collects(2) == [202, 202]
    cookie = browser.get_cookie("_fw")
    assert cookie is not None
    assert (cookie["sameSite"], cookie["secure"], cookie["path"]) == ("Lax", False, "/")
    days = stack.env.settings.snippet_cookie_days
    assert abs(cookie["expiry"] - (time.time() + days * 86400)) < 300
    assert json.loads(urllib.parse.unquote(cookie["value"]))["click_id"] == gclid

    browser.find_element(By.ID, "next").click()
    WebDriverWait(browser, 15).until(lambda b: b.current_url.endswith("/signup.html"))
    expected = {"click_id": gclid, **utm}
    # the page's form, and the one added after the snippet ran (MutationObserver)
    WebDriverWait(browser, 15).until(
        lambda b: (
            len(b.find_elements(By.TAG_NAME, "form")) == 2
            and all(_hidden(f) == expected for f in b.find_elements(By.TAG_NAME, "form"))
        )
    )
    WebDriverWait(browser, 5).until(lambda b: gclid in b.find_element(By.ID, "carried").text)
    assert network.collect_statuses() == [202, 202], "a page without tags reports nothing"
    shot = SCREENSHOT if os.environ.get("FUNNELWATCH_WRITE_DOCS") == "1" else tmp_path / "p.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []

    browser.find_element(By.ID, "send").click()
    WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.ID, "lead"))
    (submission,) = site.submissions
    assert {k: submission["fields"].get(k) for k in expected} == expected
    assert submission["fields"]["name"] == "Ada Example"
    assert submission["status"] == 202, submission["answer"]
    lead_id = submission["event"]["lead_id"]

    clicks = [v for _, v in _records_since(stack, clicks_before) if v["click_id"] == gclid]
    assert len(clicks) == 1, clicks
    (click,) = clicks
    assert (click["campaign_id"], click["channel"], click["cost_micros"]) == (
        campaign,
        "google",
        0,
    )
    assert click["device"] == "desktop"
    forms = [(k, v) for k, v in _records_since(stack, forms_before) if v["lead_id"] == lead_id]
    assert [(k, v["click_id"], v["utm_campaign"]) for k, v in forms] == [
        (lead_id.encode(), gclid, campaign)
    ]

    attributed = ("click", campaign, "google", gclid)
    for table in ("funnel_facts", "lead_facts"):

        def by_click(table: str = table) -> list[tuple[Any, ...]]:
            return [r for r in _lead_rows(stack, table, lead_id) if r == attributed]

        _wait_for(by_click, 60, f"the lead attributed by click in {table}")
        assert _lead_rows(stack, table, lead_id) == [attributed]
    assert [r[1:4] for r in _click_rows(stack, gclid)] == [(campaign, "google", 0)]
    measured(f"landing to the lead attributed by click in {time.monotonic() - started:.1f}s")


def test_the_snippet_on_a_foreign_origin_is_refused_and_produces_nothing(
    stack: Stack, foreign_site: PageServer, browser: webdriver.Chrome
) -> None:
    gclid = f"Cj0KCQiA-foreign-{uuid.uuid4().hex}"
    clicks_topic = catalogue(stack.env.settings).clicks.name
    before = _end_offsets(stack, clicks_topic)
    network = Network(browser)
    network_events(browser)
    browser.get_log("browser")
    query = urllib.parse.urlencode({"gclid": gclid, "utm_campaign": "cmp-stolen-key"})
    browser.get(f"{foreign_site.origin}/page.html?{query}")
    assert network.wait_collects(1) == [403]
    # the page cannot read the refusal either: no CORS header on it
    WebDriverWait(browser, 10).until(
        lambda b: any("CORS" in e["message"] for e in b.get_log("browser"))
    )
    time.sleep(1)  # a produce would be acknowledged long before this
    assert [v for _, v in _records_since(stack, before) if v["click_id"] == gclid] == []
    assert _click_rows(stack, gclid) == []


def _collect(stack: Stack, method: str, origin: str | None, body: Any = None) -> Any:
    headers = {"Content-Type": "text/plain;charset=UTF-8"}
    if origin:
        headers["Origin"] = origin
    raw = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack.base + "/collect", raw, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_collect_answers_cors_only_to_the_keys_origin_and_takes_no_costs(
    stack: Stack, site: PageServer, foreign_site: PageServer
) -> None:
    status, headers, _ = _collect(stack, "OPTIONS", SITE_ORIGIN)
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == SITE_ORIGIN
    assert headers["Access-Control-Allow-Methods"] == "POST"
    status, headers, _ = _collect(stack, "OPTIONS", foreign_site.origin)
    assert status == 403 and "Access-Control-Allow-Origin" not in headers

    clicks_topic = catalogue(stack.env.settings).clicks.name
    before = _end_offsets(stack, clicks_topic)
    click_id = f"direct-{uuid.uuid4().hex}"
    landing = {"site_key": SITE_KEY, "click_id": click_id, "click_id_type": "gclid"}
    for origin, body, want in [
        (None, landing, 403),
        (foreign_site.origin, landing, 403),
        (SITE_ORIGIN, {**landing, "site_key": "pk_unknown"}, 403),
        (SITE_ORIGIN, {**landing, "cost_micros": 9_000_000}, 400),
        (SITE_ORIGIN, {**landing, "event_time": "2020-01-01T00:00:00Z"}, 400),
    ]:
        status, headers, raw = _collect(stack, "POST", origin, body)
        assert status == want, raw
        assert ("Access-Control-Allow-Origin" in headers) == (want != 403)
    time.sleep(1)
    assert [v for _, v in _records_since(stack, before) if v["click_id"] == click_id] == []


def test_a_landing_with_utm_tags_only_gets_the_snippets_own_id_kept_across_a_reload(
    stack: Stack, site: PageServer, browser: webdriver.Chrome
) -> None:
    campaign = f"cmp-newsletter-{uuid.uuid4().hex[:8]}"
    network = Network(browser)
    network_events(browser)
    query = urllib.parse.urlencode({"utm_source": "newsletter", "utm_campaign": campaign})
    browser.get(f"{site.origin}/page.html?{query}")
    assert network.wait_collects(1) == [202]
    cookie = browser.get_cookie("_fw")
    assert cookie is not None
    kept = json.loads(urllib.parse.unquote(cookie["value"]))
    assert kept["click_id_type"] == "fw" and kept["utm_campaign"] == campaign
    assert len(kept["click_id"]) == len("fw.") + 32
    browser.refresh()
    assert network.wait_collects(2) == [202, 202]
    cookie = browser.get_cookie("_fw")
    assert cookie is not None
    assert json.loads(urllib.parse.unquote(cookie["value"]))["click_id"] == kept["click_id"]
    rows = _wait_for(lambda: _click_rows(stack, kept["click_id"]), 60, "the landing's click")
    assert [r[1:4] for r in rows] == [(campaign, "newsletter", 0)]
