"""Mapping files changed on disk are recorded in the history once, when a worker starts."""

from __future__ import annotations

from history import drainer, mapping_files, queries
from tests.unit.test_history_store import history_db  # noqa: F401 - the fixture


def start_worker(directory, fake_redis) -> int:
    recorded = mapping_files.note_changes(directory, fake_redis)
    while drainer.drain() > 0:
        pass
    return recorded


def test_each_change_of_a_mapping_file_is_recorded_once(tmp_path, fake_redis, history_db):  # noqa: F811
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "parts.yaml").write_text("products: {}\n")
    (mappings / "defaults.yaml").write_text("bank_account: MAIN\n")
    assert start_worker(mappings, fake_redis) == 2
    assert start_worker(mappings, fake_redis) == 0  # a restart with nothing changed records nothing

    (mappings / "parts.yaml").write_text("products: {prod_1: WIDGET}\n")
    (mappings / "defaults.yaml").unlink()
    assert start_worker(mappings, fake_redis) == 2

    changes = queries.mapping_changes()
    assert sorted(c["comment"] for c in changes if c["mapping"] == "parts.yaml") == ["file changed on disk",
                                                                                     "first seen"]
    assert {c["comment"] for c in changes if c["mapping"] == "defaults.yaml"} == {"first seen", "file removed"}
    assert all(c["who"].startswith("mapping file on ") and c["at"].endswith("+00:00") for c in changes)


def test_a_redis_failure_never_stops_the_start(tmp_path):
    class Away:
        def hgetall(self, _key):
            raise ConnectionError("redis away")

    assert mapping_files.note_changes(tmp_path, Away()) == 0
