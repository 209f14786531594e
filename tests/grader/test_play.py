"""grader.play: the steps validation and scoring share, on the tiny package's real app and tests
(LocalRunner: real subprocesses; the sandbox's runner plays the same way in tests/portal/scoring)."""

import shutil
from pathlib import Path

import pytest

from grader.local import AppStartError, LocalRunner
from grader.manifest import load_manifest
from grader.play import VISIBLE_BEFORE, VISIBLE_BESIDE, App, play, served
from grader.run import HiddenRun, run_hidden_tests
from tests.grader.tiny_package import SERVER, tiny_package

pytestmark = pytest.mark.integration

# The app writes a file where it runs, as an app keeping a SQLite database beside it would.
WRITES = SERVER.replace(
    'if __name__ == "__main__":\n', 'if __name__ == "__main__":\n    open("written-by-the-app.txt", "w").write("x")\n'
)


def _tree(tmp_path: Path, server: str = WRITES) -> tuple[Path, LocalRunner]:
    package = tiny_package(tmp_path / "package")
    tree = tmp_path / "tree"
    shutil.copytree(package / "project", tree)
    (tree / "app" / "server.py").write_text(server)
    return tree, LocalRunner(manifest=load_manifest(package))


def _hidden(runner: LocalRunner):
    def hidden(app: App, seed: int) -> HiddenRun:
        return run_hidden_tests(app.socket, manifest=runner.manifest, seed=seed, app_usage=app.usage)

    return hidden


@pytest.mark.parametrize("visible", [VISIBLE_BEFORE, VISIBLE_BESIDE])
def test_a_tree_is_played_through_every_step_and_the_app_writes_only_to_its_copy(tmp_path, visible):
    tree, runner = _tree(tmp_path)
    played = play(runner, tree, seeds=[1, 2], hidden=_hidden(runner), visible=visible)
    assert played.failure is None
    # As shipped: the visible test and ticket #1's hidden tests fail, once per seed.
    assert [o.passed for o in played.visible.outcomes] == [False]
    assert len(played.hidden) == 2
    assert all(not o.passed for run in played.hidden for o in run.outcomes if o.ticket == 1)
    assert played.app_start is not None and played.app_start == played.timings["app_start"]
    assert set(played.timings) == {"build", "visible", "app_start", "hidden"}
    # What the app wrote stayed in its copy: the tree is as it was exported.
    assert not (tree / "written-by-the-app.txt").exists()


def test_each_served_app_starts_from_the_tree_not_from_the_last_app(tmp_path):
    tree, runner = _tree(tmp_path)
    seen = []
    for _ in range(2):
        with served(runner, tree) as app:
            seen.append(app.socket)
            assert app.start_seconds >= 0
    assert seen[0] != seen[1]
    assert not (tree / "written-by-the-app.txt").exists()


def test_an_app_that_does_not_start_is_kept_as_the_failure_and_the_visible_tests_beside_it_never_run(tmp_path):
    tree, runner = _tree(tmp_path, server='raise RuntimeError("no config: PLAY-7")\n')
    played = play(runner, tree, seeds=[1], hidden=_hidden(runner), visible=VISIBLE_BESIDE)
    assert isinstance(played.failure, AppStartError)
    assert "PLAY-7" in str(played.failure)
    assert played.visible is None and played.hidden == [] and played.app_start is None
    assert not played.starved


def test_visible_tests_before_the_app_run_even_when_the_app_does_not_start(tmp_path):
    tree, runner = _tree(tmp_path, server='raise RuntimeError("no config: PLAY-8")\n')
    played = play(runner, tree, seeds=[1], hidden=_hidden(runner), visible=VISIBLE_BEFORE)
    assert isinstance(played.failure, AppStartError)
    assert [o.passed for o in played.visible.outcomes] == [False]


def test_without_visible_tests_only_the_app_and_hidden_tests_are_played(tmp_path):
    tree, runner = _tree(tmp_path)
    played = play(runner, tree, seeds=[3], hidden=_hidden(runner), visible=None, build=False)
    assert played.visible is None
    assert set(played.timings) == {"app_start", "hidden"}
    assert len(played.hidden) == 1
