"""Meter readings as copier billing needs them: rollovers, resets, rejects, duplicates, estimates."""

from __future__ import annotations

import grpc
import pytest
from fleetops.fleet.v1 import meters_pb2 as mpb

from tests.fleet.fleet_factory import Fleet, at, stamp
from tests.runtime.test_runtime_edge import rich_error

ACCEPTED, DUPLICATE, REJECTED = (mpb.READING_OUTCOME_ACCEPTED, mpb.READING_OUTCOME_DUPLICATE,
                                 mpb.READING_OUTCOME_REJECTED)


def test_usage_counts_across_a_rollover(fleet):
    f = Fleet(fleet.channel)
    printer = f.printer(rollover_at="10000000")
    result = f.read(printer, (at(1), "9999000"), (at(10), "9999900"), (at(20), "400"), (at(31), "1400"))
    assert [r.outcome for r in result.results] == [ACCEPTED] * 4
    assert [r.rollover for r in result.results] == [False, False, True, False]
    usage = f.usage(printer, at(1), at(31))
    # 9,999,000 -> 9,999,900 (900) -> wraps at 10,000,000 to 400 (100 + 400) -> 1,400 (1,000)
    assert usage.quantity == str(900 + 100 + 400 + 1000)
    assert usage.rollovers == 1
    assert usage.start.kind == usage.end.kind == mpb.ENDPOINT_KIND_ACTUAL


def test_usage_counts_across_a_recorded_reset(fleet):
    f = Fleet(fleet.channel)
    printer = f.printer()
    f.read(printer, (at(1), "50000"), (at(10), "52000"))
    f.stub.RecordMeterReset(mpb.RecordMeterResetRequest(reset=mpb.MeterReset(
        asset=printer.name, register="mono_impressions", reset_time=stamp(at(12)), value_before="52500",
        value_after="0", reason="controller board swapped")))
    result = f.read(printer, (at(20), "1200"), (at(31), "3000"))
    assert [r.outcome for r in result.results] == [ACCEPTED, ACCEPTED]
    usage = f.usage(printer, at(1), at(31))
    # 50,000 -> 52,000 -> 52,500 at the reset (2,500), then 0 -> 3,000 on the new board (3,000)
    assert usage.quantity == str(2500 + 3000)
    assert usage.resets == 1


def test_a_reset_of_one_register_leaves_the_others_alone(fleet):
    f = Fleet(fleet.channel)
    printer = f.printer()
    for register in ("mono_impressions", "colour_impressions"):
        f.read(printer, (at(1), "50000"), (at(10), "52000"), register=register)
    f.stub.RecordMeterReset(mpb.RecordMeterResetRequest(reset=mpb.MeterReset(
        asset=printer.name, register="mono_impressions", reset_time=stamp(at(12)), value_before="52500",
        value_after="0")))
    # colour goes on from 52,000; mono's new board starts at 0, so 1,200 there is no step back
    colour = f.read(printer, (at(20), "1200"), (at(31), "53000"), register="colour_impressions")
    assert [r.outcome for r in colour.results] == [REJECTED, ACCEPTED]
    assert "backwards from 52000 to 1200" in colour.results[0].reason
    mono = f.read(printer, (at(20), "1200"), (at(31), "3000"))
    assert [r.outcome for r in mono.results] == [ACCEPTED, ACCEPTED]
    colour_usage = f.usage(printer, at(1), at(31), register="colour_impressions")
    assert (colour_usage.quantity, colour_usage.resets) == ("3000", 0)
    mono_usage = f.usage(printer, at(1), at(31))
    assert (mono_usage.quantity, mono_usage.resets) == (str(2500 + 3000), 1)


def test_backward_reading_is_rejected_with_a_clear_reason(fleet):
    f = Fleet(fleet.channel)
    printer = f.printer()
    f.read(printer, (at(1), "120000"))
    result = f.read(printer, (at(2), "90000"), (at(3), "121000"))
    rejected, accepted = result.results
    assert rejected.outcome == REJECTED and accepted.outcome == ACCEPTED
    assert "backwards from 120000 to 90000" in rejected.reason
    assert rejected.field == "readings[0].value"
    assert (result.accepted_count, result.rejected_count) == (1, 1)
    assert f.usage(printer, at(1), at(3)).quantity == "1000"


