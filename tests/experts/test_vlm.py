"""The vision-language-model expert against a scripted chat-completions server on 127.0.0.1.

No model is called: :mod:`tests.experts.vlm_server` answers the real ``openai`` client with scripted
texts (good answers, n samples, refusals, malformed JSON, out-of-range coordinates, 429 then success,
timeouts, huge answers, dropped connections).
"""

from __future__ import annotations

import json
import logging
import socket
import time

import numpy as np
import pytest
from PIL import Image

from geolocate.ensemble import Ensemble
from geolocate.evidence import EvidenceContext, EvidenceSet
from geolocate.evidence.model import ModelEvidence
from geolocate.experts import vlm
from geolocate.experts.region import CountryProbabilityExpert
from geolocate.experts.vlm import AnswerCache, CandidateMixture, VLMClient
from geolocate.grid import CellSet, global_grid
from geolocate.metrics import haversine_km

from .vlm_server import Reply, ScriptedServer

KEY = "sk-test-7Hq2SECRETkey0"
PARIS, TOKYO = (48.8566, 2.3522), (35.6762, 139.6503)


def rich(cands, countries=(), clues=("French street signs", "cars drive on the right"), reasoning="The signs are French."):
    return json.dumps({
        "clues": list(clues), "reasoning": reasoning,
        "countries": [{"code": c, "probability": p} for c, p in countries],
        "candidates": [{"latitude": la, "longitude": lo, "confidence": c, "radius_km": r, "place": "x"} for la, lo, c, r in cands],
    })


GOOD = rich([(*PARIS, 0.7, 50.0), (*TOKYO, 0.3, 50.0)], [("FRA", 0.7), ("JPN", 0.3)])


def photo(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), "RGB")


def client(srv: ScriptedServer, **kw) -> VLMClient:
    kw.setdefault("backoff_s", 0.01)
    samples = kw.pop("samples", 5)
    return VLMClient(vlm.VLMConfig(srv.url, "scripted-vlm", samples=samples, **kw), api_key=KEY)


def mass_near(dist, point, km):
    d = haversine_km(dist.cells.lat, dist.cells.lon, np.full(len(dist.cells), point[0]), np.full(len(dist.cells), point[1]))
    return float(np.exp(dist.log_mass)[d < km].sum())


def texts(answers):
    return " ".join(f"{m.text} {m.detail}" for m in answers.messages)


# --------------------------------------------------------------------------------------------------
# the wire


def test_good_answers_put_the_mass_near_the_candidates_with_their_weights():
    with ScriptedServer(GOOD) as srv:
        ans = client(srv).ask(photo())
        assert len(srv.requests) == 1, "five samples in one request with n"
        body, headers = srv.requests[0], srv.headers[0]
    assert body["n"] == 5 and body["model"] == "scripted-vlm" and body["max_tokens"] == vlm.DEFAULT_MAX_TOKENS
    assert body["temperature"] == vlm.DEFAULT_TEMPERATURE
    assert body["response_format"]["type"] == "json_schema"
    img = body["messages"][0]["content"][1]["image_url"]
    assert img["detail"] == "low" and img["url"].startswith("data:image/jpeg;base64,")
    text = body["messages"][0]["content"][0]["text"]
    assert text.index("clues") < text.index("countries") < text.index("radius")
    assert headers["authorization"] == f"Bearer {KEY}"
    assert len(ans.answers) == 5 and len(ans.usable) == 5
    assert ans.answers[0].clues == ("French street signs", "cars drive on the right")
    experts, msgs = vlm.answers_experts([ans], vlm.expert_name("scripted-vlm"))
    assert msgs == []
    points, countries = experts
    assert isinstance(points, CandidateMixture) and points.kind == "model"
    assert isinstance(countries, CountryProbabilityExpert) and countries.probs == pytest.approx({"FRA": 0.7, "JPN": 0.3})
    dist = Ensemble([points]).distribution(refine_to=5)
    assert mass_near(dist, PARIS, 250) == pytest.approx(0.7, abs=0.03)
    assert mass_near(dist, TOKYO, 250) == pytest.approx(0.3, abs=0.03)
    # the stated radius sets the width: 50 km radius -> sigma 25 km, most of the mass within 100 km
    assert mass_near(dist, PARIS, 100) > 0.6
    # (the country expert's own mass per country is CountryProbabilityExpert's, tested with the region experts;
    # evaluating it here would cost the 30 s country-area table)


def test_samples_one_request_each_when_the_server_ignores_n():
    with ScriptedServer(GOOD, supports_n=False) as srv:
        c = client(srv, samples=4)
        ans = c.ask(photo())
        assert len(ans.answers) == 4
        assert len(srv.requests) == 4, "one request with n=4 (one choice back), then 3 single requests"
        assert srv.requests[0]["n"] == 4 and all("n" not in b for b in srv.requests[1:])
        c.ask(photo(1))
        assert len(srv.requests) == 8 and all("n" not in b for b in srv.requests[4:]), "the client remembers"


