"""Mapping versions: a draft is published only when valid, two publishes from one base cannot both win,
any version can be restored as a new one, a worker builds with what is published (re-reading it only when
the counter moved) and notes the versions on the event; a preview shows what would be posted."""

import json

import pytest

from history import recorder
from tasks.mapping import engine, shapes, versions
from tasks.mapping.preview import PreviewRefused, preview
from tasks.mapping_cli import main as mapping_cli
from tests.fixtures import MAPPINGS_DIR

FLOW = "order_to_cash"
SHIPPED_ORDER = (MAPPINGS_DIR / "documents" / FLOW / "sales_order.yaml").read_text(encoding="utf-8")
DESCRIPTION_AS_PO = SHIPPED_ORDER.replace("PONum: {from: charge.id}", "PONum: {from: charge.description}")
MISTYPED = SHIPPED_ORDER.replace("PONum: {from: charge.id}", "PONumber: {from: charge.id}").replace(
    "OrderComment: {from: order_comment}", "OrderComment: {from: charge.descriptio}")


def publish(text, base_version, comment="PO number from the charge description", who="admin-test"):
    return versions.publish(FLOW, "sales_order", text, who=who, comment=comment, mappings_dir=MAPPINGS_DIR,
                            base_version=base_version)


def order_of(documents):
    return next(document for document in documents if document["kind"] == "sales_order")


def sample():
    return shapes.sample_objects(FLOW)[0]


def test_the_shipped_file_is_version_1_until_a_version_is_published(published):
    assert versions.current(FLOW, "sales_order", MAPPINGS_DIR).version == 1
    made = publish(DESCRIPTION_AS_PO, base_version=1)
    assert (made.version, made.who, made.comment) == (2, "admin-test", "PO number from the charge description")
    assert "-    PONum: {from: charge.id}" in made.diff and "+    PONum: {from: charge.description}" in made.diff
    assert versions.current(FLOW, "sales_order", MAPPINGS_DIR).text == DESCRIPTION_AS_PO
    listed = next(entry for entry in versions.catalogue(MAPPINGS_DIR) if entry["document"] == "sales_order")
    assert listed["current"] == 2 and [v["version"] for v in listed["versions"]] == [1, 2]


def test_a_worker_builds_with_the_published_version_from_its_next_event(published):
    assert order_of(engine.build_documents(FLOW, sample(), MAPPINGS_DIR))["header"]["PONum"] == sample()["charge"]["id"]
    publish(DESCRIPTION_AS_PO, base_version=1)
    built = order_of(engine.build_documents(FLOW, sample(), MAPPINGS_DIR))
    assert built["header"]["PONum"] == "Order 1042 from the web shop"


def test_a_worker_reads_the_texts_again_only_when_the_counter_moved(published):
    publish(DESCRIPTION_AS_PO, base_version=1)
    first = versions.published_for(FLOW)
    assert all(versions.published_for(FLOW) is first for _ in range(3))  # same counter: nothing re-read
    publish(SHIPPED_ORDER.replace("PONum: {from: charge.id}", "PONum: {from: payment_key}"), base_version=2)
    again = versions.published_for(FLOW)
    assert again is not first and "PONum: {from: payment_key}" in again["sales_order"]


def test_the_versions_an_event_is_built_with_are_noted_for_its_stage_to_write(published):
    publish(DESCRIPTION_AS_PO, base_version=1)
    with recorder.working_on("evt_built"):
        engine.build_documents(FLOW, sample(), MAPPINGS_DIR)
        noted = recorder.noted()
    assert noted == {"mapping_version": {**versions.base_versions(FLOW), "sales_order": 2}}
    assert not published.exists("sec:event:evt_built")  # nothing written by the build itself
    assert recorder.noted() == {}  # outside the stage: nothing kept


def test_a_refused_draft_names_file_line_and_field_and_is_not_published(published):
    with pytest.raises(engine.MappingFileError) as refused:
        publish(MISTYPED, base_version=1)
    shown = [str(problem) for problem in refused.value.problems]
    line = MISTYPED.splitlines().index("    PONumber: {from: charge.id}") + 1
    assert any(text.startswith(f"documents/{FLOW}/sales_order.yaml:{line}: header.PONumber:") for text in shown)
    assert any(text.startswith(f"documents/{FLOW}/sales_order.yaml:{line + 1}: header.OrderComment.from:")
               and "did you mean charge.description" in text for text in shown)
    assert versions.current(FLOW, "sales_order", MAPPINGS_DIR).version == 1
    assert not published.exists(versions.flow_key(FLOW))


def test_a_second_publish_from_the_same_base_is_refused_as_stale(published):
    publish(DESCRIPTION_AS_PO, base_version=1, who="first")
    with pytest.raises(versions.StaleVersion) as stale:
        publish(SHIPPED_ORDER.replace("PONum: {from: charge.id}", "PONum: {from: payment_key}"), base_version=1,
                who="second")
    assert stale.value.current == 2 and "version 2 was published meanwhile" in stale.value.message
    assert versions.current(FLOW, "sales_order", MAPPINGS_DIR).who == "first"


def test_a_publish_needs_a_comment_and_a_change(published):
    with pytest.raises(versions.MappingError, match="comment is required"):
        publish(DESCRIPTION_AS_PO, base_version=1, comment="  ")
    with pytest.raises(versions.NothingToPublish):
        publish(SHIPPED_ORDER, base_version=1)


