"""Mappings and lookup tables per integration pair (issue 16 point 4): a version published for one pair
changes nothing another pair builds; each pair's version 1 is its own mappings directory; a stage reads the
serials of its event's pair with its first round trip; the history record names the pair; a preview of
another pair's event is refused; ``mapping check --pair`` checks the pair's directory."""

from __future__ import annotations

import shutil
import textwrap

import pytest
from click.testing import CliRunner

from history import recorder
from tasks import pairs, published, store
from tasks.mapping import engine, shapes, table_rows, table_versions, tables, versions
from tasks.mapping.preview import PreviewRefused, preview
from tasks.mapping_cli import main as mapping_cli
from tests.fixtures import EMEA_PAIRS_FILE, MAPPINGS_DIR

FLOW = "order_to_cash"
ORDER = (MAPPINGS_DIR / "documents" / FLOW / "sales_order.yaml").read_text(encoding="utf-8")
DESCRIPTION_AS_PO = ORDER.replace("PONum: {from: charge.id}", "PONum: {from: charge.description}")
PARTS = (MAPPINGS_DIR / "parts.yaml").read_text(encoding="utf-8")
PAIRS = EMEA_PAIRS_FILE


@pytest.fixture()
def emea_dir(tmp_path):
    """Pair emea's own mappings directory: the shipped one with its own default part and order comment."""
    directory = tmp_path / "mappings-emea"
    shutil.copytree(MAPPINGS_DIR, directory)
    (directory / "parts.yaml").write_text(PARTS.replace(_default_part(PARTS), "EMEA-PART"), encoding="utf-8")
    site = directory / "documents" / FLOW / "sales_order.yaml"
    site.write_text(ORDER.replace("PONum: {from: charge.id}", "PONum: {from: payment_key}"), encoding="utf-8")
    return directory


@pytest.fixture()
def two_pairs(fake_redis, monkeypatch, tmp_path, emea_dir):
    """The default pair (the environment, the shipped mappings) and emea (PAIRS_FILE, its own directory),
    with a worker's readers of what is published installed."""
    from tasks.settings import get_settings

    for name, value in {"MAPPINGS_DIR": str(MAPPINGS_DIR), "EMEA_STRIPE_KEY": "sk_test_emea",
                        "EMEA_STRIPE_WHSEC": "whsec_emea", "EMEA_EPICOR_USER": "emea-user",
                        "EMEA_EPICOR_PASSWORD": "emea-pw"}.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "pairs.yaml"
    path.write_text(textwrap.dedent(PAIRS.format(directory=emea_dir)), encoding="utf-8")
    monkeypatch.setenv("PAIRS_FILE", str(path))
    get_settings.cache_clear()
    pairs.get_pairs.cache_clear()
    versions.forget()
    table_versions.forget()
    monkeypatch.setattr(engine, "published_source", versions.published_for)
    monkeypatch.setattr(tables, "published_source", table_versions.published_tables)
    monkeypatch.setattr(table_versions, "READ_EVERY", 0.0)  # outside a stage: read the serial every time
    yield fake_redis
    versions.forget()
    table_versions.forget()
    get_settings.cache_clear()
    pairs.get_pairs.cache_clear()


def _default_part(text: str) -> str:
    return next(row["value"] for row in table_rows.rows_of(text) if row["key"] == "default_part")


def order_header(mappings_dir) -> dict:
    built = engine.build_documents(FLOW, shapes.sample_objects(FLOW)[0], mappings_dir)
    return next(document for document in built if document["kind"] == "sales_order")["header"]


def publish_order(text: str, base: int) -> versions.Version:
    return versions.publish(FLOW, "sales_order", text, who="admin", comment="per pair",
                            mappings_dir=versions.pair_mappings_dir(), base_version=base)


def publish_default_part(part: str) -> None:
    now = table_versions.current("parts.yaml", versions.pair_mappings_dir())
    rows = [row for row in table_rows.rows_of(now.text) if row["key"] != "default_part"]
    text = table_rows.text_of([*rows, {"key": "default_part", "value": part}], now.text)
    table_versions.publish("parts.yaml", text, who="admin", comment="per pair",
                           mappings_dir=versions.pair_mappings_dir(), base_version=now.version)


def test_version_1_of_each_pair_is_its_own_mappings_directory(two_pairs, emea_dir):
    assert versions.pair_mappings_dir() == MAPPINGS_DIR
    assert versions.current(FLOW, "sales_order", versions.pair_mappings_dir()).text == ORDER
    with pairs.working_for("emea"):
        assert versions.pair_mappings_dir() == emea_dir
        base = versions.current(FLOW, "sales_order", versions.pair_mappings_dir())
        assert base.version == 1 and "PONum: {from: payment_key}" in base.text
        assert _default_part(table_versions.current("parts.yaml", versions.pair_mappings_dir()).text) == "EMEA-PART"
    assert _default_part(table_versions.current("parts.yaml", MAPPINGS_DIR).text) == _default_part(PARTS)