def test_a_server_without_structured_output_gets_plain_text_and_the_g3_form_is_read():
    fenced = 'Looking at the signs...\n```json\n{"latitude": 35.68, "longitude": 139.65}\n```\nHope this helps.'
    with ScriptedServer(fenced, supports_schema=False) as srv:
        ans = client(srv, samples=2).ask(photo())
        assert "response_format" in srv.requests[0] and "response_format" not in srv.requests[1]
        assert len(srv.requests) == 2
    cands = [a.candidates for a in ans.answers]
    assert cands == [(vlm.Candidate(35.68, 139.65),)] * 2
    experts, _ = vlm.answers_experts([ans], "m")
    assert len(experts) == 1, "no countries: no country expert"
    d = Ensemble(experts).distribution(refine_to=4)
    # no radius stated: the assumed mixture (published G3 errors) is wide: ~40 % within 25 km, most within 2500 km
    assert 0.2 < mass_near(d, TOKYO, 50) < 0.7 and mass_near(d, TOKYO, 3000) > 0.75


def test_a_refusal_is_said_and_adds_no_expert():
    with ScriptedServer(GOOD) as srv:
        srv.push(Reply(contents=[""], refusal="I can't help locate people."))
        ans = client(srv, samples=2).ask(photo())
    assert all(a.refusal for a in ans.answers) and not ans.usable
    t = texts(ans)
    assert "declined to answer in 2 of 2" in t and "I can't help locate people." in t
    assert vlm.answers_experts([ans], "m") == ([], [])
    prose = vlm.parse_answer("I'm sorry, but I cannot determine the location of private photos.")
    assert prose.refusal and not prose.usable


def test_malformed_json_is_said_and_the_readable_samples_are_used():
    bad = '{"clues": ["x"], "candidates": [{"latitude": 48.8, "longitude": '
    with ScriptedServer() as srv:
        srv.push(Reply(contents=[bad, GOOD, "not json at all"]))
        ans = client(srv, samples=3).ask(photo())
    assert len(ans.answers) == 3 and len(ans.usable) == 1
    t = texts(ans)
    assert "2 of 3 answers could not be read" in t and "no JSON object" in t
    assert "1 of 3 samples usable" in t
    experts, _ = vlm.answers_experts([ans], "m")
    assert len(experts) == 2


def test_out_of_range_coordinates_are_skipped_with_a_message():
    text = rich([(123.0, 2.0, 0.5, 10.0), (48.0, 200.0, 0.2, 10.0), (*PARIS, 0.3, 20.0)])
    with ScriptedServer(text) as srv:
        ans = client(srv, samples=1).ask(photo())
    (a,) = ans.answers
    assert a.candidates == (vlm.Candidate(*PARIS, 0.3, 20.0, "x"),)
    t = texts(ans)
    assert "(123, 2) is out of range" in t and "(48, 200) is out of range" in t


def test_429_then_success_retries_after_the_servers_delay(caplog):
    with ScriptedServer(GOOD) as srv:
        srv.push(Reply(status=429, headers={"retry-after-ms": "20"}), Reply(status=503))
        caplog.set_level(logging.INFO, logger="geolocate.experts.vlm")
        t0 = time.perf_counter()
        ans = client(srv).ask(photo())
        assert len(srv.requests) == 3
    assert len(ans.usable) == 5 and time.perf_counter() - t0 < 5
    lines = [r.getMessage() for r in caplog.records if r.name == "geolocate.experts.vlm"]
    assert any("429; retry 1 of 3 in 0.02 s" in m for m in lines) and any("503; retry 2 of 3" in m for m in lines)


def test_persistent_rate_limit_gives_up_with_a_message():
    with ScriptedServer(GOOD) as srv:
        srv.push(*[Reply(status=429, headers={"retry-after-ms": "1"})] * 3)
        ans = client(srv, retries=2).ask(photo())
        assert len(srv.requests) == 3
    assert not ans.answers and "rate limit (429) 3 times" in texts(ans)


def test_a_timeout_is_said_quickly_and_not_retried():
    with ScriptedServer(GOOD) as srv:
        srv.push(Reply(hang=True))
        t0 = time.perf_counter()
        ans = client(srv, timeout_s=0.3).ask(photo())
        elapsed = time.perf_counter() - t0
        assert len(srv.requests) == 1
    assert elapsed < 3
    assert "did not answer within 0.3 s" in texts(ans) and not ans.answers


def test_a_huge_answer_is_cut_and_still_read():
    huge = GOOD + " " + ("blah { not json " * 250_000)  # ~4 MB
    with ScriptedServer(huge) as srv:
        t0 = time.perf_counter()
        ans = client(srv, samples=1).ask(photo())
        elapsed = time.perf_counter() - t0
    assert elapsed < 10
    (a,) = ans.answers
    assert len(a.candidates) == 2 and len(a.raw) <= vlm.MAX_RAW_CHARS
    assert "only the first 100,000 were read" in texts(ans)
    late = vlm.parse_answer("x" * 200_000 + GOOD)
    assert not late.usable and any("only the first" in p for p in late.problems)


def test_a_dropped_connection_is_retried_then_reported():
    with ScriptedServer(GOOD) as srv:
        srv.push(Reply(drop=True))
        ans = client(srv).ask(photo())
        assert len(srv.requests) == 2 and len(ans.usable) == 5
        srv.push(*[Reply(drop=True)] * 2)
        ans = client(srv, retries=1).ask(photo())
    assert not ans.answers and "Could not reach 127.0.0.1" in texts(ans)


