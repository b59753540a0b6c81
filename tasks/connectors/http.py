"""HTTP sessions for connectors that each talk to one host: settle the environment once, not per call.

A plain ``requests.Session`` re-reads the environment on every call (proxy variables with
``NO_PROXY``, the CA bundle variables, ``~/.netrc``) and re-merges its own headers, cookies, params
and settings into a fresh request, which together cost more CPU than the rest of a call. Each of our
connectors talks to a single base URL, so ``PinnedSession`` resolves what the environment says for
that URL once, when it is made, and switches ``trust_env`` off; its ``request`` then builds the
prepared request directly from those fixed settings. What goes on the wire is what
``Session.request`` would send; calls using anything beyond URL, params, body and headers (auth,
cookies, files, json, hooks) take the stock path.

Every request is measured here, once for both connectors (``telemetry.metrics.api_request``): its
system, the service or resource it addresses (never an id), method, outcome (status class, or
``timeout`` / ``connection`` / ``error``), duration and integration pair (``tasks.pairs.current``: the
stage's event's pair, or the pair a periodic job works for). Each HTTP attempt counts, retries included.

Consequences: a change to ``HTTPS_PROXY``/``NO_PROXY``/``REQUESTS_CA_BUNDLE`` takes effect when the
worker restarts (sessions are made per thread, at first use), and credentials come from our settings
only, never from ``~/.netrc``.
"""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies

from tasks import pairs
from telemetry import metrics


def tls_verification(verify: bool) -> bool | str:
    """What ``Session.verify`` should be: off when our settings say so, else the environment's CA bundle.

    requests reads ``REQUESTS_CA_BUNDLE`` then ``CURL_CA_BUNDLE``; without either, its own default
    (certifi). An explicit opt-out in our settings wins over a bundle variable.
    """
    if not verify:
        return False
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


class PinnedSession(requests.Session):
    """A ``requests.Session`` for one base URL, its proxies and CA bundle taken from the environment now."""

    def __init__(self, base_url: str, *, verify: bool = True, system: str = "other") -> None:
        super().__init__()
        self.system = system  # the metrics' ``system`` label: "epicor" or "stripe"
        self.proxies.update(get_environ_proxies(base_url))
        self.verify = tls_verification(verify)
        self.trust_env = False

    def request(  # type: ignore[override]  # same parameters as Session.request, loosely typed
        self, method: str, url: Any, params: Any = None, data: Any = None, headers: Any = None,
        cookies: Any = None, files: Any = None, auth: Any = None, timeout: Any = None,
        allow_redirects: bool = True, proxies: Any = None, hooks: Any = None, stream: Any = None,
        verify: Any = None, cert: Any = None, json: Any = None,
    ) -> requests.Response:
        started = time.perf_counter()
        path = urlsplit(url).path if isinstance(url, str) else ""
        try:
            response = self._request(method, url, params=params, data=data, headers=headers, cookies=cookies,
                                     files=files, auth=auth, timeout=timeout, allow_redirects=allow_redirects,
                                     proxies=proxies, hooks=hooks, stream=stream, verify=verify, cert=cert, json=json)
        except requests.RequestException as exc:
            metrics.api_request(self.system, method, path, _error_outcome(exc), time.perf_counter() - started,
                                pairs.current.get())
            raise
        metrics.api_request(self.system, method, path, metrics.status_outcome(response.status_code),
                            time.perf_counter() - started, pairs.current.get())
        return response

    def _request(
        self, method: str, url: Any, *, params: Any, data: Any, headers: Any, cookies: Any, files: Any, auth: Any,
        timeout: Any, allow_redirects: bool, proxies: Any, hooks: Any, stream: Any, verify: Any, cert: Any, json: Any,
    ) -> requests.Response:
        if (cookies or files or auth or hooks or json is not None or self.auth or self.params
                or self.trust_env or not isinstance(url, str)):
            return super().request(method, url, params=params, data=data, headers=headers, cookies=cookies,
                                   files=files, auth=auth, timeout=timeout, allow_redirects=allow_redirects,
                                   proxies=proxies, hooks=hooks, stream=stream, verify=verify, cert=cert, json=json)
        prepared = requests.PreparedRequest()
        prepared.prepare(method=method.upper(), url=url, params=params or None, data=data or None,
                         headers=self._headers_with(headers), cookies=self.cookies, hooks=self.hooks)
        return self.send(
            prepared, timeout=timeout, allow_redirects=allow_redirects, proxies=self._proxies_with(proxies),
            stream=self.stream if stream is None else stream, verify=self.verify if verify is None else verify,
            cert=self.cert if cert is None else cert,
        )

    def _headers_with(self, headers: Any) -> Any:
        """The session's headers, overridden by the call's; a ``None`` value drops one (as requests does)."""
        if not headers:
            return self.headers
        merged: CaseInsensitiveDict[Any] = CaseInsensitiveDict(self.headers)
        merged.update(headers)
        return {name: value for name, value in merged.items() if value is not None}

    def _proxies_with(self, proxies: Any) -> dict[str, str]:
        merged = {**(self.proxies or {}), **(proxies or {})}
        return {scheme: url for scheme, url in merged.items() if url is not None}


def _error_outcome(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timeout"
    return "connection" if isinstance(exc, requests.ConnectionError) else "error"
