"""The viewer (``GET /ui``) in a real browser: Debian's chromium driven by Playwright.

The service runs on fakeredis, as ``audit-trail run`` does. Every test's page aborts and
records any request to another host, and fails on console errors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import fakeredis
import orjson
import pytest
from browser import LiveService, Tab, launch_chromium, open_tab
from tlog import NoteSigner, proof_for

from collector.keys import KeyNames
from collector.settings import Settings

pytestmark = pytest.mark.fake

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "images" / "viewer.png"
# The README's screenshot is remade on request (`make screenshot`), not on every run:
# a test run must not leave the working tree changed.
WRITE_SCREENSHOT = os.environ.get("AUDIT_WRITE_SCREENSHOT") == "1"
ORIGIN = "audit-trail"


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


def _service(settings: Settings) -> Iterator[LiveService]:
    live = LiveService(fakeredis.FakeRedis(server=fakeredis.FakeServer()), settings)
    yield live
    live.close()


@pytest.fixture
def service() -> Iterator[LiveService]:
    yield from _service(Settings(auth=False))


@pytest.fixture
def secured() -> Iterator[LiveService]:
    yield from _service(Settings(auth=True))


@pytest.fixture
def tabs(browser: Any) -> Iterator[Any]:
    contexts = []

    def make(live: LiveService) -> Tab:
        context, tab = open_tab(browser, live.url)
        contexts.append(context)
        return tab

    yield make
    for context in contexts:
        context.close()


TYPES = ["user.login", "invoice.paid", "role.granted", "document.deleted", "api_key.created"]
SERVICES = ["auth", "billing", "admin", "docs"]
ACTORS = [("alice", "Alice Martin"), ("bob", "Bob Chen"), ("carol", "Carol Diaz"), ("svc-ci", None)]
OUTCOMES = ["success", "success", "failure", "success", "unknown"]


def sample(n: int, tenant: str = "acme") -> list[dict[str, Any]]:
    """n varied, realistic events, one a minute from a fixed start."""
    out = []
    for i in range(n):
        actor_id, name = ACTORS[i % len(ACTORS)]
        actor: dict[str, Any] = {"id": actor_id, "type": "user" if name else "service"}
        if name:
            actor["name"] = name
            actor["ip"] = f"203.0.113.{10 + i % 40}"
        out.append(
            {
                "type": TYPES[i % len(TYPES)],
                "service": SERVICES[i % len(SERVICES)],
                "tenant": tenant,
                "occurred_at": f"2026-11-28T{9 + i // 60:02d}:{i % 60:02d}:00.{i % 1000:03d}Z",
                "actor": actor,
                "target": {"id": f"doc-{100 + i}", "type": "document"},
                "outcome": OUTCOMES[i % len(OUTCOMES)],
                "request_id": f"req-{i:05d}",
                "data": {"n": i, "reason": "scheduled review" if i % 3 else "manual"},
            }
        )
    return out


def rows(page: Any) -> Any:
    return page.locator("#events-table tbody tr")


def seqs(page: Any) -> list[int]:
    return [int(s) for s in rows(page).evaluate_all("rs => rs.map(r => r.dataset.seq)")]


def opened(service: LiveService, tabs: Any, n: int) -> tuple[Tab, Any]:
    """A tab on tenant acme's first page, after storing ``sample(n)``."""
    service.add(sample(n))
    tab = tabs(service)
    page = tab.open("/ui?tenant=acme")
    expect(rows(page)).to_have_count(min(n, 100))
    return tab, page


