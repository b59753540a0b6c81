"""Document dates are the company's calendar day, sent as local midnight."""

import pytest

from tasks.errors import MappingError
from tasks.mapping.dates import epicor_date, group_id

EVENING_IN_CALIFORNIA = 1772676900  # 2026-03-05T02:15:00Z


def test_utc_date():
    assert epicor_date(EVENING_IN_CALIFORNIA, "UTC") == "2026-03-05T00:00:00"


def test_utc_time_is_previous_day_in_los_angeles():
    assert epicor_date(EVENING_IN_CALIFORNIA, "America/Los_Angeles") == "2026-03-04T00:00:00"


def test_east_of_utc_can_be_the_next_day():
    assert epicor_date(1772649000, "Asia/Kuwait") == "2026-03-04T00:00:00"
    assert epicor_date(1772649000 + 6 * 3600, "Asia/Kuwait") == "2026-03-05T00:00:00"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd"])
def test_invalid_zone_is_a_mapping_error(zone):
    with pytest.raises(MappingError, match="IANA"):
        epicor_date(EVENING_IN_CALIFORNIA, zone)


def test_group_id_is_prefix_and_yymmdd():
    assert group_id("SC", "2026-03-04T00:00:00") == "SC260304"
