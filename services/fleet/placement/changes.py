"""What a plan changes against today's fleet, device by device, and what the changes cost once.

Per model: at each position the plan keeps as many of today's devices as it places there; the
other devices of today move to positions that need one when a move is no dearer than retiring
one and installing a new one, else they retire and new devices are installed. This is the
cheapest way to reach the planned counts, the same rule the solver prices.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from services.fleet.placement.model import CurrentDevice, DeviceModel, FleetChanges, PlannedDevice


def reconcile(
    planned: Sequence[tuple[str, int, str]],
    current_fleet: Sequence[CurrentDevice],
    models: Sequence[DeviceModel],
) -> tuple[tuple[PlannedDevice, ...], FleetChanges, Decimal]:
    """``planned`` holds (position id, slot, model id); returns the planned devices with today's
    device ids filled in, the changes, and their one-off cost."""
    by_model = {model.id: model for model in models}
    today_at: dict[tuple[str, str], list[str]] = defaultdict(list)
    for device in sorted(current_fleet, key=lambda d: d.id):
        today_at[(device.position_id, device.model_id)].append(device.id)
    slots_at: dict[tuple[str, str], list[int]] = defaultdict(list)
    for position_id, slot, model_id in sorted(planned):
        slots_at[(position_id, model_id)].append(slot)

    assigned: dict[tuple[str, int], tuple[str, str | None]] = {}
    kept: list[str] = []
    leaving: dict[str, list[tuple[str, str]]] = defaultdict(list)
    """model id -> (device id, from position) of today's devices not kept in place."""
    needing: dict[str, list[tuple[str, int]]] = defaultdict(list)
    """model id -> (position id, slot) of planned devices not covered by a kept one."""
    for key in sorted(set(today_at) | set(slots_at)):
        position_id, model_id = key
        devices, slots = today_at.get(key, []), slots_at.get(key, [])
        for device_id, slot in zip(devices, slots):
            assigned[(position_id, slot)] = (device_id, None)
            kept.append(device_id)
        leaving[model_id].extend((device_id, position_id) for device_id in devices[len(slots) :])
        needing[model_id].extend((position_id, slot) for slot in slots[len(devices) :])

    moved: list[tuple[str, str, str]] = []
    added: list[tuple[str, str]] = []
    retired: list[str] = []
    one_off = Decimal(0)
    for model_id in sorted(set(leaving) | set(needing)):
        model = by_model[model_id]
        movers, targets = leaving[model_id], needing[model_id]
        move_pays = model.move_cost <= model.install_cost + model.retire_cost
        moves = min(len(movers), len(targets)) if move_pays else 0
        for (device_id, from_position), (to_position, slot) in zip(movers[:moves], targets[:moves]):
            assigned[(to_position, slot)] = (device_id, from_position)
            moved.append((device_id, from_position, to_position))
        added.extend((model_id, position_id) for position_id, _ in targets[moves:])
        retired.extend(device_id for device_id, _ in movers[moves:])
        one_off += (
            model.move_cost * moves
            + model.install_cost * (len(targets) - moves)
            + model.retire_cost * (len(movers) - moves)
        )

    devices = tuple(
        PlannedDevice(
            position_id=position_id,
            model_id=model_id,
            slot=slot,
            current_device_id=assigned.get((position_id, slot), (None, None))[0],
            moved_from=assigned.get((position_id, slot), (None, None))[1],
        )
        for position_id, slot, model_id in sorted(planned)
    )
    changes = FleetChanges(
        kept=tuple(sorted(kept)), moved=tuple(moved), added=tuple(added), retired=tuple(sorted(retired))
    )
    return devices, changes, one_off