def query_of(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


# -- the page and its assets -----------------------------------------------------------
def test_the_page_and_every_asset_are_served_locally_with_a_strict_policy(service):
    client = service.client

    def fetch(path: str) -> tuple[int, str, Any]:
        with client.get(path) as response:  # files are streamed: close them
            return response.status_code, response.get_data(as_text=True), response.headers

    status, html, headers = fetch("/ui")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    links = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert all(link.startswith(("/", "?", "#", "data:")) for link in links), links
    assets = [link for link in links if link.startswith("/ui/")]
    assert "/ui/assets/app.js" in assets and "/ui/assets/style.css" in assets
    scripts = ["/ui/assets/app.js"]
    seen = set()
    while scripts:  # follow the module imports: every one is relative, so same-origin
        path = scripts.pop()
        seen.add(path)
        text = fetch(path)[1]
        for target in re.findall(r"^import .* from '([^']+)';", text, re.M):
            assert target.startswith("./"), (path, target)
            resolved = str(Path(path).parent / target[2:])
            if resolved not in seen:
                scripts.append(resolved)
    assert "/ui/assets/vendor/canonicalize.js" in seen
    for path in [*assets, *seen, "/ui/assets/vendor/canonicalize.LICENSE"]:
        assert fetch(path)[0] == 200, path
    assert fetch("/ui/assets/../__init__.py")[0] == 404
    assert client.get("/ui/config.json").get_json() == {"auth": False, "integrity": False}


def test_the_page_needs_no_key_but_its_data_does(secured):
    client = secured.client
    with client.get("/ui") as page:
        assert page.status_code == 200
    assert client.get("/ui/config.json").get_json()["auth"] is True
    assert client.get("/v1/me").status_code == 401


# -- filters, the URL, paging ------------------------------------------------------------
def test_filters_are_kept_in_the_url_and_survive_a_reload(service, tabs):
    tab, page = opened(service, tabs, 40)
    page.get_by_label("Service").fill("billing")
    page.get_by_label("Outcome").select_option("failure")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"service=billing"))
    query = query_of(page)
    assert query["tenant"] == ["acme"] and query["outcome"] == ["failure"]
    matching = [e for e in sample(40) if e["service"] == "billing" and e["outcome"] == "failure"]
    expect(rows(page)).to_have_count(len(matching))
    page.reload()
    expect(page.get_by_label("Service")).to_have_value("billing")
    expect(page.get_by_label("Outcome")).to_have_value("failure")
    expect(rows(page)).to_have_count(len(matching))
    for text in rows(page).locator("td:nth-child(4)").all_inner_texts():
        assert text == "billing"
    # a shared link with every filter opens the same view
    page.goto(service.url + "/ui?tenant=acme&type=user.login&actor_id=alice&order=asc&limit=25")
    expect(page.get_by_label("Type")).to_have_value("user.login")
    expect(page.get_by_label("Actor id")).to_have_value("alice")
    expect(page.get_by_label("Order")).to_have_value("asc")
    expect(page.get_by_label("Per page")).to_have_value("25")
    shown = seqs(page)
    assert shown and shown == sorted(shown)
    # the export links carry the same filters
    href = page.locator("#export-csv").get_attribute("href")
    export = parse_qs(urlsplit(href).query)
    assert export["format"] == ["csv"] and export["type"] == ["user.login"]
    assert export["actor_id"] == ["alice"] and export["order"] == ["asc"]
    # and a bad filter is said, not silently dropped
    page.get_by_label("Since (occurred_at, inclusive)").fill("yesterday")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#filter-error")).to_contain_text("since")
    tab.assert_clean(allow=("status of 400",))


def test_paging_through_250_events_shows_each_once(service, tabs):
    tab, page = opened(service, tabs, 250)
    pages = [seqs(page)]
    next_button = page.get_by_role("button", name="Next")
    while next_button.is_enabled():
        before = pages[-1]
        next_button.click()
        expect(rows(page).first).not_to_have_attribute("data-seq", str(before[0]))
        pages.append(seqs(page))
    assert [len(p) for p in pages] == [100, 100, 50]
    walked = [s for p in pages for s in p]
    assert sorted(walked) == list(range(1, 251))
    assert walked == sorted(walked, reverse=True)  # sample() stores in occurred_at order
    assert "cursor" in query_of(page)
    page.get_by_role("button", name="Previous").click()
    expect(rows(page).first).to_have_attribute("data-seq", str(pages[1][0]))
    page.get_by_role("button", name="First").click()
    expect(rows(page).first).to_have_attribute("data-seq", str(pages[0][0]))
    assert "cursor" not in query_of(page)
    tab.assert_clean()


# -- detail and the proof ----------------------------------------------------------------
def serve_integrity(page: Any, events: list[dict[str, Any]], signer: NoteSigner) -> None:
    """Answer the integrity routes from the test's own tree and signer (built in Python)."""

    def config(route: Any) -> None:
        route.fulfill(json={"auth": False, "integrity": True})

    def key(route: Any) -> None:
        route.fulfill(body=signer.verifier_key, content_type="text/plain")

    def proof(route: Any) -> None:
        event_id = urlsplit(route.request.url).path.split("/")[3]
        route.fulfill(json=proof_for(events, event_id, signer, ORIGIN))

    page.route("**/ui/config.json", config)
    page.route("**/v1/checkpoints/verifier-key", key)
    page.route(re.compile(r".*/v1/events/[^/]+/proof(\?.*)?$"), proof)


def with_integrity(service: LiveService, tabs: Any, n: int) -> tuple[Tab, list[dict[str, Any]]]:
    """``sample(n)`` stored, and a tab whose integrity routes the test's own log answers."""
    events = service.add(sample(n))
    tab = tabs(service)
    serve_integrity(tab.page, events, NoteSigner("audit-trail-test"))
    return tab, events


