"""static/tracking/t.js in Chromium against static pages and a stub of the app (tests/tracker/conftest.py)."""

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import wait_for

from .conftest import KEY, SCRIPT

pytestmark = pytest.mark.browser


def ready(page, count=1):
    """Waits for the `count`-th Afficone.ready callback and returns what it was given."""
    page.wait_for_function(f"window.readyCalls && window.readyCalls.length >= {count}")
    return page.evaluate(f"window.readyCalls[{count - 1}]")


def referral_cookies(page):
    return [c for c in page.context.cookies() if c["name"] == "afficone_ref"]


def days_left(cookie):
    return (datetime.fromtimestamp(cookie["expires"]) - datetime.now()) / timedelta(days=1)


def query(url):
    return parse_qs(urlsplit(url).query)


def settled(page):
    """Lets the page's requests finish (the stub answers at once) before counting what it sent."""
    page.wait_for_load_state("networkidle")


def test_a_landing_with_ref_reports_one_click_and_stores_the_referral(visitor, stub):
    visitor.goto(stub.url("shop.test", "/pricing?utm_source=blog&ref=alice"))
    rid = ready(visitor)

    assert rid == "rid-1-alice" and visitor.evaluate("Afficone.referral") == rid
    wait_for(lambda: stub.named("seen"))
    (click,) = stub.named("click")
    assert click.host == "shop.test" and click.path == "/api/track/click"
    assert click.body == {
        "k": KEY,
        "c": "alice",
        "r": "",
        "p": None,
        "u": stub.url("shop.test", "/pricing?utm_source=blog&ref=alice"),
    }
    (cookie,) = referral_cookies(visitor)
    assert cookie["value"] == rid and cookie["domain"] == ".shop.test" and cookie["sameSite"] == "Lax"
    assert 59.9 < days_left(cookie) <= 60
    assert query(visitor.get_attribute("#pl", "href")) == {
        "prefilled_email": ["jo@example.com"],
        "client_reference_id": [rid],
    }
    assert visitor.get_attribute("#bb", "client-reference-id") == rid
    assert visitor.get_attribute("#other", "href") == stub.url("other.test", "/pricing?plan=pro")  # no data-domains

    # Neither a reload of the landing nor other pages send anything more: the installation check went once today.
    visitor.reload()
    assert ready(visitor) == rid
    for path in ("/about", "/blog?utm_source=x", "/pricing"):
        visitor.goto(stub.url("shop.test", path))
        assert ready(visitor) == rid
    settled(visitor)
    assert sorted(post.name for post in stub.posts) == ["click", "seen"]
    assert visitor.errors == []


def test_via_aff_fpr_and_a_second_affiliate_replace_the_referral(visitor, stub):
    visitor.goto(stub.url("shop.test", "/?via=bob"))
    first = ready(visitor)
    visitor.goto(stub.url("shop.test", "/features?aff=carol"))
    second = ready(visitor)
    # FirstPromoter's links (?fpr=), which merchants importing from it keep (README, "Importing from ...").
    visitor.goto(stub.url("shop.test", "/pricing?plan=pro&fpr=dave"))
    third = ready(visitor)

    assert [post.body["c"] for post in stub.named("click")] == ["bob", "carol", "dave"]
    assert stub.named("click")[1].body["p"] == first  # the server decides between first and last click
    assert stub.named("click")[2].body["p"] == second
    assert [c["value"] for c in referral_cookies(visitor)] == [third]


def test_a_plain_page_view_sends_only_the_daily_installation_check(visitor, stub):
    visitor.goto(stub.url("shop.test", "/"))
    assert ready(visitor) is None
    visitor.goto(stub.url("shop.test", "/about"))
    assert ready(visitor) is None
    settled(visitor)

    (seen,) = stub.posts
    assert seen.name == "seen" and seen.body == {"k": KEY, "u": stub.url("shop.test", "/")}
    assert visitor.evaluate("localStorage.afficone_seen") == str(visitor.evaluate("Math.floor(Date.now() / 864e5)"))
    assert referral_cookies(visitor) == [] and visitor.errors == []


@pytest.mark.parametrize(
    "src, endpoint",
    [
        ("/any/prefix/t.js", "http://shop.test:{port}/any/prefix/api/track/"),
        ("/_a/t.js?v=3", "http://shop.test:{port}/_a/api/track/"),
        ("http://cdn.test:{port}/afficone/t.js", "http://cdn.test:{port}/afficone/api/track/"),
    ],
)
def test_endpoints_are_derived_from_the_scripts_own_url(visitor, stub, src, endpoint):
    stub.src = src
    visitor.goto(stub.url("shop.test", "/?ref=alice"))
    rid = ready(visitor)
    wait_for(lambda: stub.named("seen"))

    endpoint = endpoint.format(port=stub.port)
    sent = visitor.evaluate("window.__sent")
    assert sorted(entry["url"] for entry in sent) == [endpoint + "click", endpoint + "seen"]
    assert rid and stub.preflights == []  # text/plain bodies: no CORS preflight, even across origins
    assert visitor.errors == []


