"""Every API answers times as google.protobuf.Timestamp: the conversion must name the same instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from google.protobuf import timestamp_pb2
from hypothesis import given
from hypothesis import strategies as st

from services.runtime.resources import from_timestamp, to_timestamp

OFFSETS = st.builds(lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60 - 59, 23 * 60 + 59))
# Whole UTC days away from the range's ends, so that an offset cannot carry a moment outside it.
MOMENTS = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=OFFSETS)


@given(MOMENTS)
def test_a_moment_becomes_the_timestamp_of_the_same_instant_and_back(moment):
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(moment.astimezone(UTC))
    stamp = to_timestamp(moment)
    assert stamp == expected
    assert from_timestamp(stamp) == moment


def test_a_moment_before_the_epoch_keeps_its_fraction_of_a_second():
    stamp = to_timestamp(datetime(1969, 12, 31, 23, 59, 59, 250_000, tzinfo=UTC))
    assert (stamp.seconds, stamp.nanos) == (-1, 250_000_000)
