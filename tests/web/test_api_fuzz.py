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
``API_FUZZ_EXAMPLES`` sets the examples per route and client (default 20: about a minute and a half in all on a
busy machine; raise it for a longer hunt).
"""

from __future__ import annotations

import json
import os
import re
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.test_console_auth import as_user, log_in

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "20"))
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
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ABSENT = object()  # a key left out of a body


def mutated(base: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``base`` with one value somewhere inside it (chosen by the drawn indexes) replaced by a wrong one."""
    def replace(found: Any, path: list[int], wrong: Any) -> Any:
        if not path or not isinstance(found, dict | list) or not found:
            return wrong
        keys = list(found) if isinstance(found, dict) else list(range(len(found)))
        chosen = keys[path[0] % len(keys)]
        copy = dict(found) if isinstance(found, dict) else list(found)
        copy[chosen] = replace(found[chosen], path[1:], wrong)
        return copy

    return st.builds(replace, base, st.lists(st.integers(min_value=0, max_value=99), max_size=5), wrong_values)


class Known:
    """What the running app names (flows, documents, tables, mapping YAML and field specs, table rows), so that
    most requests get past the first checks and the fuzzing reaches the code behind them."""

    def __init__(self, client: Any) -> None:
        catalogue = client.get("/api/mappings").get_json()["mappings"]
        flows = {row["flow"] for row in client.get("/api/flows").get_json()["flows"]}
        self.flows = sorted({entry["flow"] for entry in catalogue} | flows)
        self.documents = sorted({entry["document"] for entry in catalogue})
        self.tables = [table["table"] for table in client.get("/api/tables").get_json()["tables"]]
        self.yamls, self.specs, self.fields, self.sections = [], [], set(), set()
        for entry in catalogue[::4]:
            model = client.get(f"/api/designer/{entry['flow']}/{entry['document']}").get_json()
            self.yamls.append(model["text"])
            for section in model["sections"]:
                self.sections.add(section["section"])
                self.fields |= {target["field"] for target in section["targets"]}
                self.specs += [target["spec"] for target in section["targets"] if target.get("spec")]
        self.rows = [client.get(f"/api/tables/{name}").get_json()["rows"] for name in self.tables]
        self.samples = [json.loads(path.read_text()) for path in sorted(FIXTURES.glob("*.json"))]
        self.seed_dead_letters()
        self.group = client.get("/api/dlq").get_json()["groups"][0]["key"]

    dead = ("evt_1FuzzDead", "evt_2FuzzDead")
    group = ""

    def seed_dead_letters(self) -> None:
        """Two dead letters of one group (again, when an example retried or discarded them), so the retry and
        discard routes and the event pages reach real records."""
        from tasks import dlq, store

        for event_id in self.dead:
            event = {"id": event_id, "source": "stripe", "type": "payment_intent.succeeded",
                     "object_id": "pi_1Fuzz", "flow": "order_to_cash"}
            store.record_event(event)
            store.update_event(event_id, state="dead", stage="validate")
            dlq.dead_letter(event=event, stage="validate", stage_input={"payment": "pi_1Fuzz"},
                            error={"error_class": "ValidationFailed", "reason": "validation.unknown_part",
                                   "message": "PartNum 'FUZZ-1' is not in Epicor"}, attempts=1,
                            failure_id=f"failure-{event_id}")

    def names(self) -> st.SearchStrategy[str]:
        return st.sampled_from([*self.flows, *self.documents, *self.tables, "evt_1Fuzz", "po_1Fuzz", "default"])

    def part_for(self, argument: str) -> st.SearchStrategy[str]:
        """A path part for ``argument``: mostly a real name for it, else anything."""
        real = {"flow": self.flows, "document": self.documents, "name": self.tables, "key": [self.group, "g1"],
                "event_id": [*self.dead, "evt_1Fuzz"]}.get(argument, ["po_1Fuzz", "ch_1Fuzz"])
        nasty = nasty_texts | self.names().map(lambda name: name + ".yaml") | self.names().map(lambda n: n + "/x")
        drawn = st.one_of(st.sampled_from(real), st.sampled_from(real), st.sampled_from(real), nasty)
        return drawn.map(lambda text: quote(text.encode("utf-8", "surrogatepass"), safe="")[:5000])

    def plausible(self, key: str) -> st.SearchStrategy[Any]:
        """A value of the right type for ``key``, mostly one the endpoint can use."""
        texts = self.names() | st.text(min_size=1, max_size=20)
        choices: dict[str, st.SearchStrategy[Any]] = {
            "yaml": self.yaml_texts(),
            "base_version": st.integers(min_value=1, max_value=3), "version": st.integers(min_value=1, max_value=3),
            "draft": st.dictionaries(st.sampled_from(self.documents), self.yaml_texts(), min_size=1, max_size=2),
            "sample": st.sampled_from(self.samples) | mutated(st.sampled_from(self.samples)),
            "spec": st.sampled_from(self.specs) | mutated(st.sampled_from(self.specs)),
            "rows": st.sampled_from(self.rows) | mutated(st.sampled_from(self.rows)),
            "csv": st.sampled_from(self.rows).map(lambda rows: "key,value\n" + "".join(
                f"{row['key']},{row['value']}\n" for row in rows)) | st.sampled_from(
                ["key,value\n", "\x00,\n", '"a\nb",c\n', "a;b\n", "key,value\n" + "a,b\n" * 20_000])
            | st.text(max_size=80),
            "targets": st.lists(st.sampled_from(sorted(self.fields)) | texts, max_size=3),
            "on": st.booleans(), "accepted": st.booleans(),
            "flow": st.sampled_from(self.flows), "document": st.sampled_from(self.documents),
            "section": st.sampled_from(sorted(self.sections)), "field": st.sampled_from(sorted(self.fields)),
            "target": st.sampled_from(sorted(self.fields)), "source": st.sampled_from(["charge.amount", "x.y"]),
            "event_id": st.sampled_from([*self.dead, "ch_1Fuzz"]), "next": st.sampled_from(["/console/flows", "//x"]),
        }
        return choices.get(key, texts)

    def yaml_texts(self) -> st.SearchStrategy[str]:
        """A real mapping's YAML, or one with text put in somewhere, or YAML that is hard to read."""
        yamls = st.sampled_from(self.yamls)
        return yamls | st.tuples(yamls, st.integers(min_value=0, max_value=5000), nasty_texts).map(
            lambda cut: cut[0][:cut[1]] + cut[2] + cut[0][cut[1]:]) | st.sampled_from(
            ["[" * 5000, "a: &x [*x]", "- " * 3000, "!!python/object:os.system x", "{a: 1", "a: 2026-13-45"])

    def objects(self) -> st.SearchStrategy[dict[str, Any]]:
        """Bodies with the endpoints' keys: each mostly plausible, sometimes wrong, sometimes left out."""
        # hypothesis favours a one_of's first branches: the plausible value first, leaving the key out last
        values = {key: st.one_of(self.plausible(key), self.plausible(key), self.plausible(key), wrong_values,
                                 st.just(ABSENT)) for key in BODY_KEYS}
        return st.fixed_dictionaries(values).map(lambda drawn: {k: v for k, v in drawn.items() if v is not ABSENT})

    def bodies(self) -> st.SearchStrategy[tuple[str, bytes]]:
        """(content type, body)."""
        as_json = (self.objects() | self.objects() | json_values).map(
            lambda value: ("application/json", json.dumps(value).encode()))
        as_form = self.objects().map(lambda value: ("application/x-www-form-urlencoded", urlencode(
            {k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()},
            errors="surrogatepass").encode()))
        raw = st.sampled_from([
            b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"\xff\xfe{}", b"NaN",
            b'{"comment": NaN}', b'{"yaml": "a", "yaml": "b"}', b'{"base_version": ' + b"9" * 5000 + b"}",
            b"", b"{", b"null"]).map(lambda body: ("application/json", body))
        other = st.tuples(st.sampled_from(["text/csv", "text/plain", "application/x-www-form-urlencoded", ""]),
                          st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8",
                                                                                          "surrogatepass")))
        return as_json | as_json | as_form | raw | other

    def queries(self) -> st.SearchStrategy[str]:
        plausible = {"version": st.sampled_from(["1", "2", "0", "9" * 12]),
                     "limit": st.sampled_from(["1", "500", "501"]),
                     "state": st.sampled_from(["dead", "done", "x"]), "window": st.sampled_from(["1h", "24h", "2d"]),
                     "before": st.sampled_from(["2026-01-01T00:00:00Z", "1772649000", "9" * 400, "nan", "-1e308"]),
                     "pair": st.just("default"), "verdict": st.just("1"),
                     "builders": st.lists(st.sampled_from(["payer", "contact", "billed", "x"]),
                                          max_size=3).map(",".join)}
        value = {key: st.one_of(st.just(ABSENT), st.just(ABSENT), plausible.get(key, self.names()),
                                plausible.get(key, self.names()), nasty_texts) for key in QUERY_KEYS}
        return st.fixed_dictionaries(value).map(lambda drawn: "&".join(
            f"{k}={quote(v.encode('utf-8', 'surrogatepass'))[:5000]}" for k, v in drawn.items() if v is not ABSENT))


