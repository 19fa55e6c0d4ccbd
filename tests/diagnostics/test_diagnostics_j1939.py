"""J1939 decoding against shared/data/diagnostics/j1939 (README decode list, candump logs, FMIs)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from services.maintenance.domain.diagnostics import (
    Dm1Tracker,
    MalformedDiagnostic,
    TransportReassembler,
    decode_dm,
    decode_dm_message,
    load_catalogues,
    parse_candump_line,
)
from services.maintenance.domain.diagnostics.j1939 import J1939Message
from services.maintenance.domain.diagnostics.j1939_dm import (
    DiagnosticMessage,
    DmKind,
    Dtc,
    LampFlash,
    LampStatus,
)

ASSET = "assets/forklift-7"


@pytest.fixture(scope="module")
def j1939_dir(shared_data: Path) -> Path:
    return shared_data / "diagnostics" / "j1939"


def messages_from(lines: list[str]) -> list[J1939Message]:
    reassembler = TransportReassembler()
    fed = (reassembler.feed(parse_candump_line(line)) for line in lines)
    return [message for message in fed if message is not None]


def candump(*frames: str) -> list[str]:
    """README frames written as candump lines (the README gives them as CANID#DATA)."""
    return [f"(1612543138.{index:06d}) vcan0 {frame}" for index, frame in enumerate(frames)]


def dm_from(lines: list[str]) -> DiagnosticMessage:
    (message,) = [m for m in messages_from(lines) if m.pgn in (65226, 65227)]
    return decode_dm_message(ASSET, message)


def dtc_triples(message: DiagnosticMessage) -> list[tuple[int, int, int | None]]:
    return [(dtc.spn, dtc.fmi, dtc.occurrence_count) for dtc in message.dtcs]


def test_dm1_log_line_2_is_mil_on_with_spn_91_fmi_3(j1939_dir: Path) -> None:
    lines = (j1939_dir / "frames" / "test_dm1.log").read_text().splitlines()
    message = dm_from(lines[1:2])
    assert message.kind is DmKind.DM1 and message.source_address == 0x00
    assert message.lamps.malfunction_indicator.status is LampStatus.ON
    assert message.lamps.lit() == ("malfunction_indicator",)
    assert all(
        lamp.flash is LampFlash.NOT_FLASHING
        for lamp in (message.lamps.red_stop, message.lamps.amber_warning, message.lamps.protect)
    )
    assert message.dtcs == (Dtc(spn=91, fmi=3, occurrence_count=1, conversion_method=0),)


def test_dm1_log_line_1_has_all_lamps_off_and_no_dtc(j1939_dir: Path) -> None:
    lines = (j1939_dir / "frames" / "test_dm1.log").read_text().splitlines()
    message = dm_from(lines[0:1])
    assert message.lamps.lit() == ()
    assert message.lamps.malfunction_indicator.status is LampStatus.OFF
    assert message.dtcs == ()


def test_readme_dm2_variant() -> None:
    message = dm_from(candump("18FECB00#00FF5B000301FFFF"))
    assert message.kind is DmKind.DM2
    assert message.lamps.malfunction_indicator.status is LampStatus.OFF
    assert dtc_triples(message) == [(91, 3, 1)]


def test_readme_conversion_method_bit() -> None:
    message = dm_from(candump("18FECA00#00FFD2040381FFFF"))
    assert message.dtcs == (Dtc(spn=1234, fmi=3, occurrence_count=1, conversion_method=1),)


def test_readme_not_available_lamps_are_not_lit_and_all_ones_dtc_is_no_dtc() -> None:
    message = dm_from(candump("18FECA21#3FFFFFFFFFFFFFFF"))
    assert message.source_address == 0x21
    assert message.lamps.malfunction_indicator.status is LampStatus.OFF
    for lamp in (message.lamps.red_stop, message.lamps.amber_warning, message.lamps.protect):
        assert lamp.status is LampStatus.NOT_AVAILABLE
    assert message.lamps.lit() == ()
    assert message.dtcs == ()


def test_readme_multi_packet_bam_dm1_has_four_dtcs() -> None:
    message = dm_from(
        candump(
            "18ECFF00#20120003FFCAFE00",
            "18EBFF00#0100FF5B0003015C",
            "18EBFF00#020004025D000503",
            "18EBFF00#035E000604FFFFFF",
        )
    )
    assert message.kind is DmKind.DM1 and message.lamps.lit() == ()
    assert dtc_triples(message) == [(91, 3, 1), (92, 4, 2), (93, 5, 3), (94, 6, 4)]


def test_readme_bam_interleaved_with_other_traffic() -> None:
    # The README names ISO-TP frames on 18DAF100 between the packets; their bytes are filler.
    messages = messages_from(
        candump(
            "18ECFF00#200A0002FFCAFE00",
            "18DAF100#0210010000000000",
            "18EBFF00#0140FF5B000301FF",
            "18DAF100#0250010000000000",
            "18EBFF00#02FF0000FFFFFFFF",
        )
    )
    assert [m.pgn for m in messages] == [0xDA00, 0xDA00, 65226]
    assert messages[-1].data == bytes.fromhex("40FF5B000301FFFF0000")
    message = decode_dm_message(ASSET, messages[-1])
    assert message.lamps.malfunction_indicator.status is LampStatus.ON
    assert dtc_triples(message) == [(91, 3, 1), (65535, 0, 0)]


def test_readme_rts_cts_transfer_reassembles_ten_bytes() -> None:
    messages = messages_from(
        candump(
            "1CEC0100#100A0002FFCAFE00",  # RTS (16): 10 bytes, 2 packets, SA 0 -> DA 0x01
            "1CEC0001#110201FFFFCAFE00",  # CTS from the receiver: 2 packets from 1
            "1CEB0100#0101020304050607",
            "1CEB0100#0208090AFFFFFFFF",
            "1CEC0001#130A0002FFCAFE00",  # end-of-message acknowledgement (19)
        )
    )
    (message,) = messages
    assert message.pgn == 65226
    assert message.source_address == 0 and message.destination_address == 0x01
    assert message.data == bytes(range(1, 11))


def test_every_shared_candump_log_parses_with_the_readme_identifiers(j1939_dir: Path) -> None:
    expected = {
        "candump.log": [(4, 64931, 0, 0xFF), (6, 65248, 0, 0xFF), (3, 61444, 0, 0xFF)],
        "test_priority.log": [(3, 61444, 0, 0xFF), (6, 61444, 0, 0xFF), (7, 61444, 0, 0xFF)],
        "test_mfr_spec.log": [(6, 61184, 0x0B, 0x00)],
        "test_propa2.log": [(6, 126720, 0x0B, 0x00)],
        "test_unknown_real.log": [(6, 123392, 0x0B, 0x40)],
        "test_requests.log": [(6, 59904, 0x0B, 0xFF)],
        "test_dm1.log": [(6, 65226, 0, 0xFF), (6, 65226, 0, 0xFF)],
    }
    seen = {path.name for path in (j1939_dir / "frames").glob("*.log")}
    assert seen == set(expected)
    for name, identifiers in expected.items():
        lines = (j1939_dir / "frames" / name).read_text().splitlines()
        frames = [parse_candump_line(line) for line in lines if line.strip()]
        got = [
            (f.j1939.priority, f.j1939.pgn, f.j1939.source_address, f.j1939.destination_address)
            for f in frames
        ]
        assert got == identifiers, name
    request = parse_candump_line((j1939_dir / "frames" / "test_requests.log").read_text())
    assert int.from_bytes(request.data, "little") == 65260  # asks for Vehicle Identification


def test_every_fmi_in_fmis_csv_has_our_description(j1939_dir: Path) -> None:
    with (j1939_dir / "fmis.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    fmis = load_catalogues().forklift.fmis
    assert len(rows) == 32
    for fmi, description in rows:
        assert fmis[int(fmi)].description == description


def test_tracker_reports_new_dtcs_and_clears_those_missing_from_the_next_dm1() -> None:
    tracker = Dm1Tracker()
    first = tracker.update(decode_dm(ASSET, 65226, 0, bytes.fromhex("40FF5B000301FFFF")))
    assert [(e.dtc.spn, e.dtc.fmi) for e in first.activated] == [(91, 3)] and first.cleared == ()
    recurring = tracker.update(decode_dm(ASSET, 65226, 0, bytes.fromhex("40FF5B000302FFFF")))
    assert recurring.activated == () and recurring.cleared == ()
    other_source = tracker.update(decode_dm(ASSET, 65226, 0x21, bytes.fromhex("00FF00000000FFFF")))
    assert other_source.cleared == ()
    cleared = tracker.update(decode_dm(ASSET, 65226, 0, bytes.fromhex("00FF00000000FFFF")))
    assert [(e.source_address, e.dtc.spn, e.dtc.fmi) for e in cleared.cleared] == [(0, 91, 3)]
    assert cleared.cleared[0].clears(first.activated[0].condition_id)
    assert tracker.active(0) == ()


def test_tracker_treats_a_new_fmi_on_the_same_spn_as_a_new_dtc() -> None:
    tracker = Dm1Tracker({0: [Dtc(91, 3, 1, 0)]})
    change = tracker.update(decode_dm(ASSET, 65226, 0, bytes.fromhex("00FF5B000401FFFF")))
    assert [e.dtc.fmi for e in change.activated] == [4]
    assert [e.dtc.fmi for e in change.cleared] == [3]


def test_tracker_refuses_dm2_because_it_is_history() -> None:
    with pytest.raises(ValueError):
        Dm1Tracker().update(decode_dm(ASSET, 65227, 0, bytes.fromhex("00FF5B000301FFFF")))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("garbage", "not a candump log line"),
        ("(1.000000) can0 18FECA00#00F", "whole bytes"),
        ("(1.000000) can0 7DF#0201", "extended"),
        ("(1.000000) can0 3FFFFFFF#00", "29-bit"),
    ],
)
def test_malformed_candump_lines_are_rejected_with_a_reason(line: str, reason: str) -> None:
    with pytest.raises(MalformedDiagnostic, match=reason):
        parse_candump_line(line)


def test_out_of_order_transport_packet_drops_the_transfer() -> None:
    reassembler = TransportReassembler()
    reassembler.feed(parse_candump_line(candump("18ECFF00#200A0002FFCAFE00")[0]))
    with pytest.raises(MalformedDiagnostic, match="sequence 2"):
        reassembler.feed(parse_candump_line(candump("18EBFF00#02FF0000FFFFFFFF")[0]))
    late = reassembler.feed(parse_candump_line(candump("18EBFF00#0140FF5B000301FF")[0]))
    assert late is None


def test_short_or_foreign_payloads_are_malformed() -> None:
    with pytest.raises(MalformedDiagnostic, match="fewer than 6"):
        decode_dm(ASSET, 65226, 0, bytes.fromhex("00FF"))
    with pytest.raises(MalformedDiagnostic, match="neither DM1"):
        decode_dm(ASSET, 61444, 0, bytes(8))
