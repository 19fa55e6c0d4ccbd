"""Ingestion's screening and answer, without the service: the quick path (an event's limits judged by
its serialization, ingestion's rules by a few comparisons) judges every batch as the full walk does,
and the answer made from serialized results is the one made result by result."""

from __future__ import annotations

import json
from dataclasses import dataclass

from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from google.protobuf import timestamp_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter

from services.maintenance import ingestion
from services.runtime.request_limits import DEFAULT_LIMITS, RequestLimits
from tests.fuzz.message_strategies import field_names, requests

O = dpb.IngestOutcome
_LOW, _HIGH = -62_135_596_800, 253_402_300_799  # Timestamp's documented range, in seconds


@dataclass(frozen=True)
class _WalkOnly(RequestLimits):
    """Limits whose quick item check never vouches for an item: each event is judged by the full walk
    of its fields and every rule of `ingestion._problem`, as every event was before the quick path."""

    def item_check(self, item_type, given=()):
        return lambda message, serialized, values=(): False


# As a maintenance replica has them (`RequestLimits.for_database`): the columns of DiagnosticEvent's
# fields (a map's entries are no column, though meter_outbox has a `value`).
_REPLICA_LIMITS = RequestLimits(string_chars=DEFAULT_LIMITS.string_chars,
                                column_chars={"source": 200, "source_event_id": 200, "value": 40})


def _walk_only(limits: RequestLimits) -> RequestLimits:
    return _WalkOnly(string_chars=limits.string_chars, column_chars=limits.column_chars)


def _text(lengths: list[int]) -> st.SearchStrategy[str]:
    """Strings at and around the limits: ASCII or two-byte characters (a limit counts characters, the
    serialization bytes), now and then with a NUL."""
    return st.tuples(st.sampled_from(lengths), st.sampled_from(["x", "é", "\x00", "a\x00"]), st.booleans()).map(
        lambda drawn: (drawn[1] * drawn[0])[:drawn[0]] if drawn[2] else ("x" * drawn[0]))


_IDS = _text([0, 1, 7, 199, 200, 201, 1024, 1025])
_ASSETS = st.one_of(st.sampled_from(["assets/p-1", "assets/f-2", "assets/s-3", "assets/Bad_Id", "sites/x", "assets/",
                                     "assets/p-1/x", ""]), _text([1, 1025, 3000]))
_STAMPS = st.one_of(st.none(), st.builds(timestamp_pb2.Timestamp, seconds=st.sampled_from(
    [0, 1, 1_790_000_000, _LOW, _HIGH, _LOW - 1, _HIGH + 1]), nanos=st.sampled_from([0, 1, 999_999_999, -1, 10**9])))
_CELLS = _text([0, 1, 40, 1024, 1025])
_ROWS = st.dictionaries(_CELLS, _CELLS, max_size=3).map(lambda columns: dpb.SnmpRow(columns=columns))
_PAYLOADS = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(["printer_alert", "printer_supply", "printer_marker"]), _ROWS),
    st.tuples(st.just("printer_alert_walk"), st.lists(_ROWS, max_size=3).map(lambda rows: dpb.PrinterAlertWalk(rows=rows))),
    st.tuples(st.just("j1939_message"), st.builds(
        dpb.J1939Message, pgn=st.sampled_from([0, 65226]), source_address=st.sampled_from([0, 3]),
        data=st.sampled_from([b"", b"\x00", bytes.fromhex("40FF5B000301FFFF"), b"\x01" * 65_536, b"\x01" * 65_537]))),
    st.tuples(st.just("j1939_frames"), st.lists(_CELLS, max_size=3).map(lambda lines: dpb.J1939Frames(candump_lines=lines))),
    st.tuples(st.just("redfish_event"), _text([0, 2, 65_536, 65_537])))


