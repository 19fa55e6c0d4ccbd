"""Diagnostic event processing CPU per event, in process: the pure-Python part of a round.

What processing.py's `_apply` does for each event, without the database: `from_timestamp`,
`decode` (with the asset's device state carried between events, as the round does), `normalize`,
`clearing_signal`, `clear` of the asset's active alarms and `observe`; and, per round, the alarms
read back with `from_json` (the active and recently cleared ones, as `_AlarmBook` loads them)
and the changed ones written with `to_json`. The events are maintenance_ingest.py's: 60% printer
(40% supply levels, 30% page counters, 30% alerts), 25% forklift DM1, 15% Redfish, in rounds of
processing's ROUND_EVENTS. Each format is also timed alone: its events of the same rounds.

    .venv/bin/python bench/maintenance_decoding.py [--events 60000] [--assets 1000] [--repeat 3]
Prints a table (best of `repeat` CPU seconds, µs per event, and a fingerprint of every alarm and
device state: two code versions that behave the same print the same one) and writes
bench/results/maintenance_decoding.json. To compare with another version, run this file from its tree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_support import ROOT, report

sys.path.insert(0, str(ROOT))  # first: maintenance_ingest imports services too, and must find this tree's
from maintenance_ingest import make_event

from fleetops.maintenance.v1 import diagnostics_pb2 as dpb

from services.maintenance.decoding import decode, event_format, payload_kind
from services.maintenance.domain.alarms import Alarm, clear, clearing_signal, observe
from services.maintenance.domain.diagnostics import (Action, Catalogues, MalformedDiagnostic, RegistrySet, Severity,
                                                     load_catalogues, load_registry_bundle, normalize)
from services.maintenance.processing import RECENT_CLEAR_WINDOW, ROUND_EVENTS
from services.runtime.dataclass_json import from_json, to_json
from services.runtime.resources import from_timestamp

CLASS_SHARES = {"printer": 0.60, "forklift": 0.25, "server": 0.15}

Event = tuple[str, dpb.DiagnosticEvent]  # asset id, event


def make_stream(events: int, assets: int, rng: random.Random) -> list[Event]:
    plan = {device_class: [f"{device_class}-{i:05d}" for i in range(int(assets * share))]
            for device_class, share in CLASS_SHARES.items()}
    stream = []
    for number in range(events):
        device_class = rng.choices(list(CLASS_SHARES), list(CLASS_SHARES.values()))[0]
        asset = rng.choice(plan[device_class])
        stream.append((asset, make_event(number, asset, device_class, rng)))
    return stream


def process(rounds: list[list[Event]], catalogues: Catalogues, registries: RegistrySet) -> tuple:
    """Runs the rounds one after the other; the stored alarms and device states, and the rejections."""
    stored_alarms: dict[tuple[str, str], dict] = {}  # what _AlarmBook.save writes: to_json of each alarm
    stored_states: dict[str, dict[str, dict]] = defaultdict(dict)  # device state rows, as JSON values
    rejected = 0
    for round_events in rounds:
        now = from_timestamp(round_events[-1][1].observe_time)
        assets = {asset for asset, _ in round_events}
        alarms: dict[tuple[str, str], Alarm] = {
            key: from_json(Alarm, body) for key, body in stored_alarms.items()
            if key[0] in assets and (body["state"] == "active"
                                     or datetime.fromisoformat(body["last_seen"]) >= now - RECENT_CLEAR_WINDOW)}
        active_keys: dict[str, dict[tuple[str, str], None]] = defaultdict(dict)
        for key in alarms:
            active_keys[key[0]][key] = None
        states = {asset: dict(stored_states[asset]) for asset in assets}
        changed: set[tuple[str, str]] = set()
        for asset, message in round_events:
            at = from_timestamp(message.observe_time)
            try:
                decoded = decode(message, f"assets/{asset}", states[asset], registries)
            except MalformedDiagnostic:
                rejected += 1
                continue
            catalogue = getattr(catalogues, event_format(payload_kind(message)))
            for item in decoded.items:
                fault = normalize(item, catalogue)
                signal = clearing_signal(item, fault)
                if fault is not None and fault.severity is Severity.INFO and fault.action is Action.NONE:
                    fault = None
                if signal is not None:
                    for key in [k for k in active_keys[asset] if alarms[k].is_active]:
                        after = clear(alarms[key], signal, at)
                        if after != alarms[key]:
                            alarms[key] = after
                            changed.add(key)
                if fault is not None:
                    key = (asset, fault.fault_key)
                    alarms[key] = observe(alarms.get(key), fault, at)
                    active_keys[asset][key] = None
                    changed.add(key)
        stored_alarms.update({key: to_json(alarms[key]) for key in changed})
        for asset, asset_states in states.items():  # read back as plain JSON values next round
            stored_states[asset] = {kind: dict(state) for kind, state in asset_states.items()}
    return stored_alarms, stored_states, rejected


def fingerprint(outcome: tuple) -> str:
    stored_alarms, stored_states, rejected = outcome
    return hashlib.sha256(json.dumps([sorted(stored_alarms.items()), sorted(stored_states.items()), rejected],
                                     sort_keys=True, default=str).encode()).hexdigest()[:12]


def timed(rounds: list[list[Event]], catalogues: Catalogues, registries: RegistrySet,
          repeat: int) -> tuple[float, tuple]:
    """Best of `repeat` CPU seconds for the rounds, and what they stored."""
    best, outcome = float("inf"), ()
    for _ in range(repeat):
        started = time.process_time()
        outcome = process(rounds, catalogues, registries)
        best = min(best, time.process_time() - started)
    return best, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--assets", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    catalogues, registries = load_catalogues(), load_registry_bundle()
    stream = make_stream(args.events, args.assets, random.Random(7))
    rounds = [stream[start:start + ROUND_EVENTS] for start in range(0, len(stream), ROUND_EVENTS)]
    kinds = sorted({payload_kind(message) for _, message in stream})
    process(rounds, catalogues, registries)  # warms the decoders' caches, as a running worker has them
    rows = []
    for kind in [*kinds, "weighted mix"]:
        of_kind = [[e for e in events if kind in ("weighted mix", payload_kind(e[1]))] for events in rounds]
        count = sum(map(len, of_kind))
        seconds, outcome = timed(of_kind, catalogues, registries, args.repeat)
        rows.append({"events": kind, "count": count, "share": round(count / len(stream), 3),
                     "cpu_s": round(seconds, 3), "us_per_event": round(1e6 * seconds / count, 1),
                     "fingerprint": fingerprint(outcome)})
    report("maintenance_decoding", rows)


if __name__ == "__main__":
    main()