def test_an_unreachable_server_is_said():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    c = VLMClient(vlm.VLMConfig(f"http://127.0.0.1:{port}/v1", "m", retries=1, backoff_s=0.01), api_key="")
    ans = c.ask(photo())
    assert not ans.answers and f"Could not reach 127.0.0.1:{port} (2 tries)" in texts(ans)


def test_the_request_cap_stops_with_a_message_and_keeps_what_came():
    with ScriptedServer(GOOD, supports_n=False) as srv:
        ans = client(srv, samples=4, requests_per_minute=2).ask(photo())
        assert len(srv.requests) == 2
    assert len(ans.usable) == 2 and "request cap of 2 per minute is reached" in texts(ans)


def test_a_wrong_path_says_404_and_names_the_model():
    with ScriptedServer(GOOD) as srv:
        c = VLMClient(vlm.VLMConfig(srv.url.removesuffix("/v1") + "/nope", "m"), api_key="")
        ans = c.ask(photo())
    assert "Not found (404)" in texts(ans) and "'m'" in texts(ans)


# --------------------------------------------------------------------------------------------------
# privacy and the key


def test_privacy_mode_refuses_remote_endpoints(monkeypatch):
    monkeypatch.delenv(vlm.ALLOWED_HOSTS_ENV, raising=False)
    for url in ("http://127.0.0.1:8000/v1", "http://localhost:11434/v1", "http://[::1]:8080/v1", "http://127.9.9.9/v1"):
        assert vlm.endpoint_allowed(url, privacy=True), url
    for url in ("https://api.openai.com/v1", "http://127.0.0.1@evil.example/v1", "http://localhost.evil.example/v1",
                "http://10.0.0.5:8000/v1", "http://[::ffff:8.8.8.8]/v1", "ftp://127.0.0.1/v1", "", "127.0.0.1:8000"):
        assert not vlm.endpoint_allowed(url, privacy=True), url
    assert "api.openai.com is neither" in vlm.endpoint_refusal("https://api.openai.com/v1", True)
    assert vlm.endpoint_allowed("https://api.openai.com/v1", privacy=False)
    assert not vlm.endpoint_allowed("https://x.example/v1?key=sk-1", privacy=False), "no secrets in URLs"
    monkeypatch.setenv(vlm.ALLOWED_HOSTS_ENV, "gpu-box.lab.internal:8000, vllm.example")
    assert vlm.endpoint_allowed("http://gpu-box.lab.internal:8000/v1", privacy=True)
    assert vlm.endpoint_allowed("https://VLLM.example/v1", privacy=True)
    assert not vlm.endpoint_allowed("https://other.example/v1", privacy=True)
    assert vlm.endpoint_host("https://user:pw@vllm.example:8443/v1?x=1") == "vllm.example:8443"


def test_the_key_goes_only_to_configured_hosts(monkeypatch):
    monkeypatch.delenv(vlm.ALLOWED_HOSTS_ENV, raising=False)
    monkeypatch.setenv(vlm.KEY_ENV, KEY)
    monkeypatch.setenv(vlm.ENDPOINT_ENV, "https://generativelanguage.googleapis.com/v1beta/openai/")
    assert vlm.api_key_from_env() == KEY
    assert vlm.key_allowed("https://generativelanguage.googleapis.com/v1beta/openai/")
    assert vlm.key_allowed("http://127.0.0.1:8000/v1")
    assert not vlm.key_allowed("https://attacker.example/v1")
    assert not vlm.key_allowed("https://api.openai.com/v1"), "a GEOLOCATE key is not sent to OpenAI unless configured"
    monkeypatch.delenv(vlm.KEY_ENV)
    monkeypatch.setenv(vlm.FALLBACK_KEY_ENV, "sk-openai")
    assert vlm.api_key_from_env() == "sk-openai" and vlm.key_allowed("https://api.openai.com/v1")