def _plain_event(number: int, kind: str) -> dpb.DiagnosticEvent:
    """An event as devices send them, which breaks no limit and no rule."""
    event = dpb.DiagnosticEvent(source="gateway-1", source_event_id=f"e{number}", asset=f"assets/a-{number % 7}")
    event.observe_time.FromSeconds(1_790_000_000 + number)
    if kind == "printer_alert_walk":
        event.printer_alert_walk.rows.add().columns.update({"prtAlertIndex": "1", "prtAlertCode": "808"})
    elif kind.startswith("printer"):
        getattr(event, kind).columns.update({"prtMarkerSuppliesLevel": str(number), "prtMarkerSuppliesIndex": "1"})
    elif kind == "j1939_message":
        event.j1939_message.CopyFrom(dpb.J1939Message(pgn=65226, data=bytes.fromhex("40FF5B000301FFFF")))
    elif kind == "j1939_frames":
        event.j1939_frames.candump_lines.append("(1542013242.366734) can0 18FECA00#40FF5B000301FFFF")
    else:
        event.redfish_event = json.dumps({"Events": [{"EventId": str(number), "MessageId": "ResourceEvent.1.4.X"}]})
    return event


_KINDS = [f.name for f in dpb.DiagnosticEvent.DESCRIPTOR.oneofs_by_name["payload"].fields]


def _set(event: dpb.DiagnosticEvent, name: str, value) -> None:
    if value is None:
        event.ClearField(name)
    elif isinstance(value, str):
        setattr(event, name, value)
    else:
        getattr(event, name).CopyFrom(value)


# Changes of a plain event at the limits and rules, one or two at a time, so that the others hold.
_CHANGES = st.one_of(
    st.tuples(st.sampled_from(["source", "source_event_id"]), _IDS), st.tuples(st.just("asset"), _ASSETS),
    st.tuples(st.just("observe_time"), _STAMPS), _PAYLOADS.map(lambda payload: payload or ("payload", None)))


@st.composite
def _edgy_events(draw) -> dpb.DiagnosticEvent:
    event = _plain_event(draw(st.integers(0, 50)), draw(st.sampled_from(_KINDS)))
    for name, value in draw(st.lists(_CHANGES, min_size=1, max_size=2)):
        if name == "payload":
            event.ClearField("payload")
        else:
            _set(event, name, value)
    return event


_FUZZED = requests(dpb.DiagnosticEvent.DESCRIPTOR, ["assets/p-1", "assets/f-2", "customers/c/sites/s"],
                   sorted(field_names([dpb.DiagnosticEvent.DESCRIPTOR])), "IngestDiagnostics")
_EVENTS = st.one_of(st.builds(_plain_event, st.integers(0, 50), st.sampled_from(_KINDS)), _edgy_events(), _FUZZED)


@st.composite
def _batches(draw) -> dpb.IngestDiagnosticsRequest:
    """Events, some sent again as they were (replays) or with other content under the same ids."""
    events = draw(st.lists(_EVENTS, min_size=1, max_size=12))
    for _ in range(draw(st.integers(0, 4))):
        again = dpb.DiagnosticEvent()
        again.CopyFrom(draw(st.sampled_from(events)))
        if draw(st.booleans()):
            again.observe_time.nanos ^= 1
        events.insert(draw(st.integers(0, len(events))), again)
    return dpb.IngestDiagnosticsRequest(events=events)


def _screened(request: dpb.IngestDiagnosticsRequest, limits: RequestLimits):
    results = ingestion._Results(len(request.events))
    kinds, candidates = ingestion._screen(request, results, limits)
    return (kinds, results.outcomes, results.reasons,
            [(c.position, c.key, c.asset_id, c.kind, c.observe_time.seconds, c.observe_time.nanos, c.payload,
              c.fingerprint) for c in candidates])


_EXAMPLES = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))


@_EXAMPLES
@given(request=_batches(), replica=st.booleans())
def test_the_quick_screening_judges_every_event_as_the_full_walk(request, replica):
    limits = _REPLICA_LIMITS if replica else DEFAULT_LIMITS
    assert _screened(request, limits) == _screened(request, _walk_only(limits))


