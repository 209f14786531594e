"""Run untrusted candidate code under hard limits (no Django in here).

    from sandbox import Limits, run
    result = run(argv=["python3", "-m", "pytest"], workdir=checkout, limits=Limits(wall_time=120))

See docs/sandbox.md for the threat model and what each limit is enforced by.
"""

from .api import Service, run
from .config import SandboxConfig
from .errors import RuntimeBuildError, SandboxError, SandboxSetupError, SandboxUnavailable, ServeError
from .files import read_file
from .limits import GiB, KiB, Limit, Limits, MiB
from .result import Result
from .runtime import Runtime, runtime_build, runtime_key
from .serve import HttpResponse, Server, serve
from .services import PostgreSQL, Redis, ServiceError, postgres_template

__all__ = [
    "GiB",
    "HttpResponse",
    "KiB",
    "Limit",
    "Limits",
    "MiB",
    "PostgreSQL",
    "Redis",
    "Result",
    "Runtime",
    "RuntimeBuildError",
    "SandboxConfig",
    "SandboxError",
    "SandboxSetupError",
    "SandboxUnavailable",
    "ServeError",
    "Server",
    "Service",
    "ServiceError",
    "postgres_template",
    "read_file",
    "run",
    "runtime_build",
    "runtime_key",
    "serve",
]