def test_an_earlier_version_is_restored_as_a_new_version(published):
    publish(DESCRIPTION_AS_PO, base_version=1)
    restored = versions.restore(FLOW, "sales_order", 1, who="admin-test", comment="back to the charge id",
                                mappings_dir=MAPPINGS_DIR)
    assert restored.version == 3 and restored.text == SHIPPED_ORDER
    assert restored.comment == "restore of version 1: back to the charge id"
    assert [v.version for v in versions.history_of(FLOW, "sales_order", MAPPINGS_DIR)] == [1, 2, 3]
    assert order_of(engine.build_documents(FLOW, sample(), MAPPINGS_DIR))["header"]["PONum"] == sample()["charge"]["id"]
    with pytest.raises(versions.MappingError, match="no version 9"):
        versions.restore(FLOW, "sales_order", 9, who="admin-test", comment="x", mappings_dir=MAPPINGS_DIR)


def test_publishing_records_the_change_with_its_diff_in_the_history(published):
    publish(DESCRIPTION_AS_PO, base_version=1)
    records = [json.loads(fields["r"]) for _, fields in published.xrange(recorder.STREAM)]
    change = next(record for record in records if record["kind"] == "mapping_change")
    assert (change["who"], change["mapping"], change["version"]) == ("admin-test", f"{FLOW}/sales_order", "2")
    assert change["content"] == DESCRIPTION_AS_PO and "+    PONum: {from: charge.description}" in change["diff"]


# -- preview ---------------------------------------------------------------------------------------------
def stored_event(client, event_id="evt_preview", fetched=None):
    client.hset(f"sec:event:{event_id}", mapping={"flow": FLOW, "type": "charge.succeeded", "state": "done"})
    client.set(f"sec:stage:{event_id}:transform", json.dumps(fetched or sample()))
    return event_id


def test_a_preview_of_an_event_builds_its_stored_objects_with_placeholders_and_writes_nothing(published):
    event_id = stored_event(published)
    before = {key: published.type(key) for key in published.keys("*")}
    shown = preview(None, event_id=event_id, mappings_dir=MAPPINGS_DIR)
    assert shown.source == "stage_input" and shown.errors == []
    assert shown.documents == [dict(d) for d in engine.build_documents(FLOW, sample(), MAPPINGS_DIR, texts={})]
    assert order_of(shown.documents)["header"]["CustNum"] == "{{CustNum}}"
    assert {key: published.type(key) for key in published.keys("*")} == before


def test_a_preview_with_a_draft_shows_the_change_and_a_bad_draft_shows_every_error(published):
    event_id = stored_event(published)
    shown = preview(FLOW, event_id=event_id, drafts={"sales_order": DESCRIPTION_AS_PO}, mappings_dir=MAPPINGS_DIR)
    assert shown.versions["sales_order"] == "draft" and shown.versions["customer"] == 1
    assert order_of(shown.documents)["header"]["PONum"] == "Order 1042 from the web shop"
    bad = preview(FLOW, event_id=event_id, drafts={"sales_order": MISTYPED}, mappings_dir=MAPPINGS_DIR)
    assert bad.documents == [] and len(bad.errors) >= 2
    assert all(error.startswith(f"documents/{FLOW}/sales_order.yaml:") for error in bad.errors)


def test_a_preview_refuses_what_it_cannot_build_without_failing(published):
    with pytest.raises(PreviewRefused, match="never received"):
        preview(None, event_id="evt_nobody", mappings_dir=MAPPINGS_DIR)
    with pytest.raises(PreviewRefused, match="flow must be one of"):
        preview("no_such_flow", mappings_dir=MAPPINGS_DIR)
    broken = preview(FLOW, sample={"charge": 5}, mappings_dir=MAPPINGS_DIR)
    assert broken.documents == [] and broken.errors


def test_the_cli_previews_an_event_and_exits_1_on_a_bad_draft(published, tmp_path):
    from click.testing import CliRunner

    event_id = stored_event(published)
    shown = CliRunner().invoke(mapping_cli, ["preview", event_id, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["documents"][0]["kind"] == "customer"
    draft = tmp_path / "sales_order.yaml"
    draft.write_text(MISTYPED, encoding="utf-8")
    refused = CliRunner().invoke(mapping_cli, ["preview", event_id, "--draft", str(draft)])
    assert refused.exit_code == 1 and "sales_order.yaml:" in refused.output


def test_facts_noted_in_a_stage_are_written_by_its_closing_round_trip(published):
    from tasks.base import PipelineTask

    publish(DESCRIPTION_AS_PO, base_version=1)
    event = {"id": "evt_noted", "flow": FLOW, "type": "charge.succeeded"}
    with recorder.working_on("evt_noted"):
        output = {"documents": engine.build_documents(FLOW, sample(), MAPPINGS_DIR)}
        PipelineTask._advance(PipelineTask(), "transform", event, output)  # the stage's own round trip
    versions_built = {**versions.base_versions(FLOW), "sales_order": 2}
    assert json.loads(published.hget("sec:event:evt_noted", "mapping_version")) == versions_built
    assert published.exists("sec:stage:evt_noted:validate")
    records = [json.loads(fields["r"]) for _, fields in published.xrange(recorder.STREAM)]
    assert {"kind": "event", "id": "evt_noted", "mapping_version": versions_built}.items() <= records[-1].items()