def test_the_key_and_the_photo_are_absent_from_every_log_line_and_output(caplog, capsys, monkeypatch):
    monkeypatch.setenv(vlm.KEY_ENV, KEY)
    caplog.set_level(logging.DEBUG)
    for name in ("openai", "httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    echo = f"invalid key Bearer {KEY} for {KEY}"
    outputs = []
    with ScriptedServer(GOOD) as srv:
        srv.push(Reply(status=429, headers={"retry-after-ms": "1"}), Reply(drop=True))
        c = VLMClient(vlm.VLMConfig(srv.url, "m", samples=2, backoff_s=0.01))  # key from the environment
        assert c.has_key
        ok = c.ask(photo())
        srv.push(Reply(status=401, error=echo), Reply(status=500, error=echo), Reply(status=500, error=echo), Reply(status=500, error=echo), Reply(status=500, error=echo))
        denied = c.ask(photo(1))
        failed = c.ask(photo(2))
        assert all(h["authorization"] == f"Bearer {KEY}" for h in srv.headers), "the key is sent, as a bearer token"
        data_url = srv.requests[0]["messages"][0]["content"][1]["image_url"]["url"]
    assert len(ok.usable) == 2 and "refused the credentials (401)" in texts(denied) and "[key]" in texts(denied)
    assert "server error (500)" in texts(failed)
    ev = ModelEvidence(model="m", endpoint=srv.url)
    outputs += [repr(c), repr(ok), repr(denied), repr(failed), texts(denied), texts(failed), json.dumps(ev.to_query()), str(ev.summary())]
    for e in vlm.answers_experts([ok], "m")[0]:
        outputs.append(e.describe())
    out, err = capsys.readouterr()
    outputs += [out, err]
    lines = [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    assert len(caplog.records) > 10, "the clients' debug logs were captured"
    b64 = data_url.split(",", 1)[1]
    for text in lines + outputs:
        assert KEY not in text
        assert b64[:64] not in text, "the photo is never logged"


# --------------------------------------------------------------------------------------------------
# the parser


@pytest.mark.parametrize("text, expected", [
    ('{"latitude": 48.85, "longitude": 2.35}', (48.85, 2.35)),
    ('Answer:\n```\n{"latitude": "-33.9", "longitude": "151.2"}\n```', (-33.9, 151.2)),
    ('I think it is here {"lat": 40.7, "lng": -74.0} because of the taxis.', (40.7, -74.0)),
    ('[{"latitude": 1.5, "longitude": 2.5}, {"latitude": 3, "longitude": 4}]', (1.5, 2.5)),
    ("Latitude: 41.9° N, Longitude: 12.5° E", (41.9, 12.5)),
    ("latitude 22.9 S, longitude 43.2 W", (-22.9, -43.2)),
    ('{"latitude": "33.9° S", "longitude": "\u221218.4"}', (-33.9, -18.4)),
])
def test_the_parser_reads_the_g3_form_in_fences_and_prose(text, expected):
    a = vlm.parse_answer(text)
    assert (a.candidates[0].lat, a.candidates[0].lon) == pytest.approx(expected)


def test_the_parser_reads_the_rich_form_and_tolerates_odd_fields():
    text = json.dumps({
        "clues": "one clue", "reasoning": "r" * 10_000,
        "countries": {"France": 0.5, "de": 0.3, "Atlantis": 0.2},
        "candidates": [{"lat": 48.8, "lon": 2.3, "confidence": "60%", "radius": "30 km"}] + [{"lat": 1, "lon": 1}] * 7,
    })
    a = vlm.parse_answer(text, finish_reason="length")
    assert a.countries == (("FRA", 0.5), ("DEU", 0.3))
    assert a.candidates[0] == vlm.Candidate(48.8, 2.3, 0.6, 30.0, "")
    assert len(a.candidates) == vlm.MAX_CANDIDATES and a.clues == ("one clue",) and len(a.reasoning) == vlm.MAX_REASONING_CHARS
    joined = " ".join(a.problems)
    assert "'Atlantis'" in joined and "8 candidates given" in joined and "max-tokens" in joined
    assert vlm.parse_answer("").problems == ("the answer was empty",)
    assert vlm.parse_answer(None, finish_reason="content_filter").refusal


# --------------------------------------------------------------------------------------------------
# evidence, cache, app path == bench path


def test_model_evidence_reads_the_cache_and_never_sends(monkeypatch):
    def no_send(*a, **k):
        raise AssertionError("experts() must not call the network")

    monkeypatch.setattr(VLMClient, "ask", no_send)
    cache = AnswerCache(max_entries=2)
    p = photo(3)
    ev, problems = EvidenceSet.from_query({"vlm_model": "scripted-vlm", "vlm_samples": "3"})
    model_ev = ev.get("model")
    assert problems == [] and model_ev.model == "scripted-vlm" and model_ev.samples == 3 and model_ev.endpoint == ""
    assert set(model_ev.to_query()) <= set(ModelEvidence.query_keys)
    ctx = EvidenceContext(photos=[p], extras={"model": cache})
    experts, msgs = model_ev.experts(ctx)
    assert experts == [] and "not been asked" in msgs[0].text
    answers = vlm.ModelAnswers("scripted-vlm", "127.0.0.1", 3, 1.0, (vlm.parse_answer(GOOD),) * 3)
    cache.put(cache.key(p, "", "scripted-vlm", 3), answers)
    experts, msgs = model_ev.experts(ctx)
    assert [e.name for e in experts] == ["model: scripted-vlm", "model: scripted-vlm countries"] and msgs == []
    assert ModelEvidence(model="scripted-vlm", samples=5).experts(ctx)[0] == [], "another sample count is another key"
    assert ModelEvidence().is_empty and ModelEvidence().experts(ctx) == ([], [])


def test_the_cache_is_bounded_and_keyed_by_photo_endpoint_model_samples():
    cache = AnswerCache(max_entries=2)
    a = vlm.ModelAnswers("m", "h", 1, 1.0)
    k1, k2, k3 = (cache.key(photo(i), "http://h/v1/", "m", 1) for i in range(3))
    assert k1 == cache.key(photo(0), "http://h/v1", "m", 1) and k1 != cache.key(photo(0), "http://h/v1", "m", 2)
    for k in (k1, k2, k3):
        cache.put(k, a)
    assert cache.get(k1) is None and cache.get(k3) is a and len(cache) == 2


def test_ask_photo_experts_caches_in_memory_and_refuses_in_privacy_mode():
    with ScriptedServer(GOOD) as srv:
        cache = AnswerCache()
        cfg = vlm.VLMConfig(srv.url, "m", samples=2)
        e1, m1, a1 = vlm.ask_photo_experts(photo(), cfg, cache=cache, privacy=True)
        e2, m2, a2 = vlm.ask_photo_experts(photo(), cfg, cache=cache)
        assert len(srv.requests) == 1 and a1 is a2 and len(e1) == 2
        remote = vlm.VLMConfig("https://api.openai.com/v1", "m")
        e3, m3, _ = vlm.ask_photo_experts(photo(), remote, cache=cache, privacy=True)
        assert e3 == [] and "Privacy mode" in m3[0].text and len(srv.requests) == 1
    assert any("clue: French street signs" in line for line in vlm.answer_lines(a1))


def test_the_batch_expert_of_one_record_equals_the_app_expert():
    grid = global_grid(3)
    cells = CellSet.from_cells(grid.cells[::97])
    pts = np.array([[*PARIS], [*TOKYO], [-33.9, 151.2]])
    conf = np.array([0.5, 0.3, 0.2])
    w = vlm.default_answer_mixture()
    batch = vlm.SampledPointPredictions("b", pts[None], conf[None], weights=w)
    app = CandidateMixture(pts, conf, vlm.DEFAULT_SCALES_KM, np.tile(w, (3, 1)))
    np.testing.assert_allclose(batch.batch_log_density(cells, np.array([0]))[0], app.log_density(cells), rtol=1e-5, atol=1e-6)
    lo, hi = batch.log_density_bounds(cells, np.array([0]))
    v = app.log_density(cells)
    assert np.all(lo[0] <= v + 1e-6) and np.all(v <= hi[0] + 1e-6)


def test_the_sample_mixture_fit_recovers_the_error_scale():
    rng = np.random.default_rng(0)
    truth = np.column_stack([rng.uniform(-50, 50, 400), rng.uniform(-170, 170, 400)])
    # two answers per record: one ~25 km off (weight 0.8), one far off (weight 0.2)
    near = truth + rng.normal(0, 25 / 111, truth.shape)
    far = np.column_stack([rng.uniform(-60, 60, 400), rng.uniform(-180, 180, 400)])
    samples = np.stack([near, far], axis=1)
    w = vlm.fit_sample_mixture(samples, np.tile([0.8, 0.2], (400, 1)), truth)
    scales = np.asarray(vlm.DEFAULT_SCALES_KM)
    assert scales[np.argmax(w)] == 25.0 and w[scales == 25.0][0] > 0.6


# --------------------------------------------------------------------------------------------------
# batches (embed) and the benchmark


CITIES = [(48.86, 2.35), (51.51, -0.13), (40.71, -74.01), (35.68, 139.65), (-33.87, 151.21), (-23.55, -46.63), (55.76, 37.62),
          (19.43, -99.13), (28.61, 77.21), (-1.29, 36.82), (30.04, 31.24), (34.05, -118.24), (1.35, 103.82), (59.33, 18.07),
          (-34.60, -58.38), (41.01, 28.98), (13.76, 100.50), (52.52, 13.40), (45.50, -73.57), (-26.20, 28.05), (39.90, 116.40),
          (37.57, 126.98), (25.20, 55.27), (6.52, 3.38)]


def test_ask_many_is_bounded_and_a_bench_run_on_scripted_answers_reports_the_model(tmp_path):
    from geolocate.bench import run_benchmark
    from geolocate.data import BenchmarkSpec

    rng = np.random.default_rng(1)
    photos = [(f"img{k}", photo(100 + k)) for k in range(len(CITIES))]
    by_url = {}
    for (pid, im), (la, lo) in zip(photos, CITIES):
        d = rng.normal(0, 0.3, 2)
        far = CITIES[(CITIES.index((la, lo)) + 7) % len(CITIES)]
        by_url[vlm.encode_photo(im)] = rich([(la + d[0], lo + d[1], 0.8, 100.0), (*far, 0.2, 100.0)], [])

    def answer(body):
        return [by_url[body["messages"][0]["content"][1]["image_url"]["url"]]]

    with ScriptedServer(answer, gather=3) as srv:
        c = client(srv, samples=2)
        done = []
        results = list(vlm.ask_many(c, iter(photos), concurrency=3, progress=lambda n, pid: done.append(n)))
        assert srv.max_inflight == 3, "three requests in flight, never more"
        assert len(srv.requests) == len(photos)
    assert sorted(r.id for r in results) == sorted(p for p, _ in photos) and done[-1] == len(photos)
    assert all(len(r.raw) == 2 and len(r.rows) == 4 for r in results)
    rows = [row for r in results for row in r.rows]
    csv = tmp_path / "answers.csv"
    assert vlm.write_answers_csv(rows, csv) == 4 * len(photos)
    gt = tmp_path / "gt.csv"
    gt.write_text("IMG_ID,AUTHOR,LAT,LON\n" + "\n".join(f"img{k},a{k % 6},{la},{lo}" for k, (la, lo) in enumerate(CITIES)) + "\n")
    spec = BenchmarkSpec("scripted", gt, [], [])
    expert, report = vlm.vlm_bench_expert(csv, spec)
    assert expert.name == "vlm: answers" and expert.records == len(CITIES) and expert.samples.shape == (len(CITIES), 4, 2)
    np.testing.assert_allclose(expert.sample_weights[0], [0.4, 0.1, 0.4, 0.1])  # confidences within a sample, samples equal
    assert "96 answer rows for 24 images" in report[0]
    experts, notes = vlm.vlm_bench_experts(csv, spec)
    assert [e.name for e in experts] == ["vlm: answers", "vlm: answers (stated radii)"] and notes == report
    r = run_benchmark(spec, priors=["uniform land"], n_boot=0, refine_to=4, extra_experts=experts)
    rep = r.report
    stated = rep["experts"]["vlm: answers (stated radii)"]
    assert stated["kind"] == "model" and "vlm: answers (stated radii)" not in rep["point_scale_mixtures"], "taken at its word, not refitted"
    # the scripted radii (100 km) are honest for ~33 km errors: most truths fall in a small area
    assert stated["rva"]["auc"]["value"] > rep["experts"]["uniform land"]["rva"]["auc"]["value"] + 0.2
    me = rep["experts"]["vlm: answers"]
    assert me["kind"] == "model"
    assert "vlm: answers" in rep["point_scale_mixtures"] and rep["provenance"]["mixture vlm: answers"].startswith("EM on")
    assert me["rva"]["auc"]["value"] > rep["experts"]["uniform land"]["rva"]["auc"]["value"] + 0.2
    assert me["prediction_gcd_accuracy"]["750"]["value"] == 1.0
    assert rep["ensemble"]["rva"]["auc"]["value"] > rep["experts"]["uniform land"]["rva"]["auc"]["value"]
    # every answer is a mode candidate (the mode is near the image's most weighted answer, not only the first)
    assert expert.mode_candidates(np.array([0])).shape == (1, 4, 2) and experts[1].mode_candidates(np.array([0])).shape == (1, 4, 2)
    # the shards' records give the same expert as the CSV
    from_shards, _ = vlm.answers_batch_expert(vlm.answers_frame(json.loads(json.dumps([x.record() for x in results]))), [f"img{k}" for k in range(len(CITIES))], name="s")
    np.testing.assert_allclose(np.nan_to_num(from_shards.samples), np.nan_to_num(expert.samples), atol=1e-9)
    assert all(KEY not in json.dumps(x.record()) for x in results)
    # the benchmark's fitted mixture then widens the app's kernels for this model
    r.to_json(tmp_path / "report.json")
    vlm.load_fitted_mixture(tmp_path / "report.json", "vlm: answers", "bench-fitted-vlm")
    w = vlm.fitted_mixture("bench-fitted-vlm")
    assert w is not None and w == pytest.approx(list(rep["point_scale_mixtures"]["vlm: answers"].values()), abs=1e-5)
    (pts, *_), _ = vlm.answers_experts([results[0].answers], "m", w)
    assert np.allclose(pts.scales_km, vlm.DEFAULT_SCALES_KM) and np.allclose(pts.scale_weights[0], w)


def test_the_answers_csv_reader_names_bad_lines(tmp_path):
    from geolocate.data import DataError

    p = tmp_path / "a.csv"
    p.write_text("id,sample,lat,lon,confidence\nx,0,10,20,0.5\nx,1,95,20,0.5\ny,0,abc,1,\n")
    with pytest.raises(DataError, match="2 rows .* first on line 3"):
        vlm.read_answers_csv(p)
    df, rep = vlm.read_answers_csv(p, on_error="skip")
    assert df["id"].tolist() == ["x"] and "2 rows skipped" in rep[1]
    expert, more = vlm.answers_batch_expert(df, ["x", "z"], name="v")
    assert expert.present.tolist() == [True, False] and "1 of 2 images have no answer" in more[0]


# --------------------------------------------------------------------------------------------------
# the panel (Streamlit AppTest, in-process; the real-browser test is the page's)


def _panel_script(privacy: bool, repo: str) -> None:
    import sys

    if repo not in sys.path:
        sys.path.insert(0, repo)
    import numpy as np
    import streamlit as st
    from PIL import Image

    from geolocate.evidence.model import ModelEvidence
    from pages._panel_model import panel

    im = Image.fromarray(np.random.default_rng(7).integers(0, 255, (48, 64, 3), dtype=np.uint8), "RGB")
    st.session_state["result"] = panel(ModelEvidence(), [im], privacy)


def test_the_panel_names_the_host_sends_only_on_click_and_shows_clues_as_text(monkeypatch):
    from streamlit.testing.v1 import AppTest

    repo = str(__import__("pathlib").Path(__file__).resolve().parents[2])
    monkeypatch.chdir(repo)
    monkeypatch.delenv(vlm.ENDPOINT_ENV, raising=False)
    monkeypatch.delenv(vlm.ALLOWED_HOSTS_ENV, raising=False)
    monkeypatch.setenv(vlm.KEY_ENV, KEY)
    clue = "**bold** <b>html</b> [link](http://x)"
    with ScriptedServer(rich([(*PARIS, 0.7, 50.0)], [("FRA", 0.9)], clues=(clue,))) as srv:
        at = AppTest.from_function(_panel_script, args=(True, repo), default_timeout=30)
        at.run()
        assert at.button(key="vlm::ask").disabled, "no endpoint, no model: nothing to ask"
        at.text_input(key="vlm::endpoint").set_value("https://api.openai.com/v1")
        at.text_input(key="vlm::model").set_value("scripted-vlm")
        at.run()
        assert any("Privacy mode" in e.value for e in at.error) and at.button(key="vlm::ask").disabled
        at.text_input(key="vlm::endpoint").set_value(srv.url)
        at.number_input(key="vlm::samples").set_value(2)
        at.run()
        host = vlm.endpoint_host(srv.url)
        assert any(t.value == f"The photo will be sent to: {host}" for t in at.text)
        assert not at.button(key="vlm::ask").disabled and srv.requests == [], "nothing is sent before the click"
        at.button(key="vlm::ask").click()
        at.run()
        assert len(srv.requests) == 1 and srv.requests[0]["n"] == 2
    body = "\n".join(t.value for t in at.text)
    assert f"clue: {clue}" in body, "clues shown verbatim with st.text"
    assert all(clue not in m.body for m in at.markdown), "model text never goes through Markdown"
    assert KEY not in body and all(KEY not in m.body for m in at.markdown)
    ev = at.session_state["result"]
    assert ev.model == "scripted-vlm" and ev.samples == 2 and ev.host == host
    assert ev.asked and ev.to_query() == {"vlm_model": "scripted-vlm", "vlm_samples": "2"}, "answers change the value, not the link"
    from geolocate.evidence import EvidenceContext

    im = Image.fromarray(np.random.default_rng(7).integers(0, 255, (48, 64, 3), dtype=np.uint8), "RGB")
    experts, msgs = ev.experts(EvidenceContext(photos=[im]))
    assert [e.name for e in experts] == ["model: scripted-vlm", "model: scripted-vlm countries"]


def test_empty_answers_no_choices_a_non_json_body_and_cut_answers_are_said():
    with ScriptedServer(GOOD) as srv:
        srv.push(Reply(contents=["", "   "]))
        ans = client(srv, samples=2).ask(photo())
        assert "2 of 2 answers could not be read" in texts(ans) and "the answer was empty" in texts(ans)
        srv.push(Reply(raw_body=json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}).encode()))
        ans = client(srv, samples=2).ask(photo())
        assert "no answer (no choices)" in texts(ans) and not ans.answers
        srv.push(Reply(raw_body=b"<html>proxy error</html>"))
        ans = client(srv, samples=1).ask(photo())
        assert not ans.answers and ans.messages, "a body that is not a chat completion is said, not raised"
        srv.push(Reply(contents=[GOOD[:-30]], finish_reason="length"))
        ans = client(srv, samples=1).ask(photo())
        assert "cut at the max-tokens limit" in texts(ans)
        srv.push(Reply(contents=[""], finish_reason="content_filter"))
        ans = client(srv, samples=1).ask(photo())
        assert "declined" in texts(ans) and "content filter" in texts(ans)


