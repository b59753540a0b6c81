"""An optional provider: an OpenAI-compatible endpoint the administrator sets may add suggestions.

Policy: never required, never trusted blindly. Only when ``ASSIST_PROVIDER_URL`` and
``ASSIST_PROVIDER_MODEL`` are set, one chat-completions call per request, with a short timeout, asking
for a JSON object ``{"<target>": ["<source>", …]}``. Only sources that were offered and targets that were
asked count; each becomes a low-weight candidate ("proposed by the configured provider") merged into the
offline ranking, never above it by itself. Any failure (timeout, HTTP error, a body that is not the JSON
asked for) is logged by its class and ignored: the offline suggestions stand. The key
(``ASSIST_PROVIDER_KEY`` or a file named by ``ASSIST_PROVIDER_KEY_FILE``) is sent only in the
Authorization header and never logged.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import requests

log = logging.getLogger(__name__)
TIMEOUT = (2.0, 4.0)  # connect, read: a suggestion waits for no slow model
WEIGHT = 0.45  # a provider's pick alone is a "low" suggestion; with the offline reasons it climbs
REASON = "proposed by the configured provider"


def configured() -> bool:
    return bool(os.environ.get("ASSIST_PROVIDER_URL") and os.environ.get("ASSIST_PROVIDER_MODEL"))


def _key() -> str | None:
    path = os.environ.get("ASSIST_PROVIDER_KEY_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            log.warning("assist provider key file not readable: %s", type(exc).__name__)
            return None
    return os.environ.get("ASSIST_PROVIDER_KEY") or None


def picks(sources: Sequence[str], targets: Sequence[str]) -> dict[str, list[str]]:
    """``{target: [source, …]}`` from the provider, only offered names; ``{}`` on any failure."""
    if not configured() or not sources or not targets:
        return {}
    try:
        answer = _ask(sources, targets)
    except (requests.RequestException, ValueError, KeyError, IndexError, TypeError) as exc:
        log.warning("assist provider ignored: %s", type(exc).__name__)
        return {}
    offered = set(sources)
    return {target: [source for source in found if source in offered][:3]
            for target, found in answer.items() if target in targets and isinstance(found, list)}


def _ask(sources: Sequence[str], targets: Sequence[str]) -> dict[str, list[str]]:
    url = os.environ["ASSIST_PROVIDER_URL"].rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json"}
    key = _key()
    if key:
        headers["Authorization"] = f"Bearer {key}"
    prompt = ("Map ERP target fields to source fields. Answer only a JSON object {target: [best sources]}.\n"
              f"Targets: {json.dumps(list(targets))}\nSources: {json.dumps(list(sources))}")
    response = requests.post(url, headers=headers, timeout=TIMEOUT, json={
        "model": os.environ["ASSIST_PROVIDER_MODEL"], "temperature": 0,
        "messages": [{"role": "user", "content": prompt}]})
    response.raise_for_status()
    content = response.json()["choices"][0]["message"]["content"]
    answer = json.loads(content)
    if not isinstance(answer, dict):
        raise ValueError("not an object")
    return answer
