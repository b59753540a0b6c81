"""Fuzzing the console's JSON API and its POST forms: whatever an admin sends, the answer is never a 5xx.

The receivers have their own fuzzing (``test_fuzz``, ``test_hostile_input``); this covers every route under
``/api/`` and every route of the console (its POST forms, its pages' path parts and query strings), found in
``app.url_map`` so a route added later is fuzzed without touching this file. Each route is sent, by hypothesis,
as an admin (the role that may do everything, so no refusal stops a request before its checks), once with
HTTP Basic and once with the login session and its CSRF token:

- JSON bodies: objects holding the keys the endpoints read, each with a plausible value (a real flow, document,
  mapping YAML, table rows...) or a wrong one (another type, a huge string, deep nesting, lone surrogates, NUL,
  negative and huge numbers, arrays), other JSON values, and raw bodies (deep nesting past the recursion
  limit, invalid UTF-8, ``NaN``, duplicate keys, a 5,000-digit number, a CSV);
- path parts: real names, names with dots, encoded slashes, unicode, invalid UTF-8, very long ones;
- query strings: the parameters the endpoints read, with the same values as the path parts.

Every answer must be below 500, and a 4xx must say why: a JSON ``{"error": ...}`` from ``/api/``, the console's
HTML page (or an htmx fragment, or a JSON error) from ``/console/``. Derandomized, so a CI run is repeatable;
``API_FUZZ_EXAMPLES`` sets the examples per route and client (default 60: about a minute in all).
"""

from __future__ import annotations

import json
import os
import re
import traceback
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.test_console_auth import as_user, log_in

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "60"))
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))
SKIPPED_ENDPOINTS = frozenset({"auth.login", "auth.logout", "console.static"})  # login has its own tests
BODY_KEYS = ("yaml", "comment", "base_version", "version", "draft", "event_id", "flow", "document", "sample",
             "section", "field", "spec", "key", "value", "reason_type", "rows", "csv", "on", "targets", "target",
             "source", "accepted", "next", "csrf_token")
QUERY_KEYS = ("version", "builders", "event_id", "state", "flow", "q", "before", "limit", "pair", "window",
              "mapping", "verdict", "document", "next")
SURROGATES = ["\ud800", "a\udfffb", "\udc00" * 3]

# -- values ------------------------------------------------------------------------------------------
huge_texts = st.sampled_from([1_000, 60, 61, 255, 256, 10_001, 100_000, 100_001]).flatmap(
    lambda n: st.sampled_from(["x", "é", "\x00", "\ud800", "a.", "🙂"]).map(lambda char: char * n))
nasty_texts = st.one_of(
    st.text(max_size=30), st.sampled_from(["", " ", "\x00", "\n", "..", ".", "a/b", "%2F", "../etc", "\u202e",
                                           "NaN", "-1", "0", "1e400", "true", "null", "{}", "[]", *SURROGATES]),
    huge_texts)
numbers = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([0, -1, 1, 10**9, 10**9 + 1,
                                                                                        2**63, -(2**63), 10**300]),
                    st.floats(allow_nan=False, allow_infinity=False))
scalars = st.none() | st.booleans() | numbers | nasty_texts
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


deep_values = st.sampled_from([nested(50), nested(400), {"a": nested(600)}])  # within json.dumps' reach
wrong_values = scalars | json_values | deep_values