def test_the_prompt_carries_consented_context_and_retrieval_hints_only_when_given():
    with ScriptedServer(GOOD) as srv:
        c = client(srv, samples=1)
        c.ask(photo())
        list(vlm.ask_many(c, [("a", photo(1), [(10.0, 20.0)])], concurrency=1, stated=[("in one of", "FRA, BEL")]))
        plain, rich_prompt = (r["messages"][0]["content"][0]["text"] for r in srv.requests)
    assert "analyst" not in plain and "similar photos" not in plain
    assert "in one of: FRA, BEL" in rich_prompt and "(10.0000, 20.0000)" in rich_prompt


def test_a_client_log_line_quoting_a_photo_is_redacted(caplog):
    caplog.set_level(logging.DEBUG, logger="openai._base_client")
    logging.getLogger("openai._base_client").debug("Request options: %s", {"json_data": {"url": "data:image/jpeg;base64,/9j/AAAA"}})
    (rec,) = [r for r in caplog.records if r.name == "openai._base_client"]
    assert "base64" not in rec.getMessage() and "not logged" in rec.getMessage()


def test_repeated_candidates_merge_into_one_kernel_and_one_listing():
    a = vlm.parse_answer(GOOD)
    ans = vlm.ModelAnswers("m", "h", 3, 1.0, (a, a, vlm.parse_answer(rich([(*PARIS, 1.0, 50.0)]))))
    (pts, _), _ = vlm.answers_experts([ans], "m")
    assert len(pts.weights) == 2 and pts.weights == pytest.approx([0.7 * 2 / 3 + 1 / 3, 0.3 * 2 / 3])
    assert "top (48.857, 2.352) 80%" in pts.describe()
    assert pts.mode_candidates().shape == (2, 2)
    peak = Ensemble([pts]).peak(refine_to=5)
    assert haversine_km(peak.lat, peak.lon, *PARIS) < 1.0, "the mode is the most weighted candidate"
    lines = vlm.answer_lines(ans)
    assert "— samples 1, 2 (the same answer)" in lines and "— sample 3" in lines