def test_nothing_uses_sendbeacon_and_every_request_is_a_keepalive_fetch_of_text(visitor, stub):
    visitor.goto(stub.url("shop.test", "/?ref=alice"))
    ready(visitor)
    wait_for(lambda: stub.named("seen"))

    sent = visitor.evaluate("window.__sent")
    assert len(sent) == 2
    assert all(
        s["via"] == "fetch" and s["keepalive"] and s["method"] == "POST" and s["bodyType"] == "string" for s in sent
    )
    assert {post.content_type for post in stub.posts} == {"text/plain;charset=UTF-8"}


def test_the_tag_pasted_twice_does_the_work_once(visitor, stub):
    stub.before_tag += f'<script src="/t.js" data-afficone="{KEY}"></script>'
    visitor.goto(stub.url("shop.test", "/?ref=alice"))
    ready(visitor)
    settled(visitor)
    assert sorted(post.name for post in stub.posts) == ["click", "seen"]


# --- data-consent -----------------------------------------------------------------------------------------------


def storage(page):
    return page.evaluate("[document.cookie, localStorage.length, sessionStorage.length]")


@pytest.mark.parametrize("value", ["required", ""])
def test_with_data_consent_nothing_is_stored_or_sent_until_consent(visitor, stub, value):
    stub.attributes["data-consent"] = value
    visitor.goto(stub.url("shop.test", "/landing?ref=alice"))
    visitor.wait_for_function("!!(window.Afficone && window.Afficone.v)")
    settled(visitor)

    assert stub.posts == [] and visitor.evaluate("window.__sent") == []
    assert storage(visitor) == ["", 0, 0]
    assert visitor.evaluate("Afficone.referral") is None
    assert visitor.evaluate("window.readyCalls") is None  # the referral is not known yet
    assert visitor.get_attribute("#bb", "client-reference-id") is None

    visitor.evaluate("Afficone.consent()")
    rid = ready(visitor)
    wait_for(lambda: stub.named("seen"))
    (click,) = stub.named("click")
    assert click.body["c"] == "alice" and click.body["u"].endswith("/landing?ref=alice")
    assert rid and [c["value"] for c in referral_cookies(visitor)] == [rid]
    visitor.evaluate("Afficone.consent()")  # a second call changes nothing
    settled(visitor)
    assert len(stub.posts) == 2 and visitor.errors == []


def test_consent_given_through_the_queue_stub_before_the_script_loads(visitor, stub):
    stub.attributes["data-consent"] = "required"
    stub.before_tag += "<script>Afficone.q.push(['consent'])</script>"
    visitor.goto(stub.url("shop.test", "/?ref=alice"))
    rid = ready(visitor)
    assert rid and [post.body["c"] for post in stub.named("click")] == ["alice"]


def test_without_consent_a_later_page_sends_nothing_either(visitor, stub):
    stub.attributes["data-consent"] = "required"
    visitor.goto(stub.url("shop.test", "/?ref=alice"))
    visitor.goto(stub.url("shop.test", "/pricing"))
    visitor.wait_for_function("!!(window.Afficone && window.Afficone.v)")
    settled(visitor)
    assert stub.posts == [] and storage(visitor) == ["", 0, 0]


# --- cookies across host names: subdomains share, root domains do not unless data-domains says so ----------------


def test_two_subdomains_share_the_referral_and_two_root_domains_do_not(visitor, stub):
    visitor.goto(stub.url("app.shop.test", "/?ref=alice"))
    rid = ready(visitor)

    visitor.goto(stub.url("shop.test", "/checkout"))
    assert ready(visitor) == rid
    assert query(visitor.get_attribute("#pl", "href"))["client_reference_id"] == [rid]
    visitor.goto(stub.url("other.test", "/"))
    assert ready(visitor) is None and visitor.evaluate("Afficone.referral") is None

    (cookie,) = referral_cookies(visitor)
    assert cookie["domain"] == ".shop.test"
    assert len(stub.named("click")) == 1
    assert sorted(post.host for post in stub.named("seen")) == ["app.shop.test", "other.test", "shop.test"]