def test_small_backward_jitter_is_tolerated_without_usage(fleet):
    f = Fleet(fleet.channel)
    printer = f.printer(jitter="5")
    result = f.read(printer, (at(1), "1000"), (at(2), "997"), (at(3), "1010"))
    assert [r.outcome for r in result.results] == [ACCEPTED] * 3
    assert f.usage(printer, at(1), at(3)).quantity == "10"
    assert f.read(printer, (at(4), "1000")).results[0].outcome == REJECTED  # 10 back is beyond 5


def test_late_reading_is_judged_against_both_neighbours(fleet):
    f = Fleet(fleet.channel)
    printer = f.printer()
    f.read(printer, (at(1), "1000"), (at(10), "2000"))
    too_high = f.read(printer, (at(5), "2500")).results[0]
    assert too_high.outcome == REJECTED and "later reading" in too_high.reason
    assert f.read(printer, (at(5), "1500")).results[0].outcome == ACCEPTED


def test_duplicate_reading_is_idempotent_and_conflict_is_rejected(fleet):
    f = Fleet(fleet.channel)
    printer = f.printer()
    assert f.read(printer, (at(1), "500")).results[0].outcome == ACCEPTED
    assert f.read(printer, (at(1), "500")).results[0].outcome == DUPLICATE
    conflict = f.read(printer, (at(1), "501")).results[0]
    assert conflict.outcome == REJECTED and "different value (500)" in conflict.reason
    listed = f.stub.ListMeterReadings(mpb.ListMeterReadingsRequest(asset=printer.name)).readings
    assert [r.value for r in listed] == ["500"]


def test_missing_end_read_is_estimated_from_trailing_average_and_flagged(fleet):
    f = Fleet(fleet.channel)
    printer = f.printer()
    f.read(printer, (at(1), "10000"), (at(11), "11000"), (at(21), "12000"))  # 100 pages a day
    usage = f.usage(printer, at(1), at(31))
    assert usage.start.kind == mpb.ENDPOINT_KIND_ACTUAL
    assert usage.end.kind == mpb.ENDPOINT_KIND_ESTIMATED
    assert usage.end.reading_time == stamp(at(21))
    assert usage.quantity == "3000"  # 2,000 read + 10 days x 100 estimated
    assert usage.end.counter_value == "13000"


def test_bad_readings_are_reported_per_index_and_the_rest_recorded(fleet):
    f = Fleet(fleet.channel)
    printer = f.printer()
    readings = [mpb.MeterReading(asset=printer.name, register="mono_impressions", value="12x", read_time=stamp(at(1))),
                mpb.MeterReading(asset=printer.name, register="toner_cartridges", value="1", read_time=stamp(at(1))),
                mpb.MeterReading(asset="assets/ghost", register="mono_impressions", value="1", read_time=stamp(at(1))),
                mpb.MeterReading(asset=printer.name, register="mono_impressions", value="100", read_time=stamp(at(1)))]
    results = f.stub.RecordMeterReadings(mpb.RecordMeterReadingsRequest(readings=readings)).results
    assert [(r.index, r.outcome) for r in results] == [(0, REJECTED), (1, REJECTED), (2, REJECTED), (3, ACCEPTED)]
    assert [r.field for r in results[:3]] == ["readings[0].value", "readings[1].register", "readings[2].asset"]


def test_a_batch_is_judged_in_time_order_per_register_whatever_its_order(fleet):
    f = Fleet(fleet.channel)
    printer = f.printer()
    values = [(at(5), "1500"), (at(1), "1000"), (at(5), "1500"), (at(3), "1200"), (at(5), "1501"), (at(2), "1100")]
    readings = [mpb.MeterReading(asset=printer.name, register=register, value=value, read_time=stamp(moment))
                for moment, value in values for register in ("mono_impressions", "toner_cartridges")]
    results = f.stub.RecordMeterReadings(mpb.RecordMeterReadingsRequest(readings=readings)).results
    mono, toner = results[0::2], results[1::2]
    assert [r.outcome for r in mono] == [ACCEPTED, ACCEPTED, DUPLICATE, ACCEPTED, REJECTED, ACCEPTED]
    assert "different value (1500)" in mono[4].reason and mono[4].field == "readings[8].value"
    assert [(r.outcome, r.field) for r in toner] == [(REJECTED, f"readings[{i}].register") for i in range(1, 12, 2)]
    assert f.usage(printer, at(1), at(5)).quantity == "500"
    listed = f.stub.ListMeterReadings(mpb.ListMeterReadingsRequest(asset=printer.name)).readings
    assert [r.value for r in listed] == ["1000", "1100", "1200", "1500"]


