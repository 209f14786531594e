import pytest


@pytest.fixture
def greenhouse_key(db) -> str:
    """A valid key, as the operator gives it to Greenhouse (manage.py greenhouse_key)."""
    from portal.ats.services import greenhouse_key_make

    return greenhouse_key_make()[1]