def open_row(page: Any, seq: int) -> None:
    page.locator(f'#events-table tbody tr[data-seq="{seq}"]').click()
    expect(page.locator("#detail")).to_be_visible()


def test_detail_shows_the_event_and_a_verified_mark_for_a_good_proof(service, tabs):
    tab, events = with_integrity(service, tabs, 23)
    page = tab.page
    tab.open("/ui?tenant=acme")
    expect(rows(page)).to_have_count(23)
    chosen = events[16]
    open_row(page, chosen["seq"])
    proof = page.locator("#proof")
    expect(proof).to_have_attribute("data-proof", "verified")
    expect(proof).to_contain_text("Verified")
    expect(proof).to_contain_text(f"leaf {chosen['seq']} of 23")
    shown = orjson.loads(page.locator("#detail-json").inner_text())
    assert shown == chosen
    assert query_of(page)["event"] == [chosen["id"]]
    # a reload reopens the same event, checked again
    page.reload()
    expect(page.locator("#proof")).to_have_attribute("data-proof", "verified")
    shot = page.screenshot()
    assert shot.startswith(b"\x89PNG")
    if WRITE_SCREENSHOT:
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(shot)
    tab.assert_clean()


def test_a_changed_event_or_a_foreign_signature_is_marked_failed(service, tabs):
    tab, events = with_integrity(service, tabs, 9)
    page = tab.page
    # someone with Redis access edits event 5 after it was logged
    victim = events[4]
    edited = {**victim, "outcome": "success", "data": {"n": 4, "reason": "nothing to see"}}
    body = orjson.dumps(edited)
    service.redis.hset(KeyNames().events("acme"), victim["id"], body)
    tab.open("/ui?tenant=acme")
    open_row(page, 5)
    expect(page.locator("#proof")).to_have_attribute("data-proof", "failed")
    expect(page.locator("#proof")).to_contain_text("Failed")
    expect(page.locator("#proof")).to_contain_text("bytes were changed")
    # an untouched event still verifies
    page.keyboard.press("Escape")
    open_row(page, 6)
    expect(page.locator("#proof")).to_have_attribute("data-proof", "verified")
    # a checkpoint signed by another key than the verifier key fails
    impostor = NoteSigner("audit-trail-test")
    page.unroute(re.compile(r".*/v1/events/[^/]+/proof(\?.*)?$"))
    page.route(
        re.compile(r".*/v1/events/[^/]+/proof(\?.*)?$"),
        lambda route: route.fulfill(json=proof_for(events, events[6]["id"], impostor, ORIGIN)),
    )
    page.keyboard.press("Escape")
    open_row(page, 7)
    expect(page.locator("#proof")).to_have_attribute("data-proof", "failed")
    expect(page.locator("#proof")).to_contain_text("no valid signature")
    tab.assert_clean()


