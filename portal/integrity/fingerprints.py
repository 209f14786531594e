"""Fingerprints of a submission's files, and how much two of them share: evidence, never a verdict.

Framework-free (an import contract in pyproject.toml keeps Django out): the worker's services call it,
and bench/similarity.py measures it alone.

How, as MOSS does it (Schleimer, Wilkerson, Aiken, "Winnowing", SIGMOD 2003), with copydetect's own
parts (``copydetect.utils``):

1. each file is tokenised by pygments and filtered (``filter_code``): names become V, F or O,
   strings S, whitespace and comments go. Renaming identifiers, reformatting or rewording comments
   changes nothing that is compared;
2. every K-character run of the filtered text is hashed, and winnowing (``winnow``) keeps the
   smallest hash of every WINDOW consecutive ones: any shared run of at least K + WINDOW - 1
   filtered characters is guaranteed a shared fingerprint;
3. fingerprints of *boilerplate* are dropped: the shipped project's files and the reference fixes'
   post-images, which every honest candidate is expected to share;
4. two submissions' score is the share of the smaller one's fingerprints found in the other; below
   MIN_SHARED shared fingerprints it is 0 (a handful of common idioms is not evidence).

The k-gram hash is ours, not copydetect's ``hashed_kgrams``: that one is Python's ``hash()`` of a
string, salted per process (PYTHONHASHSEED), and fingerprints are stored and compared across worker
processes. Ours is a polynomial hash of the filtered text's code points, the same everywhere,
kept to 52 bits so that JSON readers of any language hold it exactly.

Everything here comes from a candidate: file names, sizes, encodings, content and count. So files
are capped (MAX_FILES, MAX_FILE_BYTES, MAX_TOTAL_BYTES), binary or undecodable ones are skipped,
only well-known languages go through a lexer (others are compared as plain text), and the number
of places kept per fingerprint and per submission is bounded: the work is bounded whatever is pushed.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

# Measured on the built-in assessment's submissions (docs/integrity.md): K filtered characters make
# about one statement; any shared run of K + WINDOW - 1 = 29 filtered characters is caught.
K = 22
WINDOW = 8
# Fewer shared fingerprints than this score 0: honest pairs share up to a few (a common idiom).
MIN_SHARED = 8

# Caps on what a submission may make us read and keep: a take-home's changes are tens of kB; lexing
# costs about 1 s of CPU per 100 kB of the worst token stream (one token per character).
MAX_FILES = 300
MAX_FILE_BYTES = 128 * 1024
MAX_TOTAL_BYTES = 512 * 1024
MAX_PATH_CHARS = 400
# Places remembered per fingerprint (repeated code), and fingerprints per submission.
MAX_PLACES = 4
MAX_PRINTS = 50_000

# Passages shown for one match: at most this many, each at most this many lines.
MAX_PASSAGES = 10
MAX_PASSAGE_LINES = 40
# Fingerprints this many lines apart on both sides still make one passage.
PASSAGE_GAP = 2

_HASH_BITS = 52
_MASK = (1 << _HASH_BITS) - 1

# Languages put through pygments, by file suffix: the lexers of the runtimes the portal runs and a
# few close ones. Other text is compared as it is (no candidate-chosen lexer runs).
LEXERS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".go": "go",
    ".java": "java",
    ".kt": "kotlin",
    ".rb": "ruby",
    ".rs": "rust",
    ".php": "php",
    ".cs": "csharp",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".sql": "sql",
    ".sh": "bash",
}


@dataclass(frozen=True)
class Place:
    """Where a fingerprint comes from: a file and its first and last line (1-based)."""

    path: str
    first: int
    last: int


@dataclass
class Prints:
    """A submission's fingerprints (hash -> the places it comes from) and the text of its files."""

    places: dict[int, list[Place]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def hashes(self) -> set[int]:
        return set(self.places)

    def to_json(self) -> list[list]:
        """As stored: [[hash, path, first, last], ...], one entry per place."""
        return [[h, p.path, p.first, p.last] for h, places in self.places.items() for p in places]

    @classmethod
    def from_json(cls, data: Iterable, files: Mapping[str, str] | None = None) -> Prints:
        places: dict[int, list[Place]] = {}
        for h, path, first, last in data:
            places.setdefault(int(h), []).append(Place(str(path), int(first), int(last)))
        return cls(places=places, files=dict(files or {}))


@dataclass(frozen=True)
class Comparison:
    score: float  # 0..1: the share of the smaller side's fingerprints found in the other
    shared: int  # fingerprints in common
    passages: list[dict]  # the matching line spans side by side (see compare)


def readable_files(raw: Mapping[str, bytes]) -> tuple[dict[str, str], list[str]]:
    """The files worth fingerprinting as text, within the caps; and what was left out, with why.

    In path order; a file is skipped if it is binary (a NUL byte) or not UTF-8, larger than
    MAX_FILE_BYTES, past MAX_FILES or past MAX_TOTAL_BYTES in all. Names are kept as readable text.
    """
    kept: dict[str, str] = {}
    skipped: list[str] = []
    total = 0
    for path in sorted(raw):
        data = raw[path]
        name = readable_path(path)
        if name in kept:
            skipped.append(f"{name}: the same readable name as another file")
        elif len(kept) >= MAX_FILES:
            skipped.append(f"{name}: past {MAX_FILES} files")
        elif len(data) > MAX_FILE_BYTES:
            skipped.append(f"{name}: larger than {MAX_FILE_BYTES // 1024} KiB")
        elif total + len(data) > MAX_TOTAL_BYTES:
            skipped.append(f"{name}: past {MAX_TOTAL_BYTES // 1024} KiB in all")
        elif b"\0" in data:
            skipped.append(f"{name}: binary")
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                skipped.append(f"{name}: not UTF-8 text")
                continue
            kept[name] = text
            total += len(data)
    return kept, skipped


def readable_path(path: str) -> str:
    """A candidate's file name as text that any store and page can hold: undecodable bytes and
    control characters replaced, the length capped."""
    text = os.fsencode(path).decode("utf-8", errors="replace") if isinstance(path, str) else str(path)
    text = "".join(ch if ch.isprintable() else "\ufffd" for ch in text)
    return text if len(text) <= MAX_PATH_CHARS else text[: MAX_PATH_CHARS - 1] + "\u2026"


def fingerprint(
    files: Mapping[str, str], *, boilerplate: set[int] | frozenset[int] = frozenset(), memo: dict | None = None
) -> Prints:
    """The winnowed fingerprints of ``files`` (path -> text), less those in ``boilerplate``.

    Files past the caps are left out (see readable_files, which callers use on bytes first). ``memo``,
    shared by the calls for one submission, keeps each file's prints by path and text: a branch's
    files are mostly the whole submission's, lexed once.
    """
    prints = Prints()
    total = 0
    for path in sorted(files)[:MAX_FILES]:
        text = files[path]
        if len(text) > MAX_FILE_BYTES or "\0" in text or total + len(text) > MAX_TOTAL_BYTES:
            continue
        total += len(text)
        prints.files[path] = text
        if memo is None:
            found = _file_prints(path, text)
        elif (found := memo.get((path, text))) is None:
            found = memo[path, text] = _file_prints(path, text)
        for h, first, last in found:
            if h in boilerplate:
                continue
            places = prints.places.setdefault(h, [])
            if len(places) < MAX_PLACES:
                places.append(Place(path, first, last))
            if len(prints.places) >= MAX_PRINTS:
                return prints
    return prints


def hashes_of(files: Mapping[str, str]) -> set[int]:
    """Every fingerprint of ``files``, boilerplate included: what a project's boilerplate is made of."""
    return fingerprint(files).hashes


def overlap(a: set[int], b: set[int]) -> tuple[float, int]:
    """(score, shared) of two fingerprint sets: the smaller side's share found in the other, 0
    below MIN_SHARED shared fingerprints."""
    if len(a) > len(b):
        a, b = b, a
    shared = len(a & b)
    if shared < MIN_SHARED or not a:
        return 0.0, shared
    return shared / len(a), shared


def compare(a: Prints, b: Prints) -> Comparison:
    """How much ``a`` and ``b`` share, and where.

    ``passages`` are the matching line spans side by side, merged where they run on together, the
    largest MAX_PASSAGES, each cut to MAX_PASSAGE_LINES lines, in ``a``'s file and line order:
    ``{"path", "lines": [first, last], "text", "other_path", "other_lines": [first, last], "other_text"}``.
    """
    score, shared = overlap(set(a.places), set(b.places))
    if score == 0:
        return Comparison(score=0.0, shared=shared, passages=[])
    return Comparison(score=score, shared=shared, passages=passages(a, b))


def passages(a: Prints, b: Prints) -> list[dict]:
    pairs = []
    for h in a.places.keys() & b.places.keys():
        there = b.places[h][0]
        pairs += [(here, there) for here in a.places[h]]
    pairs.sort(key=lambda pair: (pair[0].path, pair[0].first, pair[1].path, pair[1].first))
    merged: list[list] = []  # [path, first, last, other_path, other_first, other_last, prints]
    for here, there in pairs:
        if merged:
            m = merged[-1]
            if (
                m[0] == here.path
                and m[3] == there.path
                and here.first <= m[2] + PASSAGE_GAP
                and there.first <= m[5] + PASSAGE_GAP
                and there.last >= m[4] - PASSAGE_GAP
            ):
                m[2], m[4], m[5], m[6] = max(m[2], here.last), min(m[4], there.first), max(m[5], there.last), m[6] + 1
                continue
        merged.append([here.path, here.first, here.last, there.path, there.first, there.last, 1])
    largest = sorted(merged, key=lambda m: -m[6])[:MAX_PASSAGES]
    largest.sort(key=lambda m: (m[0], m[1]))
    return [_passage(m, a.files, b.files) for m in largest]


def _passage(m: list, files: Mapping[str, str], other_files: Mapping[str, str]) -> dict:
    path, first, last, other_path, other_first, other_last, _ = m
    last = min(last, first + MAX_PASSAGE_LINES - 1)
    other_last = min(other_last, other_first + MAX_PASSAGE_LINES - 1)
    return {
        "path": path,
        "lines": [first, last],
        "text": _lines(files.get(path, ""), first, last),
        "other_path": other_path,
        "other_lines": [other_first, other_last],
        "other_text": _lines(other_files.get(other_path, ""), other_first, other_last),
    }


def _lines(text: str, first: int, last: int) -> str:
    return "\n".join(text.splitlines()[first - 1 : last])


def _file_prints(path: str, text: str) -> list[tuple[int, int, int]]:
    """(hash, first line, last line) of each fingerprint winnowing selects in one file."""
    np, utils = _copydetect()
    filtered, offsets = _filtered(path, text)
    if len(filtered) < K:
        return []
    codes = np.frombuffer(filtered.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    count = len(codes) - K + 1
    h = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(K):  # polynomial hash mod 2**64, then mixed and cut to 52 bits
            h = h * np.uint64(1_000_003) + codes[j : j + count]
        h ^= h >> np.uint64(29)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(32)
    hashes = (h & np.uint64(_MASK)).astype(np.int64)
    selected, idx = utils.winnow(hashes, WINDOW, remove_duplicates=False)
    starts = _original(np, idx, offsets)
    ends = _original(np, idx + (K - 1), offsets)
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    lines = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
    found = []
    for value, start, end in zip(selected.tolist(), starts.tolist(), ends.tolist(), strict=True):
        first = min(bisect.bisect_left(newlines, start) + 1, lines)
        last = max(first, min(bisect.bisect_left(newlines, end) + 1, lines))
        found.append((int(value), first, last))
    return found


def _original(np, idx, offsets):
    """Positions in the filtered text back to positions in the file, as copydetect maps them."""
    if len(offsets) == 0:
        return idx
    at = np.clip(np.searchsorted(offsets[:, 0], idx), 0, offsets.shape[0] - 1)
    return idx + offsets[:, 1][at]


def _filtered(path: str, text: str):
    """The filtered text of a file and copydetect's offsets back to the original (none for plain text)."""
    np, utils = _copydetect()
    language = LEXERS.get(os.path.splitext(path)[1].lower())
    if language is None:
        return text, np.array([])
    return utils.filter_code(text, path, language)


@cache
def _copydetect():
    """numpy and copydetect.utils, imported on first use: a web process never pays for them.

    copydetect imports matplotlib's pyplot on import (for its HTML reports): no display is needed.
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    import numpy
    from copydetect import utils

    return numpy, utils