def test_a_mapping_published_for_one_pair_changes_nothing_the_other_builds(two_pairs, emea_dir):
    sample = shapes.sample_objects(FLOW)[0]
    with pairs.working_for("emea"):
        emea_base = versions.current(FLOW, "sales_order", emea_dir)
        made = publish_order(emea_base.text.replace("PONum: {from: payment_key}",
                                                    "PONum: {from: charge.description}"), base=1)
        assert made.version == 2
        assert order_header(emea_dir)["PONum"] == sample["charge"]["description"]
    assert order_header(MAPPINGS_DIR)["PONum"] == sample["charge"]["id"]  # the default pair: still the file
    assert versions.current(FLOW, "sales_order", MAPPINGS_DIR).version == 1
    assert [v.version for v in versions.history_of(FLOW, "sales_order", MAPPINGS_DIR)] == [1]
    made = publish_order(ORDER.replace("PONum: {from: charge.id}", "PONum: {from: order_comment}"), base=1)
    assert made.version == 2  # the default pair's own numbering, not emea's
    with pairs.working_for("emea"):
        assert order_header(emea_dir)["PONum"] == sample["charge"]["description"]


def test_a_table_published_for_one_pair_changes_nothing_the_other_builds(two_pairs):
    shipped = _default_part(PARTS)
    with pairs.working_for("emea"):
        publish_default_part("EMEA-NEW")
        assert tables.current_mappings(MAPPINGS_DIR).default_part == "EMEA-NEW"  # same directory, other pair
    assert tables.current_mappings(MAPPINGS_DIR).default_part == shipped
    publish_default_part("HOME-NEW")
    assert tables.current_mappings(MAPPINGS_DIR).default_part == "HOME-NEW"
    with pairs.working_for("emea"):
        assert tables.current_mappings(MAPPINGS_DIR).default_part == "EMEA-NEW"
        assert tables.published_text("parts.yaml") is not None and "EMEA-NEW" in tables.published_text("parts.yaml")


def test_a_stage_reads_the_serials_of_its_events_pair_and_as_many_keys_for_every_pair(two_pairs):
    assert published.keys_for(FLOW) == ["sec:tables", f"sec:mappings:{FLOW}"]  # the default pair: as ever
    with pairs.working_for("emea"):
        assert published.keys_for(FLOW) == ["sec:pair:emea:tables", f"sec:pair:emea:mappings:{FLOW}"]
        publish_order(DESCRIPTION_AS_PO, base=None)  # emea's base differs: any version may follow
        store.record_event({"id": "emea:evt_p", "type": "charge.succeeded", "source": "stripe", "flow": FLOW,
                            "object_id": "ch_p", "pair": "emea"})
        begun = store.begin_stage("emea:evt_p", "transform", 1, published.keys_for(FLOW))
    assert begun is not None and begun[2] == {"sec:pair:emea:tables": "0", f"sec:pair:emea:mappings:{FLOW}": "1"}
    store.record_event({"id": "evt_p", "type": "charge.succeeded", "source": "stripe", "flow": FLOW,
                        "object_id": "ch_p"})
    begun = store.begin_stage("evt_p", "transform", 1, published.keys_for(FLOW))
    assert begun is not None and begun[2] == {"sec:tables": "0", f"sec:mappings:{FLOW}": "0"}


def test_the_history_record_of_a_change_names_its_pair(two_pairs, monkeypatch):
    records: list[tuple[str, dict]] = []
    monkeypatch.setattr(recorder, "record", lambda kind, **fields: records.append((kind, fields)) or True)
    with pairs.working_for("emea"):
        publish_order(DESCRIPTION_AS_PO, base=None)
        publish_default_part("EMEA-NEW")
    publish_order(DESCRIPTION_AS_PO, base=1)
    assert [(kind, fields["mapping"], fields["pair"]) for kind, fields in records] == [
        ("mapping_change", f"emea:{FLOW}/sales_order", "emea"),
        ("mapping_change", "emea:tables/parts.yaml", "emea"),
        ("mapping_change", f"{FLOW}/sales_order", "default")]


def test_a_preview_of_another_pairs_event_is_refused_naming_its_pair(two_pairs, emea_dir):
    import json

    two_pairs.hset("sec:event:emea:evt_v", mapping={"flow": FLOW, "type": "charge.succeeded", "pair": "emea"})
    two_pairs.set("sec:stage:emea:evt_v:transform", json.dumps(shapes.sample_objects(FLOW)[0]))
    with pytest.raises(PreviewRefused, match="is of pair emea, not default"):
        preview(None, event_id="emea:evt_v", mappings_dir=MAPPINGS_DIR)
    with pairs.working_for("emea"):
        shown = preview(None, event_id="emea:evt_v", mappings_dir=emea_dir)
    order = next(document for document in shown.documents if document["kind"] == "sales_order")
    assert not shown.errors and order["header"]["PONum"].startswith("pi_")  # emea's base: the payment key


def test_mapping_check_with_a_pair_checks_that_pairs_directory(two_pairs, emea_dir):
    site = emea_dir / "documents" / FLOW / "sales_order.yaml"
    site.write_text(ORDER.replace("PONum: {from: charge.id}", "PONumber: {from: charge.id}"), encoding="utf-8")
    refused = CliRunner().invoke(mapping_cli, ["check", "--pair", "emea"])
    assert refused.exit_code == 1 and "header.PONumber" in refused.output and str(emea_dir) in refused.output
    assert CliRunner().invoke(mapping_cli, ["check"]).exit_code == 0  # the default pair's directory is fine
    unknown = CliRunner().invoke(mapping_cli, ["check", "--pair", "apac"])
    assert unknown.exit_code == 2 and "apac" in unknown.output