# -- requests ----------------------------------------------------------------------------------------
class Known:
    """What the running app names (flows, documents, tables, a mapping's YAML): plausible values reach the
    checks behind the first ones."""

    def __init__(self, client: Any) -> None:
        catalogue = client.get("/api/mappings").get_json()["mappings"]
        self.flows = sorted({entry["flow"] for entry in catalogue} | {"stripe", "refunds"})
        self.documents = sorted({entry["document"] for entry in catalogue})
        self.tables = [table["table"] for table in client.get("/api/tables").get_json()["tables"]]
        first = catalogue[0]
        self.yaml = client.get(f"/api/mappings/{first['flow']}/{first['document']}").get_json().get("text") or ""
        self.rows = client.get(f"/api/tables/{self.tables[0]}").get_json()["rows"]

    def names(self) -> st.SearchStrategy[str]:
        return st.sampled_from([*self.flows, *self.documents, *self.tables, "evt_1Fuzz", "po_1Fuzz", "default"])

    def plausible(self, key: str) -> st.SearchStrategy[Any]:
        """A value of the right type for ``key`` (content still drawn)."""
        texts = self.names() | st.text(max_size=20)
        choices: dict[str, st.SearchStrategy[Any]] = {
            "yaml": st.sampled_from([self.yaml, self.yaml + "\n  bogus: [", self.yaml.replace(":", ": !!python/x"),
                                     "[" * 5000, "a: &x [*x]", "- " * 3000, ""]) | st.text(max_size=200),
            "base_version": st.integers(min_value=-1, max_value=4), "version": st.integers(min_value=-1, max_value=4),
            "draft": st.dictionaries(st.sampled_from(self.documents) | st.text(max_size=8),
                                     st.sampled_from([self.yaml, "", "{"]) | st.text(max_size=50), max_size=2),
            "sample": json_values | st.fixed_dictionaries({"id": texts, "type": texts, "data": st.fixed_dictionaries(
                {"object": st.dictionaries(st.text(max_size=10), json_values, max_size=6)})}),
            "spec": st.dictionaries(st.sampled_from(["from", "const", "template", "placeholder", "transforms", "x"]),
                                    json_values | texts, max_size=3),
            "rows": st.lists(st.fixed_dictionaries({"key": texts | wrong_values, "value": texts | wrong_values}),
                             max_size=4) | st.just(self.rows),
            "csv": st.sampled_from(["key,value\n", "key,value\na,b\n", "\x00,\n", '"a\nb",c\n', "a;b\n"])
            | st.text(max_size=80),
            "targets": st.lists(texts, max_size=3), "on": st.booleans(), "accepted": st.booleans(),
            "section": st.sampled_from(["fields", "lines", "header", "x"]) | st.text(max_size=20),
        }
        return choices.get(key, texts)

    def bodies(self) -> st.SearchStrategy[tuple[str, bytes]]:
        """(content type, body)."""
        objects = st.dictionaries(st.sampled_from(BODY_KEYS), st.none(), max_size=len(BODY_KEYS)).flatmap(
            lambda keys: st.fixed_dictionaries({key: self.plausible(key) | wrong_values for key in keys}))
        as_json = (objects | json_values).map(lambda value: ("application/json", json.dumps(value).encode()))
        raw = st.sampled_from([
            b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"\xff\xfe{}", b"NaN",
            b'{"comment": NaN}', b'{"yaml": "a", "yaml": "b"}', b'{"base_version": ' + b"9" * 5000 + b"}",
            b"", b"{", b"null"]).map(lambda body: ("application/json", body))
        other = st.tuples(st.sampled_from(["text/csv", "text/plain", "application/x-www-form-urlencoded", ""]),
                          st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8",
                                                                                          "surrogatepass")))
        return as_json | raw | other

    def parts(self) -> st.SearchStrategy[str]:
        """A path part, percent-encoded (a lone surrogate travels as invalid UTF-8)."""
        drawn = self.names() | nasty_texts | self.names().map(lambda name: name + ".yaml") | \
            self.names().map(lambda name: name + "/x")
        return drawn.map(lambda text: quote(text.encode("utf-8", "surrogatepass"), safe="")[:5000])

    def queries(self) -> st.SearchStrategy[str]:
        pairs = st.lists(st.tuples(st.sampled_from(QUERY_KEYS) | st.text(max_size=5), self.names() | nasty_texts),
                         max_size=4)
        return pairs.map(lambda found: "&".join(
            f"{quote(k.encode('utf-8', 'surrogatepass'))}={quote(v.encode('utf-8', 'surrogatepass'))[:5000]}"
            for k, v in found))


def fuzzed_rules(app: Any) -> list[Any]:
    """Every route of the JSON API and of the console (the receivers and health checks are fuzzed elsewhere)."""
    return sorted((rule for rule in app.url_map.iter_rules()
                   if rule.rule.startswith(("/api/", "/console")) and rule.endpoint not in SKIPPED_ENDPOINTS),
                  key=lambda rule: rule.rule)


def url_for_rule(rule: Any, parts: list[str], query: str) -> str:
    path = rule.rule
    for name, part in zip(rule.arguments, parts, strict=False):
        path = path.replace(f"<{name}>", part)
    return f"{path}?{query}" if query else path


