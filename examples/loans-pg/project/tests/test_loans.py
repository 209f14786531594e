import threading
import time

from sqlalchemy import text

from app import crud
from app.db import SessionLocal, engine


def test_the_last_unit_is_lent_once(client, make_tool):
    tool = make_tool(units=1)
    first = client.post("/loans", json={"tool_id": tool["id"], "member": "Ann"})
    second = client.post("/loans", json={"tool_id": tool["id"], "member": "Bob"})
    assert first.status_code == 201, first.text
    assert second.status_code == 409, second.text


def test_a_loan_cannot_be_returned_twice(client, make_tool):
    loan = client.post("/loans", json={"tool_id": make_tool()["id"], "member": "Ann"}).json()
    assert client.post(f"/loans/{loan['id']}/return").status_code == 200
    assert client.post(f"/loans/{loan['id']}/return").status_code == 409


def waiting_for_a_lock() -> bool:
    """Whether a session of this database is waiting for a lock another one holds."""
    with engine.connect() as connection:
        query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        return connection.scalar(text(query)) > 0


def test_two_loans_of_the_last_unit_at_the_same_moment_cannot_both_succeed(make_tool):
    tool = make_tool(units=1)
    first, second = SessionLocal(), SessionLocal()
    outcome = []

    def borrow_second():
        try:
            crud.borrow(second, tool["id"], "Bob")
            second.commit()
            outcome.append("lent")
        except crud.NoUnitLeft:
            second.rollback()
            outcome.append("refused")

    try:
        crud.borrow(first, tool["id"], "Ann")  # lent, not yet committed: Ann's request is still being served
        thread = threading.Thread(target=borrow_second)
        thread.start()
        # Bob's request is served meanwhile: until it has an answer, or waits for Ann's to finish.
        deadline = time.monotonic() + 30
        while thread.is_alive() and not waiting_for_a_lock() and time.monotonic() < deadline:
            time.sleep(0.02)
        first.commit()
        thread.join(timeout=30)
        assert outcome == ["refused"], "both members were lent the last unit"
    finally:
        first.close()
        second.close()