def test_each_broken_event_is_rejected_with_the_walks_reasons_and_the_rest_stored():
    events = [_plain_event(number, kind) for number, kind in enumerate(_KINDS)]
    broken = [dpb.DiagnosticEvent() for _ in range(4)]
    for event, breaking in zip(broken, [
            lambda e: setattr(e, "source", "bus\x00"), lambda e: e.printer_supply.columns.update({"k" * 1025: "1"}),
            lambda e: setattr(e.observe_time, "nanos", -1), lambda e: setattr(e, "redfish_event", "x" * 65_537)],
            strict=True):
        event.CopyFrom(events[len(broken)])
        event.source_event_id += "-broken"
        breaking(event)
    request = dpb.IngestDiagnosticsRequest(events=events + broken)
    _, outcomes, reasons, candidates = _screened(request, _REPLICA_LIMITS)
    assert [c[0] for c in candidates] == list(range(len(events)))
    count = len(events)
    assert [reasons[count + i] for i in range(len(broken))] == [
        f"events[{count}].source: must not contain NUL characters",
        f"events[{count + 1}].printer_supply.columns['{'k' * 40}...']: must be at most 1024 characters, got 1025",
        f"events[{count + 2}].observe_time: must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z",
        f"events[{count + 3}].redfish_event: must be at most 65536 characters, got 65537"]
    assert outcomes[count:] == [O.Value("INGEST_OUTCOME_REJECTED")] * len(broken)


def _answer_result_by_result(outcomes, reasons, processed, batch_id) -> dpb.IngestDiagnosticsResponse:
    """The answer as ingestion made it before: each result in place, then set."""
    response = dpb.IngestDiagnosticsResponse(batch_id=batch_id)
    for index, outcome in enumerate(outcomes):
        result = response.results.add(index=index)
        result.outcome = outcome
        if index in reasons:
            result.reason = reasons[index]
        alarms, work_orders = processed.get(index, ([], []))
        result.alarms.extend(alarms)
        result.work_orders.extend(work_orders)
    counts = {outcome: outcomes.count(outcome) for outcome in set(outcomes)}
    response.accepted_count = counts.get(O.Value("INGEST_OUTCOME_ACCEPTED"), 0)
    response.duplicate_count = counts.get(O.Value("INGEST_OUTCOME_DUPLICATE"), 0)
    response.conflict_count = counts.get(O.Value("INGEST_OUTCOME_CONFLICT"), 0)
    response.rejected_count = counts.get(O.Value("INGEST_OUTCOME_REJECTED"), 0)
    return response


_NAMES = st.lists(st.sampled_from(["alarms/1", "alarms/22", "workOrders/wo-7"]), max_size=2)


@_EXAMPLES
@given(data=st.data(), count=st.sampled_from([0, 1, 2, 127, 128, 129, 300]), batch_id=st.sampled_from(["", "b-1"]))
def test_the_answer_is_the_one_made_result_by_result(data, count, batch_id):
    outcomes = data.draw(st.lists(st.sampled_from(list(O.values())), min_size=count, max_size=count))
    indexes = st.integers(0, max(count - 1, 0))
    reasons = data.draw(st.dictionaries(indexes, st.text(max_size=5), max_size=min(count, 4)))
    processed = data.draw(st.dictionaries(indexes, st.tuples(_NAMES, _NAMES), max_size=min(count, 4)))
    kinds = data.draw(st.lists(st.sampled_from([None, *_KINDS]), min_size=count, max_size=count))
    results = ingestion._Results(count)
    results.outcomes[:] = outcomes
    results.reasons.update(reasons)
    results.processed.update(processed)
    registry = CollectorRegistry()
    counter = Counter("events", "", ["format", "result"], registry=registry)
    answer = results.response(batch_id, kinds, counter)
    expected = _answer_result_by_result(outcomes, reasons, processed, batch_id)
    assert answer == expected and answer.SerializeToString() == expected.SerializeToString()
    counted = {(s.labels["format"], s.labels["result"]): s.value for family in registry.collect()
               for s in family.samples if s.name == "events_total"}
    formats = {None: "unknown", **{kind: kind.split("_")[0].replace("j1939", "forklift").replace("redfish", "server")
                                   for kind in _KINDS}}
    expected_counts: dict[tuple[str, str], float] = {}
    for kind, outcome in zip(kinds, outcomes, strict=True):
        label = (formats[kind], O.Name(outcome).removeprefix("INGEST_OUTCOME_").lower())
        expected_counts[label] = expected_counts.get(label, 0) + 1
    assert counted == expected_counts
