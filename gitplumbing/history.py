"""Reading history with GitPython under the same rules as every other portal git call."""

from __future__ import annotations

from pathlib import Path

import git

from gitplumbing import SAFE_CONFIG, base_env

# GitPython runs `git` itself; these keep it from reading the host's configuration and make
# pathspecs literal (a candidate's file called ':(glob)*' is a file name, not a pattern).
_ENV = {**base_env(), "GIT_LITERAL_PATHSPECS": "1"}
_ENV.pop("PATH")
_ENV.pop("HOME")


def open_repository(path: Path) -> git.Repo:
    """A GitPython Repo on ``path`` (bare or not) whose git calls ignore user and system config."""
    # A repository another user owns (the data directory's owner, read by root) is trusted by path.
    config = (*SAFE_CONFIG, ("safe.directory", str(Path(path).absolute())))
    repo = git.Repo(path)
    repo.git.update_environment(
        **_ENV,
        GIT_CONFIG_COUNT=str(len(config)),
        **{f"GIT_CONFIG_KEY_{i}": key for i, (key, _v) in enumerate(config)},
        **{f"GIT_CONFIG_VALUE_{i}": value for i, (_k, value) in enumerate(config)},
    )
    return repo
