"""The systemd units of deploy/ as systemd reads them, for tests that start what they start.

The units name the checkout of a hand install, /opt/assessment-portal (its .venv and its .env
inside); a test gives its own checkout as ``root`` and gets the same commands there. Only what
the portal's units use is understood: a specifier other than %% (systemd would replace %h with a
home directory before Celery sees it), a $VARIABLE or a prefix such as - or + in ExecStart is
refused, so that a unit systemd would read otherwise fails the tests instead of passing them.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTALL_ROOT = "/opt/assessment-portal"


@dataclass(frozen=True)
class Unit:
    name: str  # "portal-web"
    sections: dict[str, dict[str, list[str]]]  # every value of every key, in order

    def values(self, section: str, key: str) -> list[str]:
        return self.sections.get(section, {}).get(key, [])

    def value(self, section: str, key: str, default: str | None = None) -> str | None:
        """The key's last value, the one systemd uses for a single-valued setting."""
        values = self.values(section, key)
        return values[-1] if values else default

    @property
    def user(self) -> str:
        return self.value("Service", "User", "root")

    def argv(self, root: Path | None = None) -> list[str]:
        """ExecStart as the argv systemd runs, with the install path moved to ``root``."""
        [line] = self.values("Service", "ExecStart")
        if line and line[0] in "@-:+!":
            raise ValueError(f"{self.name}: ExecStart prefixes ({line[0]}) are not used by the portal's units")
        if "$" in line:
            raise ValueError(f"{self.name}: ExecStart expands $variables, which the portal's units do not use")
        return [_moved(_specifiers(self.name, word), root) for word in shlex.split(line)]

    def environment(self) -> dict[str, str]:
        """The variables of its Environment= lines (EnvironmentFile= is the portal's own .env)."""
        assignments = [word for line in self.values("Service", "Environment") for word in shlex.split(line)]
        return dict(assignment.split("=", 1) for assignment in assignments)

    def path(self, key: str, root: Path | None = None) -> str | None:
        """A path setting (WorkingDirectory, EnvironmentFile) with the install path moved to ``root``."""
        value = self.value("Service", key)
        return None if value is None else _moved(value, root)


def read_unit(name: str, directory: Path = DEPLOY) -> Unit:
    """deploy/<name>.service: sections of keys, comments and blank lines dropped, continued lines joined."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    text = re.sub(r"\\\n", " ", (directory / f"{name}.service").read_text())
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, equals, value = line.partition("=")
        if current is None or not equals:
            raise ValueError(f"{name}.service, line {number}: not a Key=value line of a [Section]")
        current.setdefault(key.strip(), []).append(value.strip())
    return Unit(name=name, sections=sections)


def unit_names(directory: Path = DEPLOY) -> list[str]:
    return sorted(path.stem for path in directory.glob("*.service"))


def _specifiers(unit: str, word: str) -> str:
    """``word`` after systemd's specifiers: %% is %, any other is refused."""
    if found := re.findall(r"%(.?)", word.replace("%%", "")):
        raise ValueError(f"{unit}: the specifier %{found[0]} in ExecStart; systemd replaces it (write %%{found[0]})")
    return word.replace("%%", "%")


def _moved(word: str, root: Path | None) -> str:
    if root is not None and (word == INSTALL_ROOT or word.startswith(INSTALL_ROOT + "/")):
        return str(root) + word[len(INSTALL_ROOT) :]
    return word