PAGE = '''
import sys
sys.path.insert(0, {repo!r})
import numpy as np
import streamlit as st
from PIL import Image
from geolocate.evidence import EvidenceContext
from geolocate.evidence.model import ModelEvidence
from pages._panel_model import panel

im = Image.fromarray(np.random.default_rng(7).integers(0, 255, (120, 160, 3), dtype=np.uint8), "RGB")
with st.sidebar:
    ev = panel(ModelEvidence(), [im], privacy=True)
experts, msgs = ev.experts(EvidenceContext(photos=[im]))
for e in experts:
    st.slider(e.name, 0.0, 3.0, 1.0, key="w::" + e.name)
'''


@pytest.mark.e2e
def test_in_a_real_browser_ask_the_model_shows_the_clues_and_adds_experts_with_sliders(tmp_path):
    import os
    import shutil
    import subprocess
    import urllib.request
    from pathlib import Path

    chromium = shutil.which("chromium") or "/usr/bin/chromium"  # as tests/e2e/workbench_helpers.py
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"]
    if not Path(chromium).exists():
        pytest.skip("Debian chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    repo = str(Path(__file__).resolve().parents[2])
    script = tmp_path / "page.py"
    script.write_text(PAGE.format(repo=repo))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in (vlm.ENDPOINT_ENV, vlm.ALLOWED_HOSTS_ENV)}
    with ScriptedServer(rich([(*PARIS, 0.7, 30.0)], [("FRA", 0.8)], clues=("Blue street-name plates",))) as srv:
        proc = subprocess.Popen(
            [str(Path(repo) / ".venv/bin/streamlit"), "run", str(script), "--server.port", str(port), "--server.headless", "true",
             "--browser.gatherUsageStats", "false"], cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while True:
                try:
                    urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    time.sleep(0.3)
            with sync_api.sync_playwright() as p:
                b = p.chromium.launch(executable_path=chromium, args=args)
                page = b.new_page()
                page.goto(url)
                endpoint = page.get_by_role("textbox", name="Endpoint (base URL)")
                endpoint.wait_for(timeout=60_000)
                endpoint.fill(srv.url)
                page.keyboard.press("Enter")
                page.get_by_role("textbox", name="Model").fill("scripted-vlm")
                page.keyboard.press("Enter")
                page.get_by_text(f"The photo will be sent to: {vlm.endpoint_host(srv.url)}").wait_for(timeout=30_000)
                assert srv.requests == [], "nothing is sent before the click"
                page.get_by_role("button", name="Ask the model").click()
                page.get_by_text("clue: Blue street-name plates", exact=False).first.wait_for(timeout=60_000)
                page.get_by_text("model: scripted-vlm countries").first.wait_for(timeout=30_000)
                assert page.get_by_role("slider").count() == 3  # temperature + the two experts' weights
                b.close()
            assert len(srv.requests) == 1
        finally:
            proc.terminate()
            proc.wait(10)


def test_the_panels_ask_withholds_the_key_from_hosts_the_server_is_not_configured_for(monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    from pages import _panel_model

    monkeypatch.setenv(vlm.KEY_ENV, KEY)
    with ScriptedServer(GOOD) as srv:
        ev = ModelEvidence(model="m", samples=1, endpoint=srv.url)
        msgs = _panel_model.ask(ev, [photo(11)], privacy=True)
        assert srv.headers[-1]["authorization"] == f"Bearer {KEY}", "loopback: the key goes"
        monkeypatch.setattr(vlm, "key_allowed", lambda url: False)  # as for a typed remote host
        _panel_model.ask(ev, [photo(12)], privacy=True)
        assert srv.headers[-1]["authorization"] == "Bearer no-key"
        (refused,) = _panel_model.ask(ModelEvidence(model="m", endpoint="https://api.openai.com/v1"), [photo(13)], privacy=True)
        assert refused.level == "error" and "Privacy mode" in refused.text
        assert len(srv.requests) == 2
    assert all(KEY not in f"{m.text} {m.detail}" for m in msgs)


def test_the_stated_radii_batch_expert_equals_the_app_expert_for_the_same_answers():
    import pandas as pd

    a1 = vlm.parse_answer(rich([(*PARIS, 0.6, 40.0), (*TOKYO, 0.2, 400.0)]))
    a2 = vlm.parse_answer('{"latitude": -33.9, "longitude": 151.2}')  # no radius: the assumed mixture
    ans = vlm.ModelAnswers("m", "h", 2, 1.0, (a1, a2))
    (app, *_), _ = vlm.answers_experts([ans], "m")
    batch, _ = vlm.answers_batch_expert(pd.DataFrame(vlm.answer_rows("p", ans)), ["p"], name="b")
    stated = vlm.StatedRadiusPredictions("s", batch.samples, batch.sample_weights, batch.radius_km)
    cells = CellSet.from_cells(global_grid(3).cells[::53])
    np.testing.assert_allclose(stated.batch_log_density(cells, np.array([0]))[0], app.log_density(cells), rtol=1e-6, atol=1e-6)
    # mixed widths in one expert (20 km, 200 km, the assumed mixture) keep each kernel's own mass
    assert np.isfinite(app.log_density(cells)).all()
    d = Ensemble([app]).distribution(refine_to=7)  # (coarser refinement shifts mass between sharp and wide kernels)
    assert mass_near(d, PARIS, 250) == pytest.approx(0.375, abs=0.03)
    assert mass_near(d, TOKYO, 1000) == pytest.approx(0.125, abs=0.03)
    lo, hi = app.log_density_bounds(cells)
    v = app.log_density(cells)
    assert np.all(lo <= v + 1e-6) and np.all(v <= hi + 1e-6)