def test_the_proof_code_agrees_with_published_vectors(service, tabs):
    """RFC 9162 roots of certificate-transparency's reference tree, inclusion paths the
    test builds over it, and the signed note of Go's sumdb/note documentation."""
    tab = tabs(service)
    page = tab.open("/ui")
    expect(page.locator("#events-view")).to_be_visible()
    result = page.evaluate(
        """async () => {
          const m = await import('/ui/assets/proof.js');
          const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
          const leaves = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657',
                          '606162636465666768696a6b6c6d6e6f'];
          const bytes = (h) => Uint8Array.from(h.match(/../g) || [], (x) => parseInt(x, 16));
          const hashes = [];
          for (const leaf of leaves) {
            const data = new Uint8Array([0, ...bytes(leaf)]);
            hashes.push(new Uint8Array(await crypto.subtle.digest('SHA-256', data)));
          }
          // inclusion of every leaf of the 8-leaf tree, with paths built by hand below
          const node = async (l, r) => new Uint8Array(
            await crypto.subtle.digest('SHA-256', new Uint8Array([1, ...l, ...r])));
          const level1 = [];
          for (let i = 0; i < 8; i += 2) level1.push(await node(hashes[i], hashes[i + 1]));
          const level2 = [await node(level1[0], level1[1]), await node(level1[2], level1[3])];
          const roots = [];
          for (let i = 0; i < 8; i++) {
            const path = [hashes[i ^ 1], level1[(i >> 1) ^ 1], level2[(i >> 2) ^ 1]];
            roots.push(hex(await m.rootFromInclusion(i, 8, hashes[i], path)));
          }
          // leaf 4 of a 5-leaf tree: its path is the root of the first 4
          const five = hex(await m.rootFromInclusion(4, 5, hashes[4], [level2[0]]));
          let tooShort = null;
          try { await m.rootFromInclusion(3, 8, hashes[3], [hashes[2]]); }
          catch (e) { tooShort = e.message; }
          const vkey = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
          const key = await m.parseVerifierKey(vkey);
          const note = "If you think cryptography is the answer to your problem,\\n" +
            "then you don't know what your problem is.\\n\\n" +
            "\\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZS" +
            "NXgKvqfqdngotpRZb6KE6RyyBwJnAM=\\n";
          const parsed = m.parseNote(note);
          const pub = await crypto.subtle.importKey('raw', key.publicKey, {name: 'Ed25519'},
                                                    false, ['verify']);
          const good = await crypto.subtle.verify({name: 'Ed25519'}, pub,
            parsed.signatures[0].bytes.slice(4), new TextEncoder().encode(parsed.text));
          const bad = await crypto.subtle.verify({name: 'Ed25519'}, pub,
            parsed.signatures[0].bytes.slice(4),
            new TextEncoder().encode(parsed.text.replace('cryptography', 'cryptographY')));
          let badKey = null;
          try { await m.parseVerifierKey(vkey.replace('c74f20a3', 'c74f20a4')); }
          catch (e) { badKey = e.message; }
          return {roots, five, tooShort, keyName: key.name, good, bad, badKey};
        }"""
    )
    root8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert result["roots"] == [root8] * 8
    assert result["five"] == "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"
    assert "too short" in result["tooShort"]
    assert result["keyName"] == "PeterNeumann" and result["good"] is True
    assert result["bad"] is False and "does not match" in result["badKey"]
    tab.assert_clean()


# -- live tail -------------------------------------------------------------------------------
def test_live_tail_shows_new_events_without_a_reload(service, tabs):
    service.add(sample(5))
    tab = tabs(service)
    page = tab.open("/ui?tenant=acme&service=billing")
    expect(rows(page)).to_have_count(sum(1 for e in sample(5) if e["service"] == "billing"))
    page.get_by_label("Live tail").check()
    expect(page.locator("#tail-state")).to_have_text("● Live")
    expect(page).to_have_url(re.compile(r"tail=1"))
    navigations = len([r for r in tab.requests if r.resource_type == "document"])
    fresh = sample(8)[5:]  # billing, admin, docs: one matches
    for number, item in enumerate(fresh):
        item["id"] = f"live-{number}"
    service.add(fresh)
    new_row = page.locator('#events-table tbody tr[data-id="live-0"]')
    expect(new_row).to_be_visible()
    expect(rows(page).first).to_have_attribute("data-id", "live-0")
    expect(page.locator('#events-table tbody tr[data-id="live-1"]')).to_have_count(0)
    assert len([r for r in tab.requests if r.resource_type == "document"]) == navigations
    # the tail resumed after the newest row it showed (seq 2 is the newest billing event)
    tails = [r for r in tab.requests if "/v1/events/tail" in r.url]
    assert parse_qs(urlsplit(tails[0].url).query)["after_seq"] == ["2"]
    page.get_by_label("Live tail").uncheck()
    expect(page.locator("#tail-state")).to_have_text("")
    assert "tail=1" not in page.url
    tab.assert_clean()


# -- sign-in ------------------------------------------------------------------------------
def test_sign_in_with_a_bad_key_then_a_good_one(secured, tabs):
    svc = secured.app.extensions["audit"]
    admin = svc.api_keys.create("ops", ("admin",), ("*",))
    reader = svc.api_keys.create("auditor", ("read",), ("acme",))
    secured.add(sample(12), key=admin)
    secured.add(sample(3, tenant="globex"), key=admin)
    tab = tabs(secured)
    page = tab.open("/ui")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#events-view")).to_be_hidden()
    key_field = page.get_by_label("API key")
    expect(key_field).to_be_focused()
    key_field.fill("at_not-a-real-key")
    key_field.press("Enter")
    expect(page.get_by_role("alert").first).to_contain_text("refused")
    assert page.evaluate("sessionStorage.length") == 0
    key_field.fill(reader)
    page.get_by_role("button", name="Sign in").click()
    expect(rows(page)).to_have_count(12)
    expect(page.locator("#who")).to_contain_text("auditor")
    expect(page.get_by_label("Tenant")).to_have_value("acme")
    # read keys see no admin views
    expect(page.get_by_role("link", name="Status")).to_be_hidden()
    # the key travels as a Bearer header, never in a URL
    api_calls = [r for r in tab.requests if "/v1/" in r.url]
    sent = [r.headers.get("authorization") for r in api_calls]
    assert sent[0] == "Bearer at_not-a-real-key"
    assert len(sent) > 2 and set(sent[1:]) == {f"Bearer {reader}"}
    assert not any(reader in r.url for r in tab.requests)
    assert reader not in page.url
    # a reload keeps the session (session storage), and an export is fetched with the key
    page.reload()
    expect(rows(page)).to_have_count(12)
    exported: list[dict[str, str]] = []

    def fake_export(route: Any) -> None:
        exported.append(route.request.headers)
        route.fulfill(body='{"seq":1}\n', content_type="application/x-ndjson")

    page.route("**/v1/events/export*", fake_export)
    with page.expect_download() as download:
        page.get_by_role("link", name="NDJSON").click()
    assert download.value.suggested_filename == "audit-acme.ndjson"
    assert exported[0]["authorization"] == f"Bearer {reader}"
    # another tenant is refused, and said so
    page.goto(secured.url + "/ui?tenant=globex")
    expect(page.locator("#filter-error")).to_contain_text("may not access tenant")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    tab.assert_clean(allow=("status of 401", "status of 403"))


