"""Named hooks: how lower apps reach higher ones (portal.core.hooks)."""

import pytest

from portal.core.checks import check_hooks
from portal.core.hooks import HOOKS, Hook
from portal.hosting.hooks import push_recorded
from portal.scoring.services import push_score


def test_a_recorded_push_reaches_scoring_through_its_hook():
    assert push_score in push_recorded.receivers
    assert HOOKS["hosting.push_recorded"] is push_recorded


def test_the_portal_refuses_to_start_when_pushes_would_go_unscored():
    push_recorded.disconnect(push_score)
    try:
        errors = check_hooks(None)
        with pytest.raises(RuntimeError, match=r"hosting\.push_recorded has no receiver"):
            push_recorded(push=None)
    finally:
        push_recorded.connect(push_score)
    assert [error.id for error in errors] == ["portal.E005"]
    assert check_hooks(None) == []


def test_a_receivers_failure_reaches_the_caller_and_later_receivers_are_not_called():
    hook = Hook("tests.failing", "a hook of this test")
    called = []

    def fails(**kwargs):
        raise ValueError("no")

    hook.connect(fails)
    hook.connect(lambda **kwargs: called.append(kwargs))
    try:
        with pytest.raises(ValueError, match="no"):
            hook(value=1)
        assert called == []
        hook.disconnect(fails)
        hook(value=2)
        assert called == [{"value": 2}]
    finally:
        del HOOKS["tests.failing"]


def test_a_hook_name_is_declared_once():
    with pytest.raises(ValueError, match="declared twice"):
        Hook("hosting.push_recorded", "again")
