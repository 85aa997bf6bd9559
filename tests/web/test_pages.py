"""The web pages, in process: each renders its content, links its JSON twin, and is safe."""

from __future__ import annotations

import json
import re

import pytest

from server.deps import SESSION_COOKIE
from server.users.accounts import create_user_with_token, issue_token_for
from server.observations import pages
from server.web.downsample import MAX_PLOT_POINTS
from tests.conftest import observation_body, register


def post(client, headers, **overrides) -> dict:
    answer = client.post("/api/v1/observations", json=observation_body(**overrides), headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def signin_form(client, **fields: str) -> dict[str, str]:
    """The sign-in form's fields as the page gives them (its CSRF token), plus `fields`."""
    page = client.get("/signin").text
    return {"csrf": re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1), **fields}


def sign_in(client, headers) -> None:
    answer = client.post("/signin", data=signin_form(client, token=token_of(headers)),
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def plot_figures(html: str) -> list[dict]:
    match = re.search(r'<script type="application/json" id="tycho-plots">(.*?)</script>', html, re.DOTALL)
    return json.loads(match.group(1))


# --- home, phenomenon, browse, user -------------------------------------------


def test_home_says_what_tycho_is_and_how_to_take_part(client, alice):
    post(client, alice, title="Slingshot spikes before grokking")
    html = client.get("/").text
    assert "registry for AI phenomenology" in html
    assert 'href="/phenomena/grokking"' in html and "Double descent" in html
    assert "Slingshot spikes before grokking" in html and 'href="/T-1"' in html
    for command in ("tycho run grokking", "tycho post DIR", "tycho rerun T-1"):
        assert command in html
    assert 'href="/api/v1/phenomena"' in html and 'href="/api/v1/observations"' in html


def test_home_counts_observations_and_verified_ones_per_phenomenon(client, alice, verify):
    post(client, alice)
    post(client, alice, seed=1)  # another spec: its own verification, still queued
    verify()
    html = client.get("/").text
    row = re.search(r'href="/phenomena/grokking">Grokking</a>.*?</tr>', html, re.DOTALL).group(0)
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["2", "1"]


def test_phenomenon_page_lists_its_observations_and_the_links_among_them(client, alice, verify):
    bob = register(client, "bob")
    post(client, alice, title="Grokking at weight decay 1")
    verify()
    post(client, bob, title="Grokking again, on seed 5")
    post(client, bob, title="Double descent elsewhere", phenomena=["double-descent"])
    client.post("/api/v1/observations/T-2/links", json={"relation": "reproduces", "target": "T-1"},
                headers=bob)
    html = client.get("/phenomena/grokking").text
    assert "Grokking at weight decay 1" in html and "Grokking again, on seed 5" in html
    assert "Double descent elsewhere" not in html
    assert "fits its training set" in html  # the description
    assert 'class="verdict verdict-fragile"' in html and "50%" in html  # badge, pass rate
    links = html.split("Links among them")[1]
    assert 'href="/T-2v1"' in links and "reproduces" in links and 'href="/T-1v1"' in links
    assert 'href="/api/v1/phenomena/grokking"' in html
    assert 'href="/api/v1/observations?phenomenon=grokking"' in html


def test_unknown_pages_answer_404_in_html_and_the_api_keeps_json(client):
    for path in ("/phenomena/astrology", "/T-999", "/T-1v3", "/users/nobody", "/no/such/page"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "<h1>" in answer.text
    assert client.get("/api/v1/observations/T-999").headers["content-type"] == \
        "application/problem+json"


def test_browse_filters_by_phenomenon_tag_author_verdict_and_text(client, alice, verify):
    bob = register(client, "bob")
    post(client, alice, title="Alpha grokking", tags=["mlp"])
    verify()
    post(client, bob, title="Beta double descent", phenomena=["double-descent"], tags=["ridge"],
         notes="The peak sits at the interpolation threshold.", seed=2)

    def titles(query: str) -> set[str]:
        html = client.get(f"/observations?{query}").text
        return set(re.findall(r'class="title">([^<]+)</a>', html))

    both = {"Alpha grokking", "Beta double descent"}
    assert titles("") == both
    assert titles("phenomenon=double-descent") == {"Beta double descent"}
    assert titles("tag=mlp") == {"Alpha grokking"}
    assert titles("author=bob") == {"Beta double descent"}
    assert titles("verdict=fragile") == {"Alpha grokking"}
    assert titles("q=interpolation") == {"Beta double descent"}
    html = client.get("/observations?tag=mlp").text
    assert 'href="/api/v1/observations?tag=mlp&amp;limit=50"' in html
    assert client.get("/observations?verdict=maybe").status_code == 422


def test_browse_pages_with_a_cursor(client, alice, monkeypatch):
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    for i in range(5):
        post(client, alice, title=f"Observation number {i}")
    seen, url = [], "/observations"
    while url:
        html = client.get(url).text
        seen += re.findall(r'class="title">Observation number (\d)</a>', html)
        twin = re.search(r'<a class="twin" href="([^"]+)"', html).group(1).replace("&amp;", "&")
        assert [o["title"] for o in client.get(twin).json()["items"]] == \
            re.findall(r'class="title">([^<]+)</a>', html)
        found = re.search(r'href="([^"]+)" rel="next"', html)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == ["4", "3", "2", "1", "0"]
    assert client.get("/observations?cursor=abc").status_code == 422


def test_user_page_shows_observations_reproductions_links_and_comments(client, alice):
    bob = register(client, "bob")
    post(client, alice, title="Alice's grokking")
    post(client, bob, title="Bob re-ran it")
    client.post("/api/v1/observations/T-2/links", json={"relation": "reproduces", "target": "T-1"},
                headers=bob)
    client.post("/api/v1/observations/T-2/links", json={"relation": "explains", "target": "T-1"},
                headers=bob)
    client.post("/api/v1/observations/T-1/comments", json={"body": "Nice *curve*"}, headers=bob)
    html = client.get("/users/bob").text
    assert "Bob re-ran it" in html and "Alice&#39;s grokking" not in html.split("Reproductions")[0]
    reproductions = html.split("<h2>Reproductions</h2>")[1].split("<h2>Links</h2>")[0]
    assert "reproduces" in reproductions and 'href="/T-1v1"' in reproductions
    assert "explains" not in reproductions
    assert "explains" in html.split("<h2>Links</h2>")[1]
    assert "<em>curve</em>" in html and 'href="/T-1v1#comment-1"' in html
    assert 'href="/api/v1/users/bob"' in html and 'href="/api/v1/observations?author=bob"' in html


# --- the observation page -------------------------------------------------------


def test_observation_page_shows_the_record_and_links_its_json_twin(client, alice):
    post(client, alice, config={"lr": 0.001, "weight_decay": 1.0}, seed=3,
         environment={"python": "3.11.9", "torch": "2.4.0", "numpy": "2.0.1",
                      "platform": "Linux-x86_64", "cpu": "Test CPU", "threads": 1})
    html = client.get("/T-1").text
    assert "<h1>Grokking on modular addition</h1>" in html
    assert 'href="/users/alice"' in html and "Alice" in html
    assert 'href="/api/v1/observations/T-1v1"' in html
    assert "tycho rerun T-1v1" in html
    assert "Built-in phenomenon <code>grokking</code>" in html
    assert "&#34;weight_decay&#34;: 1.0" in html or '"weight_decay": 1.0' in html
    assert "<dt>torch</dt><dd>2.4.0</dd>" in html
    assert 'class="verdict verdict-unverified"' in html
    assert "final(test_acc) &gt;= 0.95" in html
    assert 'id="cite" data-ref="T-1v1"' in html
    assert "Sign in</a> to comment" in html and "<textarea" not in html


def test_an_older_version_says_a_newer_one_exists(client, alice):
    post(client, alice)
    body = observation_body(title="Grokking, longer run", change_message="train 2x longer")
    assert client.post("/api/v1/observations/T-1/versions", json=body, headers=alice).status_code == 201
    old = client.get("/T-1v1").text
    assert "A newer version exists" in old and 'href="/T-1v2"' in old
    latest = client.get("/T-1").text
    assert "A newer version exists" not in latest and "Grokking, longer run" in latest
    assert "train 2x longer" in latest and "tycho rerun T-1v2" in latest
    assert 'href="/api/v1/observations/T-1v2"' in latest


def test_a_withdrawn_observation_says_so_and_leaves_the_lists(client, alice, settings):
    post(client, alice, title="A mistaken grokking run")
    admin_token = create_user_with_token(settings.resolved_database_url(), handle="root", admin=True)
    client.post("/api/v1/observations/T-1/withdraw", json={"reason": "the data was mislabelled"},
                headers={"Authorization": f"Bearer {admin_token}"})
    page = client.get("/T-1").text
    assert "Withdrawn: the data was mislabelled (by root)" in page
    assert "A mistaken grokking run" not in client.get("/observations").text


def test_verified_observation_shows_claims_per_seed_and_every_run_on_the_plots(client, alice, verify):
    post(client, alice, seed=7)
    verify()
    html = client.get("/T-1").text
    claims = html.split('id="claims"')[1].split("</section>")[0]
    assert claims.count("✓ holds") == 5 and claims.count("✗ fails") == 1
    assert "seed 7" in claims and "original" in claims and "seed 9" in claims
    assert "100%" in claims and "50%" in claims
    assert 'class="verdict verdict-fragile"' in html
    figures = plot_figures(html)
    assert [f["layout"]["yaxis"]["title"]["text"] for f in figures] == ["train_acc", "test_acc"]
    names = [trace["name"] for trace in figures[1]["data"]]
    # The re-runs first, the author's curve last (drawn on top).
    assert names == ["re-run · seed 7 (original)", "re-run · seed 8", "re-run · seed 9",
                     "author · seed 7"]
    assert figures[1]["data"][-1]["y"] == [0.01, 0.05, 0.5, 0.99]


def test_submitted_source_is_highlighted_and_escaped(client, alice):
    source = 'def run(config, log):\n    """</script><script>alert(1)</script>"""\n    log(0, loss=1.0)\n'
    post(client, alice, recipe={"source": source, "entrypoint": "run"},
         metrics={"loss": {"x": [0, 1], "y": [1.0, 0.5]}}, claims=["final(loss) < 1"])
    html = client.get("/T-1").text
    assert '<span class="k">def</span>' in html
    assert "<script>alert(1)" not in html and "&lt;/script&gt;&lt;script&gt;alert(1)" in html
    assert client.get(re.search(r'href="(/static/vendor/code-[0-9a-f]+\.css)"', html).group(1)) \
        .status_code == 200


@pytest.mark.parametrize("notes, forbidden", [
    ("<script>alert(1)</script>", ["<script>alert", "alert(1)"]),
    ("[x](javascript:alert(1))", ['href="javascript:', "href='javascript:"]),
    ("<img src=x onerror=alert(1)>", ["onerror", "alert(1)"]),
    ('<a href="javascript:alert(document.cookie)">click</a>', ["javascript:", "document.cookie"]),
    ('<a href="https://example.org" onclick="steal()">x</a>', ["onclick", "steal()"]),
    ('<iframe src="https://evil.example"></iframe><style>body{}</style>', ["<iframe", "<style>"]),
    ("<svg><script>alert(1)</script></svg>", ["<svg", "<script>alert"]),
    ("$\\href{javascript:alert(1)}{x}$", ["javascript:"]),
])
def test_notes_are_sanitised(client, alice, notes, forbidden):
    post(client, alice, notes=f"Before. {notes} After.")
    html = client.get("/T-1").text
    rendered = html.split('<section class="notes">')[1].split("</section>")[0]
    assert "Before." in rendered and "After." in rendered
    for fragment in forbidden:
        assert fragment not in rendered
    # The page's own scripts are the only ones: the plot data, plotly and ours.
    sources = re.findall(r"<script(?: [^>]*)?>", html)
    assert len(sources) == 3 and sources[0] == '<script type="application/json" id="tycho-plots">'
    assert sources[1].startswith('<script src="/static/vendor/plotly-')
    assert sources[2].startswith('<script src="/static/observation.js?v=')


def test_notes_render_markdown_and_math_as_mathml(client, alice):
    notes = ("Test loss falls like $L \\propto N^{-\\alpha}$.\n\n$$\\frac{1}{\\sqrt{d}}$$\n\n"
             "| lr | steps |\n|---|---|\n| 0.1 | 500 |\n")
    post(client, alice, notes=notes)
    html = client.get("/T-1").text
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">' in html
    assert 'display="block"' in html and "<mfrac>" in html and "<msqrt>" in html
    assert "<table>" in html.split('<section class="notes">')[1]


def test_a_long_series_is_downsampled_on_the_page_and_the_spike_is_kept(client, alice):
    n = 100_000
    y = [1.0] * n
    y[61_803] = 1000.0
    post(client, alice, metrics={"loss": {"x": list(range(n)), "y": y}},
         claims=["max(loss) > 100"])
    html = client.get("/T-1").text
    assert "Downsampled to" in html and "points by min/max buckets" in html
    trace = plot_figures(html)[0]["data"][-1]
    assert len(trace["x"]) <= MAX_PLOT_POINTS and 1000.0 in trace["y"]
    assert "100,000 points" in html


def test_plotly_is_served_by_tycho_with_long_caching_and_no_cdn(client, alice):
    post(client, alice)
    html = client.get("/T-1").text
    script = re.search(r'<script src="(/static/vendor/plotly-[\d.]+\.min\.js)">', html).group(1)
    answer = client.get(script)
    assert answer.status_code == 200 and "max-age=31536000" in answer.headers["cache-control"]
    assert b"Plotly" in answer.content[:5000] or b"plotly" in answer.content[:5000]
    css = re.search(r'href="(/static/tycho\.css\?v=[0-9a-f]+)"', html).group(1)
    assert "immutable" in client.get(css).headers["cache-control"]
    for page in ("/", "/T-1", "/observations", "/phenomena/grokking", "/users/alice", "/signin"):
        assert not re.search(r'(src|href)="(https?:)?//', client.get(page).text), page


# --- signing in, commenting -------------------------------------------------------


def test_sign_in_sets_an_http_only_strict_cookie_and_sign_out_clears_it(client, alice):
    answer = client.post("/signin", data=signin_form(client, token=token_of(alice),
                                                     next="/observations"),
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/observations"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    home = client.get("/").text
    assert 'href="/users/alice" class="me"' in home
    out = client.post("/signout", data={"csrf": csrf_of(home)}, follow_redirects=False)
    assert out.status_code == 303
    assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    assert 'class="me"' not in client.get("/").text


def test_sign_in_refuses_bad_tokens_worker_tokens_and_foreign_redirects(client, alice, settings):
    bad = client.post("/signin", data=signin_form(client, token="tyc_nonsense"),
                      follow_redirects=False)
    assert bad.status_code == 401 and "not a valid write token" in bad.text
    assert SESSION_COOKIE not in bad.headers.get("set-cookie", "")
    url = settings.resolved_database_url()
    create_user_with_token(url, handle="robot")
    worker_token = issue_token_for(url, handle="robot", scope="worker")
    assert client.post("/signin", data=signin_form(client, token=worker_token)).status_code == 401
    away = client.post("/signin", data=signin_form(client, token=token_of(alice),
                                                   next="//evil.example/x"),
                       follow_redirects=False)
    assert away.headers["location"] == "/users/alice"


def test_a_signed_in_user_comments_and_replies_from_the_page(client, alice):
    post(client, alice)
    sign_in(client, alice)
    page = client.get("/T-1").text
    assert 'action="/T-1v1/comments"' in page
    answer = client.post("/T-1v1/comments", data={"body": "The jump is at $t^*$.",
                                                   "csrf": csrf_of(page)}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/T-1v1#comment-1"
    page = client.get("/T-1").text
    assert 'id="comment-1"' in page and "<math" in page.split('id="comment-1"')[1]
    reply = client.post("/T-1v1/comments", data={"body": "Agreed", "parent": "1",
                                                  "csrf": csrf_of(page)}, follow_redirects=False)
    assert reply.status_code == 303
    thread = client.get("/api/v1/observations/T-1/comments").json()
    assert thread[0]["replies"][0]["body"] == "Agreed"
    assert '<ol class="replies">' in client.get("/T-1").text


def test_commenting_is_refused_when_signed_out_or_without_the_form_token(client, alice):
    post(client, alice)
    refused = client.post("/T-1v1/comments", data={"body": "anonymous"})
    assert refused.status_code == 401 and "Sign in" in refused.text
    sign_in(client, alice)
    page = client.get("/T-1").text
    assert client.post("/T-1v1/comments", data={"body": "forged", "csrf": "0" * 64}).status_code == 403
    cross_site = client.post("/T-1v1/comments", data={"body": "x", "csrf": csrf_of(page)},
                             headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    assert client.post("/T-1v1/comments", data={"body": "  ", "csrf": csrf_of(page)}).status_code == 422
    assert client.get("/api/v1/observations/T-1/comments").json() == []


# --- login CSRF (issue 11, item 11) ---------------------------------------------------


def test_sign_in_needs_the_form_that_this_site_showed_this_browser(client, alice):
    # Another site's page posting its own token for the victim: no form token.
    forged = client.post("/signin", data={"token": token_of(alice)}, follow_redirects=False)
    assert forged.status_code == 403 and "Form expired" in forged.text
    assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")
    # A form token without the cookie it belongs to (a browser sends the SameSite=Strict
    # cookie only from this site) is refused too.
    fields = signin_form(client, token=token_of(alice))
    client.cookies.clear()
    assert client.post("/signin", data=fields, follow_redirects=False).status_code == 403
    # The form's cookie is private to the sign-in form.
    shown = client.get("/signin")
    cookie = shown.headers["set-cookie"]
    assert cookie.startswith("tycho_signin=") and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower() and "Path=/signin" in cookie
    assert client.post("/signin", data=signin_form(client, token=token_of(alice)),
                       follow_redirects=False).status_code == 303


@pytest.mark.parametrize("origin", ["null", "https://evil.example"])
def test_sign_in_and_comments_refuse_an_opaque_or_foreign_origin(client, alice, origin):
    post(client, alice)
    refused = client.post("/signin", data=signin_form(client, token=token_of(alice)),
                          headers={"Origin": origin}, follow_redirects=False)
    assert refused.status_code == 403 and "another site" in refused.text
    assert SESSION_COOKIE not in refused.headers.get("set-cookie", "")
    sign_in(client, alice)
    page = client.get("/T-1").text
    comment = client.post("/T-1v1/comments", data={"body": "x", "csrf": csrf_of(page)},
                          headers={"Origin": origin})
    assert comment.status_code == 403
