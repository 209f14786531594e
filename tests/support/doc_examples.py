"""Examples in the docs that are tests: the files a page shows, and a runtime for them.

A page shows each file of an example as a fenced block on the line after its path, in backticks
and followed by a colon ("`project/app/cart.py`:"). ``example_files`` reads them back;
``write_example`` writes them into a folder. ``runtime`` makes what an author makes with
``python3.11 -m venv`` and ``pip install -r requirements.txt``, without the network: a virtualenv
whose site-packages holds the pinned distributions, and what they require, linked from the
distributions this interpreter has (refusing a pin this interpreter does not have).
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import venv
from pathlib import Path

from packaging.requirements import Requirement

# "`path`:", a blank line or none, then a fence of three or more backticks, the body, the same fence.
FILE_BLOCK = re.compile(
    r"^`(?P<path>[^`\s]+)`:\n\n?(?P<fence>`{3,})[\w-]*\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.MULTILINE | re.DOTALL
)


def example_files(markdown: str, *, section: str | None = None) -> dict[str, str]:
    """Each file the page shows, by its path: the text of its fenced block.

    section: only the files under this level-2 heading ("## " + section), up to the next one.
    """
    if section is not None:
        markdown = section_of(markdown, section)
    files: dict[str, str] = {}
    for match in FILE_BLOCK.finditer(markdown):
        path = match["path"]
        if path in files:
            raise ValueError(f"{path} is shown twice")
        if Path(path).is_absolute() or ".." in Path(path).parts:
            raise ValueError(f"{path} is not a path inside the example")
        files[path] = match["body"]
    return files


def section_of(markdown: str, title: str) -> str:
    """The text under the level-2 heading ``## title``, up to the next level-2 heading outside a
    fenced block (a file shown in the section may have headings of its own); KeyError if none."""
    lines, fence, found = [], None, False
    for line in markdown.splitlines(keepends=True):
        opening = re.match(r"(`{3,}|~{3,})", line)
        if fence is None and opening:
            fence = opening[1]
        elif fence is not None and line.rstrip() == fence:
            fence = None
        elif fence is None and line.startswith("## "):
            if found:
                break
            found = line.rstrip("\n") == f"## {title}"
            continue
        if found:
            lines.append(line)
    if not found:
        raise KeyError(f"no section ## {title}")
    return "".join(lines)


def write_example(files: dict[str, str], root: Path) -> Path:
    """Write the files under root (folders made as needed) and return root."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def runtime(requirements: str, into: Path) -> str:
    """A virtualenv in ``into`` with the pinned requirements (name==version lines) and what they
    require, linked from this interpreter's distributions; returns its python."""
    venv.create(into, with_pip=False, symlinks=True)
    site = into / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    pins = [Requirement(line.split("#", 1)[0]) for line in requirements.splitlines() if line.split("#", 1)[0].strip()]
    for pin in pins:
        have = importlib.metadata.version(pin.name)
        if have not in pin.specifier:
            raise LookupError(f"{pin} is pinned, this interpreter has {pin.name} {have}")
    wanted, linked = [pin.name for pin in pins], set()
    while wanted:
        name = wanted.pop()
        dist = importlib.metadata.distribution(name)
        key = dist.metadata["Name"].lower()
        if key in linked:
            continue
        linked.add(key)
        for required in dist.requires or ():
            requirement = Requirement(required)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                wanted.append(requirement.name)
        tops = {Path(str(file)).parts[0] for file in dist.files or () if not str(file).startswith("..")}
        for top in tops:
            target = Path(str(dist.locate_file(top)))
            if top != "__pycache__" and target.exists() and not (site / top).exists():
                (site / top).symlink_to(target)
    return str(into / "bin" / "python")
