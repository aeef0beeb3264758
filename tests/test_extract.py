"""Full text: the page behind each entry, fetched politely and extracted, over local HTTP."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipeline.config import Config, Feed, Settings
from pipeline.ingest import run_pass
from pipeline.store import Store

from .conftest import fetch_only
from .httpserver import LocalServer, Reply, rss

STORY = [
    "Roscosmos Director General Dmitry Bakanov met Acting NASA Administrator Sean Duffy at "
    "the Johnson Space Center in Houston on Tuesday.",
    "The two officials discussed extending the cross-flight agreement that puts cosmonauts on "
    "Crew Dragon and astronauts on Soyuz.",
    "Bakanov said Roscosmos would keep its segment of the International Space Station running "
    "until 2028 and would coordinate the deorbit with NASA.",
    "Duffy told reporters that the station partnership had survived difficult years and would "
    "continue until the end of the decade.",
    "Cosmonaut Oleg Platonov, who trained in Houston for Crew-11, joined part of the meeting "
    "and described his preparation for the flight.",
]
NAV = ["Home", "World", "Business", "Subscribe now", "Weather forecast", "Sign in"]
COMMENTS = ["Great article, thanks for sharing this with us!",
            "I disagree with everything said here about budgets and taxes.",
            "Who cares about rockets when bread prices keep rising?"]


def article_page(story: list[str] = STORY, charset: str = "utf-8", title: str = "Talks in "
                 "Houston", meta_charset: bool = True) -> str:
    nav = "".join(f'<li><a href="/{n.lower()}">{n}</a></li>' for n in NAV)
    comments = "".join(f'<div class="comment"><b>user{i}</b><p>{c}</p></div>'
                       for i, c in enumerate(COMMENTS))
    paragraphs = "".join(f"<p>{p}</p>" for p in story)
    meta = f'<meta charset="{charset}">' if meta_charset else ""
    return (f"<!DOCTYPE html><html lang='en'><head>{meta}<title>{title}</title>"
            '<meta name="author" content="Anna Reporter">'
            '<meta property="article:published_time" content="2025-07-15T09:00:00Z"></head>'
            f"<body><header><nav><ul>{nav}</ul></nav></header>"
            '<div class="ad">Buy the best mattress today! 50% off all models.</div>'
            f"<main><article><h1>{title}</h1><p class='byline'>By Anna Reporter</p>"
            f"{paragraphs}</article></main>"
            "<aside><h3>Related</h3><ul><li>Ten tips for summer gardens</li></ul></aside>"
            f"<section id='comments'><h2>Comments</h2>{comments}</section>"
            "<footer>© 2025 Example News. All rights reserved.</footer></body></html>")


def feed_with(server: LocalServer, links: list[str], path: str = "/feed.xml",
              titles: list[str] | None = None) -> str:
    items = [{"title": (titles or [f"Entry {i}" for i in range(len(links))])[i],
              "link": link, "guid": f"{path}-{i}", "description": "Short summary."}
             for i, link in enumerate(links)]
    return server.route(path, Reply(rss(items)))


def config_for(feeds: dict[str, str], **settings: object) -> Config:
    base = dict(timeout_connect=2.0, timeout_read=1.0, timeout_total=4.0, page_delay=0.0,
                full_text=True)
    base.update(settings)
    return Config(feeds=tuple(Feed(name=n, url=u) for n, u in feeds.items()),
                  settings=dataclasses.replace(Settings(), **base))


def articles(store: Store) -> list[dict]:
    return store.rows("SELECT * FROM articles ORDER BY id")


def test_normal_page_text_replaces_summary_and_feeds_ner(server: LocalServer,
                                                         store: Store) -> None:
    page = server.route("/a.html", Reply(article_page().encode(), content_type="text/html"))
    report = run_pass(store, config_for({"f": feed_with(server, [page])}))
    art = articles(store)[0]
    assert (art["text_source"], art["page_status"]) == ("page", "ok")
    assert art["summary"] == "Short summary."
    assert "Dmitry Bakanov" in art["text"] and art["text_at"]
    assert art["author"] == "Anna Reporter"
    ids = {r["entity_id"] for r in store.rows("SELECT entity_id FROM mentions")}
    assert {"dmitry-bakanov", "sean-duffy", "oleg-platonov", "cross-flight"} <= ids
    assert report.stages.full_text.extracted == 1


def test_boilerplate_is_left_out(server: LocalServer, store: Store) -> None:
    page = server.route("/a.html", Reply(article_page().encode(), content_type="text/html"))
    run_pass(store, config_for({"f": feed_with(server, [page])}))
    text = articles(store)[0]["text"]
    for sentence in STORY:
        assert sentence in text
    for noise in ["Subscribe now", "mattress", "Great article", "bread prices",
                  "All rights reserved", "summer gardens"]:
        assert noise not in text


def test_failures_are_recorded_and_the_summary_is_kept(server: LocalServer,
                                                      store: Store) -> None:
    links = [
        server.route("/doc.pdf", Reply(b"%PDF-1.4 binary", content_type="application/pdf")),
        server.route("/forbidden.html", Reply(b"no", status=403, content_type="text/html")),
        server.route("/slow.html", Reply(article_page().encode(), content_type="text/html",
                                         delay=2.5)),
        server.route("/huge.html", Reply(b"<html><body>" + b"<p>word</p>" * 200_000,
                                         content_type="text/html")),
        server.route("/empty.html", Reply(b"<html><body><nav>Home</nav></body></html>",
                                          content_type="text/html")),
    ]
    run_pass(store, config_for({"f": feed_with(server, links)}, max_body_bytes=500_000))
    errors = {a["url"].rsplit("/", 1)[1]: a["page_error"] for a in articles(store)}
    assert errors == {"doc.pdf": "not html", "forbidden.html": "http 403",
                      "slow.html": "read timeout", "huge.html": "body too large",
                      "empty.html": "empty extraction"}
    for art in articles(store):
        assert art["page_status"] == "failed" and art["text"] == "Short summary."
        assert art["nlp_version"]  # NER went on with the summary


def test_failed_extraction_is_retried_a_bounded_number_of_times(server: LocalServer,
                                                                 store: Store) -> None:
    page = server.route("/flaky.html", Reply(b"down", status=500, content_type="text/html"))
    config = config_for({"f": feed_with(server, [page])}, extract_max_attempts=2)
    for _ in range(4):
        run_pass(store, config)
    assert server.hits["/flaky.html"] == 2
    assert articles(store)[0]["page_attempts"] == 2


def test_text_arriving_later_reruns_the_later_stages(server: LocalServer,
                                                     store: Store) -> None:
    server.route("/late.html", Reply(b"busy", status=503, content_type="text/html"))
    config = config_for({"f": feed_with(server, [server.url("/late.html")])})
    run_pass(store, config)
    assert "dmitry-bakanov" not in {r["entity_id"] for r in store.rows("SELECT * FROM mentions")}
    server.route("/late.html", Reply(article_page().encode(), content_type="text/html"))
    run_pass(store, config)
    assert "dmitry-bakanov" in {r["entity_id"] for r in store.rows("SELECT * FROM mentions")}
    assert articles(store)[0]["text_source"] == "page"


def test_charset_declared_only_in_meta(server: LocalServer, store: Store) -> None:
    story = ["Глава Роскосмоса Дмитрий Баканов встретился с руководством НАСА в Хьюстоне.",
             "Стороны обсудили перекрёстные полёты и будущее МКС до 2028 года, а также "
             "планы по сведению станции с орбиты после завершения её эксплуатации.",
             "По словам Баканова, российский сегмент станции будет работать до 2028 года, "
             "после чего Россия перейдёт к созданию собственной орбитальной станции.",
             "Космонавт Олег Платонов, готовящийся к полёту на корабле Crew Dragon, также "
             "принял участие во встрече и рассказал о ходе своей подготовки в Хьюстоне.",
             "Американская сторона подтвердила заинтересованность в продолжении совместной "
             "работы на орбите, несмотря на сложные отношения между двумя странами."]
    body = article_page(story, charset="windows-1251").encode("cp1251")
    page = server.route("/ru.html", Reply(body, content_type="text/html"))
    run_pass(store, config_for({"f": feed_with(server, [page])}))
    assert "Дмитрий Баканов" in articles(store)[0]["text"]


def test_redirect_to_another_private_host_is_refused_unless_allowed(tmp_path: Path) -> None:
    with LocalServer() as server:
        target = f"http://localhost:{server.port}/a.html"
        server.route("/a.html", Reply(article_page().encode(), content_type="text/html"))
        hop = server.route("/hop", Reply(status=302, headers={"Location": target}))
        feed = feed_with(server, [hop])
        with Store(tmp_path / "a.db") as store:
            run_pass(store, config_for({"f": feed}))
            assert articles(store)[0]["page_error"] == "blocked address"
        with Store(tmp_path / "b.db") as store:
            run_pass(store, config_for({"f": feed}, allow_private_hosts=("localhost",)))
            assert articles(store)[0]["text_source"] == "page"


def test_same_url_from_two_feeds_is_fetched_once(server: LocalServer, store: Store) -> None:
    page = server.route("/shared.html", Reply(article_page().encode(), content_type="text/html"))
    a = feed_with(server, [page], "/a.xml", ["Wire copy"])
    b = feed_with(server, [page + "?utm_source=b"], "/b.xml", ["Same story, other feed"])
    run_pass(store, config_for({"a": a, "b": b}))
    assert server.hits["/shared.html"] == 1
    assert len(articles(store)) == 1 and articles(store)[0]["text_source"] == "page"


def test_page_metadata_fills_only_what_the_feed_lacked(server: LocalServer,
                                                       store: Store) -> None:
    page = server.route("/a.html", Reply(article_page(title="Page title").encode(),
                                         content_type="text/html"))
    feed = server.route("/f.xml", Reply(rss([{"link": page, "guid": "x",
                                              "description": "Summary only."}])))
    run_pass(store, config_for({"f": feed}))
    art = articles(store)[0]
    assert art["title"] == "Page title"
    assert art["published_at"] == "2025-07-15T09:00:00Z" and art["published_estimated"] == 0


def test_full_text_off_fetches_no_pages(server: LocalServer, store: Store) -> None:
    page = server.route("/a.html", Reply(article_page().encode(), content_type="text/html"))
    run_pass(store, config_for({"f": feed_with(server, [page])}, full_text=False))
    assert "/a.html" not in server.hits
    assert articles(store)[0]["page_status"] is None


def test_status_counts_full_text_and_failures(server: LocalServer, store: Store) -> None:
    ok = server.route("/a.html", Reply(article_page().encode(), content_type="text/html"))
    bad = server.route("/b.html", Reply(b"x", status=403, content_type="text/html"))
    run_pass(store, config_for({"f": feed_with(server, [ok, bad])}))
    row = store.feed_status()[0]
    assert (row["articles"], row["articles_full_text"],
            row["articles_extraction_failed"]) == (2, 1, 1)


def test_per_host_politeness_bounds_concurrency_and_spaces_requests(
        server: LocalServer, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    from pipeline.extract import HostGate

    lock = threading.Lock()
    state = {"now": 0, "max": 0, "starts": []}
    turns: list[float] = []  # when the gate let each request go
    wait_turn = HostGate._wait_turn

    def recording(gate: HostGate, host: str) -> float:
        turn = wait_turn(gate, host)
        with lock:
            turns.append(turn)
        return turn

    monkeypatch.setattr(HostGate, "_wait_turn", recording)

    def slow_page(handler) -> Reply:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
            state["starts"].append(time.monotonic())
        time.sleep(0.2)
        with lock:
            state["now"] -= 1
        return Reply(article_page().encode(), content_type="text/html")

    links = [server.route(f"/p{i}.html", slow_page) for i in range(6)]
    run_pass(store, config_for({"f": feed_with(server, links)}, page_concurrency_per_host=2,
                               page_delay=0.15, concurrency=8))
    assert state["max"] <= 2
    # The gate spaces the turns by page_delay; a request reaches the server no earlier than
    # its turn (however late a busy machine runs it), so the k-th arrival is no earlier than
    # the k-th turn. (Arrivals themselves may bunch up when one thread runs late.)
    turns.sort()
    assert len(turns) == 6
    assert all(b - a >= 0.15 - 1e-6 for a, b in zip(turns, turns[1:], strict=False))
    starts = sorted(state["starts"])
    assert all(start >= turn for start, turn in zip(starts, turns, strict=True))
    assert sum(1 for a in articles(store) if a["text_source"] == "page") == 6


def test_bidi_controls_in_page_text_title_and_author_are_stripped(server: LocalServer,
                                                                 store: Store) -> None:
    story = [STORY[0].replace("Dmitry Bakanov", "Dmitry \u202eBakanov\u202c")] + STORY[1:]
    html = article_page(story, title="Talks in \u2067Houston\u2069").replace(
        "Anna Reporter", "Anna\u200b Reporter")
    page = server.route("/a.html", Reply(html.encode(), content_type="text/html"))
    feed = server.route("/f.xml", Reply(rss([{"link": page, "guid": "x"}])))
    fetch_only(store, config_for({"f": feed}))
    from pipeline.extract import run_full_text

    run_full_text(store, config_for({"f": feed}).settings)
    art = articles(store)[0]
    assert art["text_source"] == "page" and "Dmitry Bakanov met" in art["text"]
    assert (art["title"], art["author"]) == ("Talks in Houston", "Anna Reporter")
    for char in ("\u202e", "\u202c", "\u2067", "\u2069", "\u200b"):
        assert char not in art["text"] + art["title"] + art["author"]