def test_with_auth_off_there_is_no_sign_in(service, tabs):
    tab, page = opened(service, tabs, 2)
    expect(page.get_by_role("heading", name="Sign in")).to_be_hidden()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    expect(page.locator("#who")).to_have_text("API keys off")
    tab.assert_clean()


# -- keyboard ---------------------------------------------------------------------------
def test_filter_page_and_open_details_with_the_keyboard_only(service, tabs):
    tab, page = opened(service, tabs, 150)
    page.keyboard.press("/")
    expect(page.get_by_label("Tenant")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Service")).to_be_focused()
    page.keyboard.type("docs")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"service=docs"))
    expected = sum(1 for e in sample(150) if e["service"] == "docs")
    expect(rows(page)).to_have_count(expected)
    for _ in range(40):  # Tab on until a row has the focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('#events-table tbody tr')"):
            break
    first = rows(page).nth(0)
    expect(first).to_be_focused()
    page.keyboard.press("ArrowDown")
    second = rows(page).nth(1)
    expect(second).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#detail")).to_be_visible()
    expect(page.locator("#detail-title")).to_contain_text(second.get_attribute("data-seq"))
    page.keyboard.press("Escape")
    expect(page.locator("#detail")).to_be_hidden()
    expect(second).to_be_focused()
    # n and p turn pages when the focus is not in a field
    page.goto(service.url + "/ui?tenant=acme&limit=25")
    expect(rows(page)).to_have_count(25)
    top = rows(page).first.get_attribute("data-seq")
    page.keyboard.press("n")
    expect(rows(page).first).not_to_have_attribute("data-seq", top)
    page.keyboard.press("p")
    expect(rows(page).first).to_have_attribute("data-seq", top)
    # every control has a name
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select')]
                 .filter(e => !e.labels || e.labels.length === 0).map(e => e.id)"""
    )
    assert unlabelled == []
    tab.assert_clean()


# -- admin views ------------------------------------------------------------------------
def test_admin_keys_see_status_and_dead_letters(service, tabs):
    service.add(sample(3))
    service.worker.maintenance.heartbeat(service.worker.name)
    tab = tabs(service)
    page = tab.page
    page.route(
        "**/v1/dead-letters*",
        lambda route: route.fulfill(
            json={
                "items": [
                    {"id": "1-0", "reason": "invalid: type", "source": "audit:ingest"},
                ]
            }
        ),
    )
    tab.open("/ui")
    page.get_by_role("link", name="Status").click()
    expect(page).to_have_url(re.compile(r"view=status"))
    expect(page.locator("#status-summary")).to_contain_text("Workers alive")
    expect(page.locator("#status-workers")).to_contain_text("browser-test")
    expect(page.locator("#status-streams")).to_contain_text("audit:ingest")
    page.get_by_role("link", name="Dead letters").click()
    expect(page.locator("#dead-table")).to_contain_text("invalid: type")
    page.reload()
    expect(page.locator("#dead-view")).to_be_visible()
    tab.assert_clean()


def test_no_request_goes_to_another_host(service, tabs):
    tab, page = opened(service, tabs, 5)
    open_row(page, 3)
    page.get_by_role("link", name="Status").click()
    expect(page.locator("#status-summary")).to_contain_text("Backlog")
    hosts = {urlsplit(r.url).netloc for r in tab.requests if not r.url.startswith("data:")}
    assert hosts == {urlsplit(service.url).netloc}
    tab.assert_clean()
