"""Diagnostic ingestion (batch and streaming) and alarms."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from fleetops.maintenance.v1 import diagnostics_pb2 as dpb
from fleetops.maintenance.v1 import maintenance_service_pb2 as pb
from fleetops.maintenance.v1 import resources_pb2 as res
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.maintenance.api.customer_scope import check_asset_scope, restrict_to_scoped_assets
from services.maintenance.domain.alarms import Alarm, AlarmState, acknowledge, expire_quiet
from services.maintenance.domain.diagnostics import Severity
from services.maintenance.store_ingest import AlarmRow
from services.runtime.audit import note_changes
from services.runtime.auth import current_identity
from services.runtime.dataclass_json import from_json, to_json
from services.runtime.db import utc_now
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.resources import check_etag, etag_for, from_timestamp, to_timestamp
from services.runtime.scoping import deny_scoped

DEFAULT_QUIET_PERIOD = timedelta(hours=24)
_SEVERITY_TO_PROTO = {Severity.INFO: res.SEVERITY_INFO, Severity.WARNING: res.SEVERITY_WARNING,
                      Severity.MAJOR: res.SEVERITY_MAJOR, Severity.CRITICAL: res.SEVERITY_CRITICAL}
_SEVERITY_FROM_PROTO = {v: k for k, v in _SEVERITY_TO_PROTO.items()}
_CLEAR_REASONS = {"device_signal": "device", "quiet_period": "quiet-period"}


def alarm_to_proto(row: AlarmRow) -> res.Alarm:
    alarm = from_json(Alarm, row.body)
    message = res.Alarm(
        name=f"alarms/{row.id}", asset=alarm.asset, fault_key=alarm.fault_key, family=alarm.family,
        severity=_SEVERITY_TO_PROTO[alarm.peak_severity], category=alarm.fault.category,
        description=alarm.fault.description, needs_technician=alarm.fault.needs_technician,
        skill=alarm.fault.skill or "",
        state=res.ALARM_STATE_ACTIVE if alarm.is_active else res.ALARM_STATE_CLEARED, count=alarm.count,
        first_seen_time=to_timestamp(alarm.first_seen), last_seen_time=to_timestamp(alarm.last_seen),
        clear_reason=_CLEAR_REASONS.get(alarm.clear_reason.value, "") if alarm.clear_reason else "",
        flapping=alarm.flapping, acknowledged_by=alarm.acknowledged_by or "",
        work_order=row.work_order_id or "", etag=etag_for(row.version))
    if alarm.cleared_at:
        message.clear_time.CopyFrom(to_timestamp(alarm.cleared_at))
    return message


def _alarm_id(name: str, field: str = "name") -> int:
    collection, _, number = name.partition("/")
    if collection != "alarms" or not number.isdigit():
        raise InvalidArgument.field(field, f"must look like alarms/{{number}}, got {name!r}")
    return int(number)


class DiagnosticsMethods:
    """Ingestion (mixed into MaintenanceApi)."""

    def IngestDiagnostics(self, request: dpb.IngestDiagnosticsRequest, context) -> dpb.IngestDiagnosticsResponse:
        deny_scoped("device ingestion")
        return self._ingestion.ingest(request)

    def StreamDiagnostics(self, requests: Iterator[dpb.IngestDiagnosticsRequest],
                          context) -> Iterator[dpb.IngestDiagnosticsResponse]:
        deny_scoped("device ingestion")
        for request in requests:
            yield self._ingestion.ingest(request)


class AlarmMethods:
    """Alarms (mixed into MaintenanceApi)."""

    def GetAlarm(self, request: pb.GetAlarmRequest, context) -> res.Alarm:
        alarm_id = _alarm_id(request.name)
        with self._db.unit_of_work() as session:
            row = session.get(AlarmRow, alarm_id)
            check_asset_scope(session, row.asset_id if row else None, request.name)
            if row is None:
                raise NotFound(request.name)
            return alarm_to_proto(row)

    def ListAlarms(self, request: pb.ListAlarmsRequest, context) -> pb.ListAlarmsResponse:
        query = {"asset": request.asset, "state": request.state, "severity": request.minimum_severity}
        page = self._tokens.parse(request.page_size, request.page_token, query)
        statement = restrict_to_scoped_assets(select(AlarmRow), AlarmRow.asset_id).order_by(AlarmRow.id.desc())
        statement = statement.limit(page.size + 1)
        if request.asset:
            statement = statement.where(AlarmRow.asset_id == request.asset.split("/", 1)[-1])
        if request.state:
            state = AlarmState.ACTIVE if request.state == res.ALARM_STATE_ACTIVE else AlarmState.CLEARED
            statement = statement.where(AlarmRow.state == state.value)
        if request.minimum_severity:
            floor = _SEVERITY_FROM_PROTO[request.minimum_severity]
            statement = statement.where(AlarmRow.severity.in_([s.name.lower() for s in Severity if s >= floor]))
        if page.after:
            statement = statement.where(AlarmRow.id < page.after[0])
        with self._db.unit_of_work() as session:
            rows, token = self._tokens.finish(list(session.scalars(statement)), page, lambda r: (r.id,), query)
            return pb.ListAlarmsResponse(alarms=[alarm_to_proto(r) for r in rows], next_page_token=token)

    def AcknowledgeAlarm(self, request: pb.AcknowledgeAlarmRequest, context) -> res.Alarm:
        alarm_id = _alarm_id(request.name)

        def work(session: Session) -> res.Alarm:
            row = session.scalars(select(AlarmRow).where(AlarmRow.id == alarm_id).with_for_update()).one_or_none()
            check_asset_scope(session, row.asset_id if row else None, request.name)
            if row is None:
                raise NotFound(request.name)
            check_etag(request.name, request.etag, row.version)
            row.body = to_json(acknowledge(from_json(Alarm, row.body), current_identity().subject, utc_now()))
            row.version += 1
            session.flush()
            return alarm_to_proto(row)

        return self._standard.run("AcknowledgeAlarm", request, res.Alarm, work)

    def ExpireQuietAlarms(self, request: pb.ExpireQuietAlarmsRequest, context) -> pb.ExpireQuietAlarmsResponse:
        deny_scoped("the sweep over every customer's alarms")
        now = from_timestamp(request.now) if request.HasField("now") else utc_now()

        def work(session: Session) -> pb.ExpireQuietAlarmsResponse:
            rows = {row.id: row for row in session.scalars(
                select(AlarmRow).where(AlarmRow.state == AlarmState.ACTIVE.value,
                                       AlarmRow.last_seen <= now - DEFAULT_QUIET_PERIOD).with_for_update())}
            by_alarm = {rid: from_json(Alarm, row.body) for rid, row in rows.items()}
            cleared = []
            expired = {a.key: a for a in expire_quiet(by_alarm.values(), now, DEFAULT_QUIET_PERIOD)}
            for rid, alarm in by_alarm.items():
                if alarm.key in expired:
                    after = expired[alarm.key]
                    rows[rid].body, rows[rid].state = to_json(after), after.state.value
                    rows[rid].version += 1
                    cleared.append(f"alarms/{rid}")
            note_changes(session, [(name, "", "cleared after the quiet period") for name in sorted(cleared)])
            return pb.ExpireQuietAlarmsResponse(cleared_alarms=sorted(cleared))

        return self._standard.run("ExpireQuietAlarms", request, pb.ExpireQuietAlarmsResponse, work)