def fuzzed_rules(app: Any) -> list[Any]:
    """Every route of the JSON API and of the console (the receivers and health checks are fuzzed elsewhere)."""
    return sorted((rule for rule in app.url_map.iter_rules()
                   if rule.rule.startswith(("/api/", "/console")) and rule.endpoint not in SKIPPED_ENDPOINTS),
                  key=lambda rule: rule.rule)


def url_for_rule(rule: Any, parts: tuple[str, ...], query: str) -> str:
    path = rule.rule
    for name, part in zip(sorted(rule.arguments), parts, strict=True):
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
    @given(method=st.sampled_from(methods), parts=st.tuples(*(known.part_for(name) for name in sorted(rule.arguments))),
           query=known.queries(), body=known.bodies(), htmx=st.booleans())
    def send(method: str, parts: tuple[str, ...], query: str, body: tuple[str, bytes], htmx: bool) -> None:
        url = url_for_rule(rule, parts, query)
        if "/dlq/" in url or "/failures/" in url:
            known.seed_dead_letters()
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
        if how == "basic" and not rule.rule.startswith("/api/"):
            continue  # HTTP Basic is for the API; the console's pages send it to the login form
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


def test_a_table_holding_gl_accounts_is_read_and_published_as_text(app):
    """payouts.yaml's accounts (``1010-00-00``) read as YAML dates raised ValueError (month 0): a 500 on its page."""
    admin = as_user(app, "admin")
    shown = admin.get("/api/tables/payouts.yaml")
    assert shown.status_code == 200, shown.get_data()[:300]
    rows = shown.get_json()["rows"]
    assert "1010-00-00" in [row["value"] for row in rows]
    changed = [{**row, "value": "1011-00-00"} if row["value"] == "1010-00-00" else row for row in rows]
    made = admin.post("/api/tables/payouts.yaml/publish", json={"rows": changed, "comment": "new operating account",
                                                                "base_version": 1})
    assert made.status_code == 201, made.get_json()
    assert "1011-00-00" in [row["value"] for row in admin.get("/api/tables/payouts.yaml").get_json()["rows"]]