def says_why(path: str, answer: Any) -> bool:
    """A 4xx names its reason: a JSON error anywhere, or (console) a page or fragment of HTML."""
    if answer.is_json:
        body = answer.get_json(silent=True)
        return isinstance(body, dict) and isinstance(body.get("error"), str) and bool(body["error"])
    return path.startswith("/console") and answer.mimetype == "text/html" and bool(answer.get_data())


def fuzz_route(rule: Any, client: Any, known: Known, headers: dict[str, str]) -> None:
    methods = sorted(rule.methods - {"HEAD", "OPTIONS"})

    @FUZZ_SETTINGS
    @given(method=st.sampled_from(methods), parts=st.lists(known.parts(), min_size=len(rule.arguments),
                                                           max_size=len(rule.arguments)),
           query=known.queries(), body=known.bodies(), htmx=st.booleans())
    def send(method: str, parts: list[str], query: str, body: tuple[str, bytes], htmx: bool) -> None:
        url = url_for_rule(rule, parts, query)
        extra = {**headers, **({"HX-Request": "true"} if htmx else {})}
        if method == "GET":
            answer = client.get(url, headers=extra)
        else:
            answer = client.open(url, method=method, data=body[1], content_type=body[0] or None, headers=extra)
        assert answer.status_code < 500, f"{method} {url} -> {answer.status_code}"
        if 400 <= answer.status_code < 500:
            assert says_why(url, answer), f"{method} {url} -> {answer.status_code} without a reason"

    send()


@pytest.fixture()
def clients(app):
    """An admin with HTTP Basic, and an admin with the login session and its CSRF token."""
    basic = as_user(app, "admin")
    browser = app.test_client()
    assert log_in(browser, "admin-test", next_page="/console/flows").status_code == 302
    token = browser.get("/console/flows").get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    return {"basic": (basic, {}), "session": (browser, {"X-CSRFToken": token})}


@pytest.fixture(autouse=True)
def _fresh_versions():
    from tasks import flow_switches
    from tasks.mapping import table_versions

    flow_switches.forget()
    table_versions.forget()
    yield
    flow_switches.forget()
    table_versions.forget()


def test_every_api_and_console_route_is_fuzzed(app):
    """Discovery is what keeps new routes covered: it must find the blueprints this file is about."""
    found = {rule.endpoint.split(".")[0] for rule in fuzzed_rules(app)}
    assert {"api", "mappings_api", "designer_api", "tables_api", "assist_api", "payouts", "console"} <= found
    assert len(fuzzed_rules(app)) >= 45


@pytest.mark.timeout(900)
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # huge examples' reprs
@pytest.mark.parametrize("how", ["basic", "session"])
def test_no_input_gives_a_5xx(app, clients, how):
    client, headers = clients[how]
    known = Known(clients["basic"][0])
    failures = []
    for rule in fuzzed_rules(app):
        try:
            fuzz_route(rule, client, known, headers)
        except Exception as exc:  # noqa: BLE001 - every route is fuzzed; the failures are listed together
            place = traceback.extract_tb(exc.__traceback__)[-1]
            told = re.sub(r"(.)\1{19,}", lambda run: f"{run.group(1)}*{len(run.group(0))}",
                          "".join(traceback.format_exception_only(exc)))
            failures.append(f"{rule.rule} ({place.filename}:{place.lineno}): {told.strip()[:3000]}")
    assert not failures, "\n\n".join(failures)


# -- what the fuzzing found, each as a plain test --------------------------------------------------------
TOO_DEEP = [b"[" * 100_000 + b"]" * 100_000, b'{"comment":' * 50_000 + b'"x"' + b"}" * 50_000]


@pytest.mark.parametrize("path", ["/api/mappings/preview", "/api/designer/edit", "/api/mappings/suggest",
                                  "/api/tables/parts.yaml/publish", "/api/dlq/evt_1/discard",
                                  "/api/flows/refunds/switch"])
@pytest.mark.parametrize("body", TOO_DEEP, ids=["array", "object"])
def test_a_body_nested_deeper_than_the_parser_recurses_is_a_400(app, path, body):
    """The parser's RecursionError escaped ``get_json(silent=True)`` (it silences ValueError only) as a 500."""
    answer = as_user(app, "admin").post(path, data=body, content_type="application/json")
    assert answer.status_code == 400, answer.get_data()[:300]
    assert answer.get_json()["error"]