def test_data_domains_carries_the_referral_to_another_root_domain_which_adopts_it(visitor, stub):
    stub.attributes["data-domains"] = "other.test, third.test"
    visitor.goto(stub.url("shop.test", "/?ref=alice"))
    rid = ready(visitor)

    assert query(visitor.get_attribute("#other", "href")) == {"plan": ["pro"], "afficone_ref": [rid]}
    assert query(visitor.get_attribute("#other-sub", "href")) == {"afficone_ref": [rid]}
    assert visitor.get_attribute("#lookalike", "href") == "http://notother.test/"
    assert visitor.get_attribute("#sub", "href") == stub.url("app.shop.test", "/account")  # its own site: the cookie

    visitor.click("#other")
    visitor.wait_for_url("**/pricing?plan=pro&afficone_ref=*")
    assert ready(visitor) == rid
    (adopt,) = stub.named("adopt")
    assert adopt.host == "other.test" and adopt.body["c"] == rid and adopt.body["p"] is None
    assert adopt.body["r"].startswith(stub.url("shop.test", "/"))
    cookies = {c["domain"]: c for c in referral_cookies(visitor)}
    assert set(cookies) == {".shop.test", ".other.test"} and {c["value"] for c in cookies.values()} == {rid}
    # The server answered the days left of the first site's cookie: the cookie here ends when that one does.
    assert 12.4 < days_left(cookies[".other.test"]) <= 12.5
    assert len(stub.named("click")) == 1

    # Adopting again (a reload, a second link) is no new request: the cookie already holds the referral.
    visitor.reload()
    assert ready(visitor) == rid
    settled(visitor)
    assert len(stub.named("adopt")) == 1
    assert visitor.errors == []


# --- a blocked or failing endpoint never throws into the page -------------------------------------------------------

FAILURES = ["500", "not_json", "no_referral", "drop", "connectionrefused", "blockedbyclient", "aborted", "timedout"]


@pytest.mark.parametrize("failure", FAILURES)
def test_a_blocked_or_failing_endpoint_never_throws_into_the_page(visitor, stub, failure):
    if failure in ("500", "not_json", "no_referral", "drop"):
        stub.mode = failure
    else:
        visitor.route("**/api/track/**", lambda route: route.abort(failure))
    stub.before_tag += "<script>Afficone.q.push(['signup', {email: 'jo@example.com'}])</script>"

    visitor.goto(stub.url("shop.test", "/?ref=alice"))

    assert ready(visitor) is None and visitor.evaluate("Afficone.referral") is None
    assert visitor.evaluate("Afficone.signup({email: 'jo@example.com'}).then(() => 'resolved')") == "resolved"
    assert visitor.evaluate("Afficone.signup().then(() => 'resolved')") == "resolved"
    assert referral_cookies(visitor) == [] and visitor.get_attribute("#bb", "client-reference-id") is None
    assert "client_reference_id" not in visitor.get_attribute("#pl", "href")
    visitor.click("#work")
    assert visitor.text_content("#work") == "it works"
    settled(visitor)
    # The browser itself logs a refused request; the script adds nothing.
    assert all(text.startswith("Failed to load resource") for text in visitor.errors), visitor.errors
    assert stub.named("lead") == []  # no referral, no lead


def test_a_tag_without_a_usable_script_url_answers_ready_and_sends_nothing(visitor, stub):
    # Inline copies (no src) and pages that load it as a module have no currentScript to read.
    stub.before_tag += f"<script>{SCRIPT.read_text()}</script>"
    visitor.goto(stub.url("shop.test", "/?ref=alice"))
    assert ready(visitor) is None
    settled(visitor)
    assert stub.posts == [] and visitor.errors == []


def test_signup_reports_a_lead_once_the_referral_is_known(visitor, stub):
    stub.before_tag += "<script>Afficone.q.push(['signup', {email: 'jo@example.com', customer: 'cus_1'}])</script>"
    visitor.goto(stub.url("shop.test", "/?ref=alice"))
    rid = ready(visitor)
    wait_for(lambda: stub.named("lead"))
    (lead,) = stub.named("lead")
    assert lead.body == {
        "k": KEY,
        "u": stub.url("shop.test", "/?ref=alice"),
        "r": rid,
        "e": "jo@example.com",
        "c": "cus_1",
    }

    stub.reset()  # a page without the queued signup
    visitor.goto(stub.url("shop.test", "/pricing"))
    assert visitor.evaluate("Afficone.signup({email: 'al@example.com', id: 'u42'}).then(() => 'done')") == "done"
    wait_for(lambda: stub.named("lead"))
    settled(visitor)
    (lead,) = stub.named("lead")
    assert lead.body == {"k": KEY, "u": stub.url("shop.test", "/pricing"), "r": rid, "e": "al@example.com", "x": "u42"}
