"""The outbox's bounds at their edges: exactly at the limit is taken, one byte past is not."""

from __future__ import annotations

from conversation_service.web.ws.outbox import Outbox


def frame(n: int) -> str:
    return "x" * n


async def test_data_bytes_edge() -> None:
    box = Outbox(max_frames=100, max_bytes=1000)
    assert box.try_put_data(frame(600))
    assert box.try_put_data(frame(400))  # exactly at the bound
    assert not box.try_put_data(frame(1))  # one byte past
    assert box.data_bytes == 1000
    assert await box.get() == frame(600)
    assert box.try_put_data(frame(600))  # room again once the writer took a frame


async def test_sizes_are_utf8_bytes() -> None:
    box = Outbox(max_frames=100, max_bytes=8)
    assert box.try_put_data("\U0001f600")  # 4 bytes
    assert box.try_put_data("\U0001f600")  # 8: at the bound
    assert not box.try_put_data("a")
    assert box.data_bytes == 8


async def test_one_frame_larger_than_the_bound_still_goes_alone() -> None:
    box = Outbox(max_frames=100, max_bytes=10)
    assert box.try_put_data(frame(50))
    assert not box.try_put_data(frame(1))


async def test_frame_count_bound() -> None:
    box = Outbox(max_frames=2, max_bytes=10_000)
    assert box.try_put_data(frame(1))
    assert box.try_put_data(frame(1))
    assert not box.try_put_data(frame(1))


async def test_control_budget_edge_and_pongs_are_not_queued_twice() -> None:
    box = Outbox(max_frames=100, max_bytes=100)
    assert box.try_put_data(frame(100))  # data does not use the control budget
    assert box.put_control(frame(60))
    assert box.put_control(frame(40))  # exactly at the bound
    assert not box.put_control(frame(1))  # one past: the connection closes the socket
    pongs = Outbox(max_frames=100, max_bytes=100)
    for _ in range(1000):
        assert pongs.put_control('{"type":"pong"}', pong=True)
    assert pongs.control_bytes == len('{"type":"pong"}')
    assert await pongs.get() == '{"type":"pong"}'
    assert pongs.put_control('{"type":"pong"}', pong=True)  # sent: the next ping gets its own
    assert pongs.control_bytes == len('{"type":"pong"}')
