"""The mapping designer (``/console/mappings``): edit a document mapping beside a real event, publish it.

An administrator who knows Epicor and Stripe's dashboard, not YAML, chooses a flow and a document, drags
a source field (with its value in a real recent event of the flow) onto an Epicor target field, or picks
it with the keyboard, chooses transforms from the registry with their help, and sees the row's value and
the whole Epicor document change at once; then reviews the diff against the live version and publishes it
with a comment, or restores an earlier version. The page is a shell: ``static/designer.js`` does the
work through ``/api/designer`` (this page's model, samples, sources) and ``/api/mappings`` (preview,
publish, restore), so every check an API client meets applies to the page too.

Integration pairs (``tasks.pairs``): each pair has its own mappings. The page edits one pair's (``?pair=``,
default: the default pair; a select offers the others only when the deployment has more than one), and the
script sends that pair with every call, so what is loaded, previewed and published is that pair's.

Only an ``admin`` may open it (a viewer or operator gets the forbidden page): a published mapping decides
what every following payment posts, and the samples show customers' data.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from app.api import pair_names
from app.auth import require_role
from app.console import bp
from tasks import pairs
from tasks.api import MappingRefused, QueueUnavailable, mapping_catalogue


def _documents() -> tuple[dict[str, list[str]], str | None]:
    """Each flow's documents, in posting order, or why they cannot be listed."""
    try:
        listed = mapping_catalogue()
    except (QueueUnavailable, MappingRefused):
        return {}, "The mapping store (Redis) cannot be read right now; try again shortly."
    flows: dict[str, list[str]] = {}
    for entry in listed:
        flows.setdefault(entry["flow"], []).append(entry["document"])
    return flows, None


@bp.get("/mappings")
@require_role("admin")
def mappings() -> tuple[str, int]:
    names = pair_names()
    pair = request.args.get("pair", "")
    pair = pair if pair in names else pairs.DEFAULT  # an unknown pair shows the default pair's, never another's
    with pairs.working_for(pair):
        flows, problem = _documents()
    flow = request.args.get("flow", "")
    flow = flow if flow in flows else next(iter(flows), "")
    document = request.args.get("document", "")
    document = document if document in flows.get(flow, []) else next(iter(flows.get(flow, [])), "")
    chosen: dict[str, Any] = {"flow": flow, "document": document, "event_id": request.args.get("event_id", "")[:255],
                              "pair": pair}
    return render_template("console/mappings.html", flows=flows, chosen=chosen, problem=problem, pairs=names), 200
