"""The client-path proxy's toxics (finesse_emu/edge/core.py), on the virtual clock: bytes are never
reordered or lost but by a black hole or a reset, latency adds exactly its delay, bandwidth never
exceeds its rate, the slicer cuts and spaces, timeout and reset end the connection when they say."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from emu_base.clock import ManualClock
from emu_base.sansio import Driver
from finesse_emu.edge.core import BANDWIDTH_QUANTUM, Close, Deliver, Eof, Pipe, PipeOutput, Reset, Toxics

chunks = st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=20)
gaps = st.lists(st.floats(min_value=0, max_value=0.5), min_size=20, max_size=20)


def run(
    toxics: Toxics, data: list[bytes], gaps: list[float], seed: int = 0
) -> list[tuple[float, PipeOutput]]:
    """Feed the chunks at the given gaps on a ManualClock, run every timer; (time, output) pairs."""
    clock = ManualClock()
    seen: list[tuple[float, PipeOutput]] = []
    pipe = Pipe(clock.now(), toxics, seed)
    driver = Driver(pipe, clock, lambda o: seen.append((clock.now(), o)))
    for chunk, gap in zip(data, gaps, strict=False):
        clock.advance(gap)
        pipe.data_received(clock.now(), chunk)
        driver.pump()
    pipe.eof_received(clock.now())
    driver.pump()
    while (t := clock.next_timer()) is not None:
        clock.advance(t - clock.now())
    return seen


def delivered(seen: list[tuple[float, PipeOutput]]) -> bytes:
    return b"".join(o.data for _, o in seen if isinstance(o, Deliver))


toxic_sets = st.builds(
    Toxics,
    latency=st.floats(0, 2),
    jitter=st.floats(0, 1),
    rate=st.none() | st.floats(10, 100_000),
    slice_size=st.none() | st.integers(1, 64),
    slice_delay=st.floats(0, 0.1),
)


@settings(max_examples=200, deadline=None)
@given(toxics=toxic_sets, data=chunks, gaps=gaps, seed=st.integers(0, 2**32))
def test_bytes_are_never_reordered_or_lost(
    toxics: Toxics, data: list[bytes], gaps: list[float], seed: int
) -> None:
    seen = run(toxics, data, gaps, seed)
    assert delivered(seen) == b"".join(data)
    assert isinstance(seen[-1][1], Eof)  # the FIN after every byte
    times = [t for t, _ in seen]
    assert times == sorted(times)


@settings(max_examples=100, deadline=None)
@given(latency=st.floats(0, 5), data=chunks, gaps=gaps)
def test_latency_adds_exactly_its_delay(latency: float, data: list[bytes], gaps: list[float]) -> None:
    seen = run(Toxics(latency=latency), data, gaps)
    sent_at = [sum(gaps[: i + 1]) for i in range(len(data))]
    deliveries = [(t, o) for t, o in seen if isinstance(o, Deliver)]
    assert [o.data for _, o in deliveries] == data
    for (t, _), sent in zip(deliveries, sent_at, strict=True):
        assert abs(t - (sent + latency)) < 1e-9


@settings(max_examples=100, deadline=None)
@given(latency=st.floats(0.1, 2), jitter=st.floats(0, 0.1), data=chunks, gaps=gaps, seed=st.integers(0, 99))
def test_jitter_stays_within_its_bounds_and_repeats_with_the_seed(
    latency: float, jitter: float, data: list[bytes], gaps: list[float], seed: int
) -> None:
    toxics = Toxics(latency=latency, jitter=jitter)
    seen = run(toxics, data, gaps, seed)
    assert seen == run(toxics, data, gaps, seed)
    sent_at = [sum(gaps[: i + 1]) for i in range(len(data))]
    deliveries = [t for t, o in seen if isinstance(o, Deliver)]
    for t, sent in zip(deliveries, sent_at, strict=True):
        # Never earlier than latency - jitter; later only behind an earlier chunk (no overtaking).
        assert t >= sent + latency - jitter - 1e-9
        assert t <= max(sent_at) + latency + jitter + 1e-9


@settings(max_examples=100, deadline=None)
@given(rate=st.floats(10, 50_000), data=chunks, gaps=gaps)
def test_bandwidth_never_exceeds_its_rate(rate: float, data: list[bytes], gaps: list[float]) -> None:
    seen = run(Toxics(rate=rate), data, gaps)
    deliveries = [(t, len(o.data)) for t, o in seen if isinstance(o, Deliver)]
    assert sum(n for _, n in deliveries) == sum(map(len, data))
    for (t0, n0), (t1, _) in itertools.pairwise(deliveries):
        assert t1 >= t0 + n0 / rate - 1e-9  # each piece waits for the previous one's time on the wire
    assert all(n <= max(1, int(rate * BANDWIDTH_QUANTUM)) for _, n in deliveries)


def test_bandwidth_moves_a_large_buffer_at_its_rate() -> None:
    seen = run(Toxics(rate=1000), [b"x" * 10_000], [0.0])
    deliveries = [t for t, o in seen if isinstance(o, Deliver)]
    # 10 000 bytes at 1000 B/s: the last piece leaves after 9.9 s (the first at 0).
    assert abs(deliveries[-1] - 9.9) < 1e-9


def test_slicer_cuts_and_spaces_the_pieces() -> None:
    seen = run(Toxics(slice_size=4, slice_delay=0.25), [b"abcdefghij"], [0.0])
    assert [(t, o) for t, o in seen if isinstance(o, Deliver)] == [
        (0.0, Deliver(b"abcd")),
        (0.25, Deliver(b"efgh")),
        (0.5, Deliver(b"ij")),
    ]


def test_black_hole_drops_everything_and_closes_after_its_time() -> None:
    clock = ManualClock()
    pipe = Pipe(clock.now(), Toxics(latency=1.0))
    pipe.data_received(0.0, b"held")  # held by the latency when the black hole arrives: dropped
    pipe.set_toxics(0.5, Toxics(blackhole=True, close_after=3.0))
    pipe.data_received(1.0, b"dropped")
    assert pipe.next_deadline() == 3.5
    pipe.handle_timer(3.4)
    assert pipe.outputs() == []
    pipe.handle_timer(3.5)
    assert pipe.outputs() == [Close()]
    pipe.data_received(4.0, b"after")
    assert pipe.outputs() == [] and pipe.next_deadline() is None


def test_black_hole_without_close_holds_the_connection_until_healed() -> None:
    pipe = Pipe(0.0, Toxics(blackhole=True))
    pipe.data_received(1.0, b"lost")
    assert pipe.outputs() == [] and pipe.next_deadline() is None
    pipe.set_toxics(2.0, Toxics())  # healed: new bytes flow again
    pipe.data_received(2.0, b"new")
    pipe.eof_received(2.5)
    assert pipe.outputs() == [Deliver(b"new"), Eof()]


def test_reset_ends_the_connection_at_its_time_and_drops_what_was_held() -> None:
    pipe = Pipe(0.0)
    pipe.set_toxics(1.0, Toxics(latency=5.0, reset_after=2.0))
    pipe.data_received(1.5, b"held")
    assert pipe.next_deadline() == 3.0
    pipe.handle_timer(3.0)
    assert pipe.outputs() == [Reset()]
    pipe.handle_timer(7.0)
    assert pipe.outputs() == []


def test_reset_at_once() -> None:
    pipe = Pipe(0.0)
    pipe.set_toxics(1.0, Toxics(reset_after=0.0))
    assert pipe.outputs() == [Reset()]


def test_healing_keeps_the_order_of_bytes_already_held() -> None:
    pipe = Pipe(0.0, Toxics(latency=1.0))
    pipe.data_received(0.0, b"first")
    pipe.set_toxics(0.1, Toxics())
    pipe.data_received(0.2, b"second")  # no latency now, but never before "first"
    assert pipe.outputs() == [] and pipe.next_deadline() == 1.0
    pipe.handle_timer(1.0)
    assert pipe.data_to_send() == b"firstsecond"


def test_clean_toxics_pass_bytes_at_once() -> None:
    pipe = Pipe(0.0)
    pipe.data_received(0.0, b"x")
    assert pipe.outputs() == [Deliver(b"x")] and Toxics().clean and not Toxics(latency=1).clean
