"""Host-level settings of the sandbox, read from the environment by default.

These describe the machine (where bwrap is, which uids are free for sandbox slots, where
cgroups go), not a single run; a single run is described by ``Limits``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

CgroupMode = Literal["auto", "v1", "v2", "none"]
_CGROUP_MODES = ("auto", "v1", "v2", "none")

DEFAULT_UID_BASE = 64000
DEFAULT_SLOTS = 32
DEFAULT_STATE_DIR = Path("/run/portal-sandbox")


def _default_bwrap(environ: Mapping[str, str]) -> str:
    configured = environ.get("PORTAL_BWRAP")
    if configured:
        return configured
    return shutil.which("bwrap") or "/usr/bin/bwrap"


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """Where things are on this host.

    - ``bwrap``: the bubblewrap binary (``PORTAL_BWRAP``; default: ``bwrap`` on PATH).
    - ``uid_base``/``slots``: concurrent runs each get their own unprivileged uid (and gid of the
      same number) from ``uid_base`` to ``uid_base + slots - 1`` (``PORTAL_SANDBOX_UID_BASE``,
      ``PORTAL_SANDBOX_SLOTS``). None of these may be a real account.
    - ``state_dir``: lock files that hand out slots (``PORTAL_SANDBOX_STATE_DIR``). Every process
      on the host that runs sandboxes must use the same directory, or two runs may share a uid.
    - ``cgroups``: ``auto`` (use what is there), ``v1``, ``v2`` or ``none`` (``PORTAL_SANDBOX_CGROUPS``).
    - ``cgroup_v2_parent``: a delegated cgroup v2 directory without processes to create run cgroups
      in (``PORTAL_SANDBOX_CGROUP``); by default ``portal-sandbox`` below the caller's own cgroup,
      which on v2 can only offer cgroup.kill and CPU accounting (no controllers: the caller's
      cgroup holds processes).
    - ``seccomp``: load the syscall filter (``PORTAL_SANDBOX_SECCOMP=0`` turns it off, for debugging).
    """

    bwrap: str = field(default_factory=lambda: _default_bwrap(os.environ))
    uid_base: int = DEFAULT_UID_BASE
    slots: int = DEFAULT_SLOTS
    state_dir: Path = DEFAULT_STATE_DIR
    cgroups: CgroupMode = "auto"
    cgroup_v2_parent: Path | None = None
    seccomp: bool = True

    def __post_init__(self) -> None:
        if self.cgroups not in _CGROUP_MODES:
            raise ValueError(f"cgroups must be one of {_CGROUP_MODES}, not {self.cgroups!r}")
        if self.uid_base < 1000 or self.uid_base + self.slots > 2**31:
            raise ValueError(f"uid_base {self.uid_base} is not a range of unprivileged uids")
        if not 1 <= self.slots <= 4096:
            raise ValueError(f"slots must be between 1 and 4096, not {self.slots}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxConfig:
        env = os.environ if environ is None else environ
        kwargs: dict[str, object] = {"bwrap": _default_bwrap(env)}
        if env.get("PORTAL_SANDBOX_UID_BASE"):
            kwargs["uid_base"] = int(env["PORTAL_SANDBOX_UID_BASE"])
        if env.get("PORTAL_SANDBOX_SLOTS"):
            kwargs["slots"] = int(env["PORTAL_SANDBOX_SLOTS"])
        if env.get("PORTAL_SANDBOX_STATE_DIR"):
            kwargs["state_dir"] = Path(env["PORTAL_SANDBOX_STATE_DIR"])
        if env.get("PORTAL_SANDBOX_CGROUPS"):
            kwargs["cgroups"] = env["PORTAL_SANDBOX_CGROUPS"]
        if env.get("PORTAL_SANDBOX_CGROUP"):
            kwargs["cgroup_v2_parent"] = Path(env["PORTAL_SANDBOX_CGROUP"])
        if env.get("PORTAL_SANDBOX_SECCOMP", "1").strip().lower() in ("0", "false", "no", "off"):
            kwargs["seccomp"] = False
        return cls(**kwargs)  # type: ignore[arg-type]
