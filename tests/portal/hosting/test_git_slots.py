"""The count of git requests a web process serves at once (portal.hosting.slots)."""

import threading

from django.core.checks import run_checks

from portal.hosting.slots import GitSlots


def test_a_key_gets_at_most_its_share_and_all_keys_at_most_the_total():
    slots = GitSlots()
    first = [slots.take("a", total=3, per_key=2) for _ in range(3)]
    assert [isinstance(slot, str) for slot in first] == [False, False, True]
    assert first[2] == "key"
    other = slots.take("b", total=3, per_key=2)
    assert not isinstance(other, str)
    assert slots.take("c", total=3, per_key=2) == "total"
    assert slots.in_use() == (3, {"a": 2, "b": 1})


def test_a_released_slot_is_free_again_and_releasing_twice_changes_nothing():
    slots = GitSlots()
    slot = slots.take("a", total=1, per_key=1)
    slot.release()
    slot.release()
    assert slots.in_use() == (0, {})
    assert not isinstance(slots.take("a", total=1, per_key=1), str)


def test_threads_taking_and_releasing_at_once_never_exceed_the_total():
    slots = GitSlots()
    peak = []
    lock = threading.Lock()

    def work():
        for _ in range(500):
            slot = slots.take("a", total=4, per_key=4)
            if isinstance(slot, str):
                continue
            with lock:
                peak.append(slots.in_use()[0])
            slot.release()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(peak) <= 4
    assert slots.in_use() == (0, {})


def test_a_request_that_finds_every_slot_taken_waits_for_one_in_turn():
    slots = GitSlots()
    held = slots.take("a", total=1, per_key=3)
    got = []

    def wait_for_slot(key):
        slot = slots.take(key, total=1, per_key=3, wait=30)
        got.append((key, slot))
        if not isinstance(slot, str):
            slot.release()

    waiter = threading.Thread(target=wait_for_slot, args=("b",))
    waiter.start()
    while not slots.waiting():
        threading.Event().wait(0.01)
    # The waiter holds its invite's place while it waits.
    assert slots.in_use() == (1, {"a": 1, "b": 1})
    held.release()
    waiter.join(timeout=10)
    assert [key for key, slot in got if not isinstance(slot, str)] == ["b"]
    assert slots.in_use() == (0, {})


def test_a_wait_that_runs_out_is_refused_and_leaves_nothing_counted():
    slots = GitSlots()
    held = slots.take("a", total=1, per_key=3)
    assert slots.take("b", total=1, per_key=3, wait=0.2) == "total"
    assert slots.in_use() == (1, {"a": 1})
    held.release()


def test_waiting_requests_count_against_their_invites_share():
    slots = GitSlots()
    held = slots.take("x", total=1, per_key=2)
    waiter = threading.Thread(target=lambda: slots.take("a", total=1, per_key=1, wait=2))
    waiter.start()
    while not slots.waiting():
        threading.Event().wait(0.01)
    # "a" already has one request waiting: a second is refused at once, not queued.
    assert slots.take("a", total=1, per_key=1, wait=30) == "key"
    held.release()
    waiter.join(timeout=10)


def _ids() -> list[str]:
    return [message.id for message in run_checks() if message.id in ("portal.W006", "portal.W007")]


def test_a_git_cap_that_leaves_no_thread_for_pages_is_a_warning(settings):
    settings.WEB_THREADS = 4
    settings.PORTAL_GIT_MAX_REQUESTS = 2
    assert _ids() == []
    settings.PORTAL_GIT_MAX_REQUESTS = 4
    assert _ids() == ["portal.W006"]


def test_a_retired_setting_still_set_is_a_warning(monkeypatch):
    monkeypatch.setenv("PORTAL_GIT_AUTH_MAX_PER_INVITE", "5")
    [warning] = [m for m in run_checks() if m.id == "portal.W007"]
    assert "PORTAL_GIT_AUTH_MAX_PER_INVITE is set but no longer read" in warning.msg