def test_oversized_batch_is_refused(fleet):
    f = Fleet(fleet.channel)
    reading = mpb.MeterReading(asset="assets/x", register="mono_impressions", value="1", read_time=stamp(at(1)))
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.RecordMeterReadings(mpb.RecordMeterReadingsRequest(readings=[reading] * 10_001))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_usage_of_unknown_asset_is_not_found(fleet):
    f = Fleet(fleet.channel)
    with pytest.raises(grpc.RpcError) as caught:
        f.stub.GetUsage(mpb.GetUsageRequest(assets=["assets/ghost"], register="mono_impressions",
                                            start_time=stamp(at(1)), end_time=stamp(at(2))))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_usage_is_the_same_whatever_order_readings_arrive_in(fleet):
    f = Fleet(fleet.channel)
    readings = [(at(1), "9999000"), (at(5), "9999500"), (at(8), "9999497"), (at(12), "300"), (at(20), "1300"),
                (at(26), "2000")]
    in_order, shuffled = f.printer(jitter="5"), f.printer(jitter="5")
    assert f.read(in_order, *readings).accepted_count == 6
    for index in (5, 0, 3, 1, 4, 2):  # each late reading lands between two stored ones
        assert f.read(shuffled, readings[index]).results[0].outcome == ACCEPTED
    for printer in (in_order, shuffled):
        # 9,999,000 -> 9,999,500 (500); 9,999,497 is jitter (0); wraps to 300 (500 + 300); -> 1,300 (1,000); -> 2,000 (700)
        whole = f.usage(printer, at(1), at(26))
        assert (whole.quantity, whole.rollovers) == (str(500 + 800 + 1000 + 700), 1)
        assert f.usage(printer, at(8), at(12)).quantity == "800"
        assert f.usage(printer, at(5), at(20)).quantity == str(800 + 1000)


def test_reset_recorded_after_later_readings_counts_as_if_recorded_in_time(fleet):
    f = Fleet(fleet.channel)
    on_time, late = f.printer(), f.printer()
    reset = dict(register="mono_impressions", reset_time=stamp(at(15)), value_before="2200", value_after="0")
    f.read(on_time, (at(1), "1000"), (at(10), "2000"))
    f.stub.RecordMeterReset(mpb.RecordMeterResetRequest(reset=mpb.MeterReset(asset=on_time.name, **reset)))
    f.read(on_time, (at(20), "2500"), (at(31), "2600"))
    f.read(late, (at(1), "1000"), (at(10), "2000"), (at(20), "2500"), (at(31), "2600"))
    assert f.usage(late, at(1), at(31)).quantity == "1600"  # one board, no reset known yet
    f.stub.RecordMeterReset(mpb.RecordMeterResetRequest(reset=mpb.MeterReset(asset=late.name, **reset)))
    for printer in (on_time, late):
        # 1,000 -> 2,000 -> 2,200 at the swap (1,200), then 0 -> 2,500 -> 2,600 on the new board (2,600)
        usage = f.usage(printer, at(1), at(31))
        assert (usage.quantity, usage.resets) == (str(1200 + 2600), 1)
        assert f.usage(printer, at(20), at(31)).quantity == "100"


def test_rollover_finer_than_a_reading_is_refused(fleet):
    f = Fleet(fleet.channel)
    with pytest.raises(grpc.RpcError) as caught:
        f.printer_model(rollover_at="99999.99999")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # usage counted across a wrap adds the width: it must fit the readings' 4 decimal places
    assert [field for field, _ in rich_error(caught.value)[0]] == ["device_model.registers[0].rollover_at"]
