"""How a flow's transform builds the documents of one mapping directory, and how a preview's drafts get in.

Policy: a preview must show exactly what the flow would post, so it runs the flow's own transform, not the
engine on the event's raw fetch output (refunds and disputes call the engine once per refund or dispute
step, with inputs the transform shapes). The only difference a preview may make is *which mapping texts*
are used: a worker builds with the published versions (``texts=None``: ``tasks.mapping.versions``); a
preview puts its texts by directory (published versions with its drafts in place) on the context it hands
the transform, as ``mapping_texts``. Nothing else about the build changes, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tasks.mapping.engine import build_documents

if TYPE_CHECKING:
    from tasks.context import Context
    from tasks.documents import Document


def documents_for(ctx: Context, directory: str, scope: Mapping[str, Any]) -> list[Document]:
    """The documents of ``mappings/documents/<directory>`` for ``scope``, with the texts the context asks for."""
    # A worker's Context (and a test's plain namespace) carries no texts: the published versions are used.
    texts: Mapping[str, Mapping[str, str]] | None = getattr(ctx, "mapping_texts", None)
    return build_documents(directory, scope, ctx.settings.mappings_dir, ctx.mappings,
                           texts=texts.get(directory) if texts is not None else None)
