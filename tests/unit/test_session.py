"""The citizen session state machine, its wipe, and the idle watch."""

from __future__ import annotations

import itertools

import pytest

from kiosk.core.errors import SessionError
from kiosk.core.session import (
    QUIET_STEPS,
    TRANSITIONS,
    EndReason,
    IdlePhase,
    IdleWatch,
    Page,
    Session,
    Step,
)
from kiosk.demo.identities import DEMO_CITIZENS

ALLOWED = sorted((src, dst) for src, targets in TRANSITIONS.items() for dst in targets)
DISALLOWED = sorted((src, dst) for src, dst in itertools.product(Step, Step) if dst not in TRANSITIONS[src])


def _pair_id(pair: tuple[Step, Step]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def session_with_data(step: Step = Step.REVIEW) -> tuple[Session, list[bytearray]]:
    """A session holding an identity, form values, consent and two materials' pages."""
    session = Session(step=step)
    session.identity = DEMO_CITIZENS[0]
    session.values.update({"name": "王秀英", "id_number": "11010519491231002X", "mobile": "13800138000"})
    session.consent = True
    buffers = [bytearray(b"\xff\xd8page-one\xff\xd9"), bytearray(b"\xff\xd8page-two\xff\xd9"), bytearray(b"x" * 4096)]
    session.pages["id-card"] = [Page(buffers[0], 100, 140), Page(buffers[1], 100, 140)]
    session.pages["photo"] = [Page(buffers[2], 64, 64)]
    return session, buffers


# -- the transition table -----------------------------------------------------------------------


def test_table_covers_every_step() -> None:
    assert set(TRANSITIONS) == set(Step)
    assert TRANSITIONS[Step.ENDED] == frozenset()
    assert all(Step.ENDED not in targets for targets in TRANSITIONS.values()), "only end() reaches ENDED"


def test_the_journey_runs_from_home_to_rating() -> None:
    session = Session()
    path = [
        Step.GUIDE,
        Step.IDENTIFY,
        Step.FORM,
        Step.MATERIALS,
        Step.REVIEW,
        Step.SUBMITTING,
        Step.RECEIPT,
        Step.RATING,
    ]
    for step in path:
        session.go(step)
    assert session.step is Step.RATING
    assert session.history == [Step.HOME, *path[:-1]]


@pytest.mark.parametrize("pair", ALLOWED, ids=_pair_id)
def test_allowed_transition(pair: tuple[Step, Step]) -> None:
    src, dst = pair
    seen: list[Step] = []
    session = Session(step=src, on_change=lambda s: seen.append(s.step))
    session.go(dst)
    assert session.step is dst
    assert session.history == [src]
    assert seen == [dst]


@pytest.mark.parametrize("pair", DISALLOWED, ids=_pair_id)
def test_disallowed_transition_raises_and_changes_nothing(pair: tuple[Step, Step]) -> None:
    src, dst = pair
    seen: list[Step] = []
    session = Session(step=src, on_change=lambda s: seen.append(s.step))
    with pytest.raises(SessionError) as caught:
        session.go(dst)
    assert caught.value.code == "error.session"
    assert session.step is src
    assert session.history == []
    assert seen == []


@pytest.mark.parametrize(
    "pair",
    [
        (Step.HOME, Step.FORM),  # no form without choosing an item
        (Step.HOME, Step.SUBMITTING),
        (Step.GUIDE, Step.MATERIALS),  # skipping the form
        (Step.FORM, Step.REVIEW),  # skipping materials
        (Step.MATERIALS, Step.SUBMITTING),  # skipping review and consent
        (Step.SUBMITTING, Step.HELP),  # no leaving while the hall is being asked
        (Step.RECEIPT, Step.REVIEW),  # no resubmitting after the receipt
        (Step.RATING, Step.HOME),  # home only through end()
        (Step.HELP, Step.HELP),
        (Step.ENDED, Step.HOME),  # an ended session stays ended
    ],
    ids=_pair_id,
)
def test_notable_disallowed_transitions(pair: tuple[Step, Step]) -> None:
    assert pair in DISALLOWED


# -- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", sorted(s for s, targets in TRANSITIONS.items() if Step.HELP in targets))
def test_help_returns_where_it_came_from(origin: Step) -> None:
    seen: list[Step] = []
    session = Session(step=origin, on_change=lambda s: seen.append(s.step))
    session.go(Step.HELP)
    session.leave_help()
    assert session.step is origin
    assert seen == [Step.HELP, origin]


def test_help_return_is_forgotten_after_use() -> None:
    session = Session(step=Step.FORM)
    session.go(Step.HELP)
    session.leave_help()
    with pytest.raises(SessionError):
        session.leave_help()  # not in help any more
    session.go(Step.MATERIALS)
    session.go(Step.HELP)
    session.leave_help()
    assert session.step is Step.MATERIALS


def test_leave_help_outside_help_raises() -> None:
    with pytest.raises(SessionError):
        Session(step=Step.FORM).leave_help()


def test_help_set_directly_without_origin_cannot_be_left() -> None:
    with pytest.raises(SessionError):
        Session(step=Step.HELP).leave_help()


# -- ending and wiping --------------------------------------------------------------------------


def test_end_wipes_everything_personal() -> None:
    session, buffers = session_with_data()
    pages = [page for pages in session.pages.values() for page in pages]
    assert session.holds_personal_data()

    session.end(EndReason.CANCELLED)

    assert session.step is Step.ENDED
    assert not session.active
    assert session.end_reason is EndReason.CANCELLED
    assert session.identity is None
    assert session.values == {}
    assert session.pages == {}
    assert session.consent is False
    assert not session.holds_personal_data()
    # the very buffers the pages held are overwritten in place, not just dropped
    for buffer in buffers:
        assert len(buffer) > 0
        assert buffer == bytearray(len(buffer))
    for page in pages:
        assert not any(page.jpeg)


@pytest.mark.parametrize("reason", list(EndReason))
def test_end_records_the_reason_from_any_step(reason: EndReason) -> None:
    for step in Step:
        if step is Step.ENDED:
            continue
        session, _ = session_with_data(step)
        session.end(reason)
        assert (session.step, session.end_reason) == (Step.ENDED, reason)
        assert session.history[-1] is step
        assert not session.holds_personal_data()


def test_end_is_idempotent() -> None:
    calls: list[Step] = []
    session, _ = session_with_data()
    session.on_change = lambda s: calls.append(s.step)
    session.end(EndReason.TIMEOUT)
    history = list(session.history)

    session.end(EndReason.CARD_REMOVED)  # a second end (say, the card pulled during the timeout)

    assert session.end_reason is EndReason.TIMEOUT
    assert session.history == history
    assert calls == [Step.ENDED]


def test_an_ended_session_goes_nowhere() -> None:
    session = Session()
    session.end(EndReason.DONE)
    for step in Step:
        with pytest.raises(SessionError):
            session.go(step)


def test_end_from_help_wipes_too() -> None:
    session, buffers = session_with_data(Step.FORM)
    session.go(Step.HELP)
    session.end(EndReason.TIMEOUT)
    assert not session.holds_personal_data()
    assert all(not any(b) for b in buffers)


def test_holds_personal_data() -> None:
    session = Session()
    assert not session.holds_personal_data()
    session.values["mobile"] = "13800138000"
    assert session.holds_personal_data()
    session.values.clear()
    session.identity = DEMO_CITIZENS[1]
    assert session.holds_personal_data()
    session.identity = None
    session.pages["id-card"] = [Page(bytearray(b"x"), 1, 1)]
    assert session.holds_personal_data()


def test_sessions_get_distinct_ids() -> None:
    ids = {Session().session_id for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 12 for i in ids)


def test_quiet_steps() -> None:
    assert frozenset({Step.HOME, Step.ENDED}) == QUIET_STEPS


# -- idle watch ---------------------------------------------------------------------------------


def test_idle_watch_phases_with_exact_boundaries() -> None:
    clock = FakeClock()
    watch = IdleWatch(timeout=60, warning=20, clock=clock)

    assert watch.phase() == (IdlePhase.ACTIVE, 60)
    clock.advance(59.5)
    assert watch.phase() == (IdlePhase.ACTIVE, 0.5)
    clock.advance(0.5)  # exactly the timeout: the warning begins, with all its seconds left
    assert watch.phase() == (IdlePhase.WARNING, 20)
    clock.advance(15)
    assert watch.phase() == (IdlePhase.WARNING, 5)
    clock.advance(4.75)
    assert watch.phase() == (IdlePhase.WARNING, 0.25)
    clock.advance(0.25)  # exactly timeout + warning
    assert watch.phase() == (IdlePhase.EXPIRED, 0.0)
    clock.advance(3600)
    assert watch.phase() == (IdlePhase.EXPIRED, 0.0)


@pytest.mark.parametrize("idle_for", [10, 60, 70, 80, 500])
def test_touch_resets_from_any_phase(idle_for: float) -> None:
    clock = FakeClock()
    watch = IdleWatch(timeout=60, warning=20, clock=clock)
    clock.advance(idle_for)
    watch.touch()
    assert watch.phase() == (IdlePhase.ACTIVE, 60)
    clock.advance(59)
    assert watch.phase() == (IdlePhase.ACTIVE, 1)


def test_idle_watch_starts_counting_at_creation() -> None:
    clock = FakeClock(start=5.0)
    watch = IdleWatch(timeout=1, warning=1, clock=clock)
    clock.advance(1)
    assert watch.phase()[0] is IdlePhase.WARNING
