"""The poll gate: slots the SDK reserves per poll, closed to new polls when a worker retires."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from workerplane.worker.poll_gate import PollGate, quiet_retirement_setting


@dataclass
class _Used:
    permit: Any
    slot_info: Any = None


@dataclass
class _Released:
    permit: Any
    slot_info: Any = None


RESERVE: Any = None  # the gate does not read the reservation context


async def test_a_poll_holds_its_slot_until_it_brings_a_task_or_comes_back_empty() -> None:
    gate = PollGate(2)
    first = await gate.reserve_slot(RESERVE)
    second = await gate.reserve_slot(RESERVE)
    assert gate.open_polls == 2
    third = asyncio.create_task(gate.reserve_slot(RESERVE))
    await asyncio.sleep(0.01)
    assert not third.done()  # both slots are taken

    gate.mark_slot_used(_Used(first))  # the poll brought a task: no longer an open poll
    assert gate.open_polls == 1
    gate.release_slot(_Released(second))  # the poll came back empty: its slot is free again
    assert gate.open_polls == 0
    await asyncio.wait_for(third, 1)
    assert gate.open_polls == 1

    gate.release_slot(_Released(first, slot_info=object()))  # the task finished
    assert gate.open_polls == 1
    assert gate.try_reserve_slot(RESERVE) is not None  # the finished task's slot


async def test_a_closed_gate_opens_no_poll_and_says_when_the_open_ones_returned() -> None:
    gate = PollGate(4)
    polls = [await gate.reserve_slot(RESERVE) for _ in range(2)]
    gate.close()
    pending = asyncio.create_task(gate.reserve_slot(RESERVE))
    assert gate.try_reserve_slot(RESERVE) is None
    assert await gate.polls_returned(0.05) is False

    waiting = asyncio.create_task(gate.polls_returned(5))
    gate.mark_slot_used(_Used(polls[0]))  # a task came: it runs as usual
    await asyncio.sleep(0.01)
    assert not waiting.done()
    gate.release_slot(_Released(polls[1]))  # the other poll returned empty
    assert await asyncio.wait_for(waiting, 1) is True
    # Slots freed after closing are not handed out: no new poll opens.
    gate.release_slot(_Released(polls[0], slot_info=object()))
    await asyncio.sleep(0.01)
    assert not pending.done()
    pending.cancel()


async def test_the_sdk_may_release_slots_from_its_own_threads() -> None:
    gate = PollGate(1)
    permit = await gate.reserve_slot(RESERVE)
    gate.close()
    waiting = asyncio.create_task(gate.polls_returned(5))
    await asyncio.sleep(0.01)
    thread = threading.Thread(target=gate.release_slot, args=(_Released(permit),))
    thread.start()
    thread.join()
    assert await asyncio.wait_for(waiting, 1) is True


async def test_a_slot_released_twice_is_counted_once() -> None:
    gate = PollGate(1)
    permit = await gate.reserve_slot(RESERVE)
    gate.mark_slot_used(_Used(permit))
    gate.mark_slot_used(_Used(permit))
    assert gate.open_polls == 0


def test_the_setting_is_auto_on_or_off_and_off_by_default() -> None:
    assert quiet_retirement_setting(None) == "off"
    assert quiet_retirement_setting("auto") == "auto"
    assert quiet_retirement_setting(" ON ") == "on"
    with pytest.raises(ValueError, match="WORKERPLANE_QUIET_RETIREMENT must be auto, on or off"):
        quiet_retirement_setting("sometimes")
