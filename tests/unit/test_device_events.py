"""Device events reach only the listeners that declared an interest in their kind and device."""

from __future__ import annotations

from kiosk.core.devices import DeviceEvent, DeviceEventKind, EventInterest, EventRouter

CARDS = frozenset({"card_reader", "id_reader"})


def test_each_listener_gets_the_kinds_and_devices_it_asked_for_in_order() -> None:
    router = EventRouter()
    got: list[tuple[str, DeviceEventKind, str]] = []
    removed = EventInterest(frozenset({DeviceEventKind.CARD_REMOVED}))  # from any device
    router.add(removed, lambda e: got.append(("app", e.kind, e.device)))
    router.add(
        EventInterest(frozenset({DeviceEventKind.IDENTITY, DeviceEventKind.CARD_REMOVED}), CARDS),
        lambda e: got.append(("identify", e.kind, e.device)),
    )
    router.add(
        EventInterest(frozenset({DeviceEventKind.STATE}), frozenset({"printer"})),
        lambda e: got.append(("receipt", e.kind, e.device)),
    )
    for device, kind in (
        ("card_reader", DeviceEventKind.IDENTITY),
        ("card_reader", DeviceEventKind.STATE),
        ("printer", DeviceEventKind.STATE),
        ("printer", DeviceEventKind.PAPER_OUT),
        ("id_reader", DeviceEventKind.CARD_REMOVED),
        ("camera", DeviceEventKind.CARD_REMOVED),
    ):
        router.deliver(DeviceEvent(device, kind))
    assert got == [
        ("identify", "identity", "card_reader"),
        ("receipt", "state", "printer"),
        ("app", "card_removed", "id_reader"),
        ("identify", "card_removed", "id_reader"),
        ("app", "card_removed", "camera"),
    ]


def test_every_kind_is_its_name() -> None:
    assert {kind.value for kind in DeviceEventKind} == {
        "state", "card_inserted", "card_removed", "identity", "read_failed", "printed", "paper_low", "paper_out"
    }  # fmt: skip
    assert repr(DeviceEvent("printer", DeviceEventKind.PRINTED, "job-1")) == "DeviceEvent(printer, printed)"
