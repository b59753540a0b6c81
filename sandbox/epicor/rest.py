"""The Epicor REST surface: v2 OData and v1 URLs over the same entity sets.

Order of work for every request, which is also the order of failures a client can see:
count the call; injected latency; injected 500/503 (``error_rate``); Basic auth (and ``x-api-key``
or ``api-key`` on v2) else 401; injected licence exhaustion; the company (v2 path, v1
``CallSettings`` header, which defaults to the user's company when absent) else 400; the service and
entity set (service name case-insensitive) else 404; then the verb: GET list / GET by key / GET
``Parent(keys)/Children``, POST to a set (201 + row), PATCH by key (204). Other verbs, and writes to
read-only sets (Parts, Reasons), are 405. POST/PATCH need ``Content-Type: application/json`` (415).
A committed create may then be held back for ``timeout_seconds`` (``commit_then_timeout_rate``).
Custom methods (contract §4b: bank funds transfers, posting processes) go to ``methods.py`` before
any entity set is looked up. Committed customer and sales-order writes are handed to the event
outbox (``events.py``) after the transaction, so sending never holds the store's lock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Response, request

from .body import json_object, parse_body
from .documents import create_row, update_row
from .errors import api_error, business_error, license_error, not_found_error, server_error
from .filters import required_equalities
from .methods import Method, find_method, is_method_service
from .methods import call as call_method
from .query import (
    QueryOptions,
    ResourcePath,
    apply_options,
    leading_name,
    parse_options,
    parse_resource,
    resolve_key,
)
from .responses import json_response, no_content
from .schema import ENTITY_SETS, EntitySet, find_entity_set, is_known_service
from .state import EpicorState


@dataclass(frozen=True)
class Target:
    """Where a request points: API version, company, service and the base URL for contexts."""

    version: str
    company: str
    service: str
    base: str

    @property
    def context_key(self) -> str:
        """The envelope key of the metadata URL: v2 ``@odata.context``, v1 ``odata.metadata``."""
        return "@odata.context" if self.version == "v2" else "odata.metadata"


class RestApi:
    """Serves REST requests against one ``EpicorState``."""

    def __init__(self, state: EpicorState, instance: str) -> None:
        self.state = state
        self.instance = instance

    def handle(self, version: str, path_company: str | None, service: str,
               resource: str) -> Response:
        """Answer one REST request (errors propagate as ``EpicorError``), counted in flight while served."""
        with self.state.stats.serving() as in_flight:
            return self._handle(version, path_company, service, resource, in_flight)

    def _handle(self, version: str, path_company: str | None, service: str, resource: str,
                in_flight: int) -> Response:
        self.state.stats.count(request.method, leading_name(resource))
        self._entry_faults(leading_name(resource))
        self._authenticate(version)
        if self.state.faults.take_license_denial(in_flight):
            raise license_error()
        target = Target(version, self._company(version, path_company), service,
                        self._base_url(version, path_company, service))
        path = parse_resource(resource)
        method = find_method(service, path.set_name)
        if method is not None or (is_method_service(service) and not is_known_service(service)):
            return self._method(service, path, method)
        entity_set = self._entity_set(service, path)
        return self._dispatch(target, entity_set, path)

    def _method(self, service: str, path: ResourcePath, method: Method | None) -> Response:
        """A custom method of contract §4b (``methods.py``); a committed write may then be held back."""
        if method is None or path.has_key or path.child is not None:
            raise api_error(404, f"Method '{path.set_name}' was not found in service {service}.")
        verb = "GET" if request.method == "HEAD" else request.method
        body = self._json_body() if verb == "POST" == method.verb else b""
        answer = call_method(self.state, method, verb, body)
        delay = self.state.faults.draw_commit_timeout(path.set_name) if method.writes else None
        if delay:
            time.sleep(delay)
        return json_response(answer)

    def _entry_faults(self, name: str) -> None:
        latency = self.state.faults.latency_seconds(name)
        if latency > 0:
            time.sleep(latency)
        status = self.state.faults.draw_server_error()
        if status is not None:
            raise server_error(status)

    def _authenticate(self, version: str) -> None:
        auth = request.authorization
        valid = (auth is not None and auth.type == "basic" and auth.username == self.state.username
                 and auth.password == self.state.password)
        if not valid:
            raise api_error(401, "Invalid user ID or password.")
        api_key = request.headers.get("x-api-key") or request.args.get("api-key")
        if version == "v2" and api_key != self.state.api_key:
            raise api_error(401, "The API key is missing or not valid.")

    def _company(self, version: str, path_company: str | None) -> str:
        company = path_company if version == "v2" else self._call_settings_company()
        if company != self.state.company:
            raise business_error(f"Company {company} is not valid.", "Company", "Company")
        return company

    def _call_settings_company(self) -> str:
        header = request.headers.get("CallSettings")
        if not header:
            return self.state.company
        settings = json_object(header, "The CallSettings header")
        return settings.get("Company") or self.state.company

    def _base_url(self, version: str, path_company: str | None, service: str) -> str:
        root = f"{request.host_url}{self.instance}/api"
        if version == "v2":
            return f"{root}/v2/odata/{path_company}/{service}"
        return f"{root}/v1/{service}"

    def _entity_set(self, service: str, path: ResourcePath) -> EntitySet:
        if not is_known_service(service):
            raise api_error(404, f"Service {service} was not found.")
        entity_set = find_entity_set(service, path.set_name)
        if entity_set is None:
            raise api_error(404, f"Entity set or method '{path.set_name}' was not found in "
                                 f"service {service}.")
        if path.child is not None and path.child not in entity_set.children:
            raise api_error(404, f"Navigation property '{path.child}' was not found on "
                                 f"{entity_set.name}.")
        return entity_set

    def _dispatch(self, target: Target, entity_set: EntitySet, path: ResourcePath) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        if method == "GET":
            return self._get(target, entity_set, path)
        if method == "POST" and not path.has_key and not entity_set.read_only:
            return self._post(target, entity_set)
        if method == "PATCH" and path.has_key and path.child is None and not entity_set.read_only:
            return self._patch(entity_set, path)
        raise api_error(405, f"{request.method} is not allowed on this resource.")

    def _get(self, target: Target, entity_set: EntitySet, path: ResourcePath) -> Response:
        if path.child is not None:
            return self._children(target, entity_set, path)
        if path.has_key:
            return self._single(target, entity_set, path)
        options = parse_options(request.args.to_dict(), entity_set)
        equalities = required_equalities(options.predicate) if options.predicate is not None else []
        with self.state.store.transaction() as txn:
            rows = txn.matching(entity_set.name, equalities)
        return self._list(target, entity_set, rows, options)

    def _single(self, target: Target, entity_set: EntitySet, path: ResourcePath) -> Response:
        key = resolve_key(entity_set, path)
        with self.state.store.transaction() as txn:
            row = txn.get(entity_set.name, key)
        if row is None:
            raise not_found_error(entity_set.table)
        context = f"{target.base}/$metadata#{entity_set.name}/$entity"
        return json_response({target.context_key: context, **row})

    def _children(self, target: Target, parent_set: EntitySet, path: ResourcePath) -> Response:
        key = resolve_key(parent_set, path)
        child_set = ENTITY_SETS[path.child]
        with self.state.store.transaction() as txn:
            if txn.get(parent_set.name, key) is None:
                raise not_found_error(parent_set.table)
            rows = txn.matching(child_set.name, list(zip(parent_set.keys, key)))
        return self._list(target, child_set, rows, parse_options(request.args.to_dict(), child_set))

    def _list(self, target: Target, entity_set: EntitySet, rows: list[dict], options: QueryOptions) -> Response:
        page, total = apply_options(rows, options)
        selected = f"({','.join(options.select)})" if options.select else ""
        body = {target.context_key: f"{target.base}/$metadata#{entity_set.name}{selected}"}
        if options.count:
            body["@odata.count" if target.version == "v2" else "odata.count"] = total
        body["value"] = page
        return json_response(body)

    def _post(self, target: Target, entity_set: EntitySet) -> Response:
        sent = parse_body(self._json_body(), entity_set)
        with self.state.store.transaction() as txn:
            row = create_row(txn, self.state.write_context(), entity_set, sent)
        self.state.events.row_created(entity_set.name, row)
        delay = self.state.faults.draw_commit_timeout(entity_set.name)
        if delay:
            time.sleep(delay)
        context = f"{target.base}/$metadata#{entity_set.name}/$entity"
        return json_response({target.context_key: context, **row}, 201)

    def _patch(self, entity_set: EntitySet, path: ResourcePath) -> Response:
        key = resolve_key(entity_set, path)
        sent = parse_body(self._json_body(), entity_set)
        with self.state.store.transaction() as txn:
            before = txn.get(entity_set.name, key)
            update_row(txn, self.state.write_context(), entity_set, key, sent)
            after = txn.get(entity_set.name, key)
        self.state.events.row_updated(entity_set.name, before, after)
        return no_content()

    def _json_body(self) -> bytes:
        if request.mimetype != "application/json":
            raise api_error(415, "The request content type must be application/json.")
        return request.get_data()
