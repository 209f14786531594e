"""Comparing one new submission with 1,000 earlier ones of the same assessment, as the worker does.

Submissions are synthetic but shaped like real ones: the built-in assessment's shipped project with
some of its reference fixes applied, and a new module of generated functions (random structure,
names and numbers); every 50th is a copy of an earlier one with its names changed. They are
fingerprinted with the version's boilerplate left out and kept as the stored JSON text (as the
database hands it back). Timed, on one core (CPU seconds of this process):

* the baseline: fingerprinting the new submission alone (what every comparison starts with);
* comparing it with 1 earlier submission (decode, overlap, passages), and
* with all 1,000: decode every stored print, overlap with each, passages for those above the floor.

Prints the CPU seconds, the ratio to the baseline, the peak RSS added by the comparison with 1,000,
and whether the goal (≤ 5 s of CPU for the comparison with 1,000) is met.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from portal.integrity import fingerprints as fp  # noqa: E402

EARLIER = 1_000
GOAL_SECONDS = 5.0
FLOOR = 0.05  # portal.integrity.services.MATCH_FLOOR (not imported: it needs Django)
PACKAGE = ROOT / "assessment_app"
SHIPPED = PACKAGE / "project"


def shipped_files() -> dict[str, str]:
    return {p.relative_to(SHIPPED).as_posix(): p.read_text() for p in sorted(SHIPPED.rglob("*")) if p.is_file()}


def post_images() -> list[dict[str, str]]:
    """Each reference fix applied to the shipped project: the files it changes, after."""
    images = []
    for patch in sorted((PACKAGE / "reference").glob("ticket-*.patch")):
        with tempfile.TemporaryDirectory() as scratch:
            subprocess.run(["git", "init", "-q", scratch], check=True)
            names = subprocess.run(
                ["git", "apply", "--numstat", str(patch)], cwd=scratch, capture_output=True, text=True, check=True
            ).stdout.split("\n")
            names = [line.split("\t", 2)[2] for line in names if line]
            for name in names:
                (Path(scratch) / name).parent.mkdir(parents=True, exist_ok=True)
                (Path(scratch) / name).write_text((SHIPPED / name).read_text())
            subprocess.run(["git", "apply", str(patch)], cwd=scratch, check=True)
            images.append({name: (Path(scratch) / name).read_text() for name in names})
    return images


def _name(rng: random.Random) -> str:
    return rng.choice(["loan", "book", "member", "page", "item", "row", "total", "count", "query", "limit"]) + str(
        rng.randrange(1000)
    )


def _statement(rng: random.Random, depth: int = 0) -> list[str]:
    a, b, c = _name(rng), _name(rng), _name(rng)
    n, m = rng.randrange(2, 500), rng.randrange(1, 60)
    kinds = [
        [f"{a} = {b} * {n} + {c} // {m}"],
        [f"{a} = crud.{b}(db, {c}, limit={n})"],
        [f"if {a} is None or {a} > {n}:", f"    raise HTTPException(status_code={400 + m}, detail='{b} {n}')"],
        [f"{a} = [{b}.{c} for {b} in {a} if {b}.{c} >= {n}]"],
        [f"{a}.sort(key=lambda {b}: (-{b}[{m % 3}], {b}[{n % 4}]))"],
        [f"{a} = {{'{b}': {c}, 'n': {n}, 'm': {m}}}"],
        [f"while {a} < {n}:", f"    {a} += {m}"],
        [f"{a} = sum({b} for {b} in range({n}) if {b} % {m} == {n % 7})"],
    ]
    if depth == 0:
        kinds.append([f"for {a} in {b}:", *("    " + line for line in _statement(rng, 1))])
        kinds.append(["try:", *("    " + line for line in _statement(rng, 1)), f"except {a}Error:", "    pass"])
    return rng.choice(kinds)


def generated_module(rng: random.Random) -> str:
    lines = ["from fastapi import APIRouter, HTTPException", "", "from app import crud", ""]
    for _ in range(rng.randrange(3, 9)):
        lines += ["", f"def {_name(rng)}(db, {_name(rng)}, {_name(rng)}={rng.randrange(100)}):"]
        for _ in range(rng.randrange(4, 14)):
            lines += ["    " + line for line in _statement(rng)]
        lines.append(f"    return {_name(rng)}")
    return "\n".join(lines) + "\n"


def renamed(text: str, rng: random.Random) -> str:
    """The same code with every generated name changed (the number a name ends with), literals kept."""
    shift = rng.randrange(1, 999)
    return re.sub(r"([a-z])(\d+)", lambda m: f"{m.group(1)}{(int(m.group(2)) + shift) % 1000}", text)


def submission(rng: random.Random, images: list[dict[str, str]], earlier: list[dict[str, str]]) -> dict[str, str]:
    if earlier and rng.random() < 0.02:
        source = rng.choice(earlier)
        return {
            name: renamed(text, rng) if name.startswith("app/api/routes/extra") else text
            for name, text in source.items()
        }
    files: dict[str, str] = {}
    for image in rng.sample(images, rng.randrange(1, len(images) + 1)):
        files.update(image)
    files[f"app/api/routes/extra_{rng.randrange(3)}.py"] = generated_module(rng)
    return files


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def peak_reset() -> int:
    """Start a new peak here (Linux: clear_refs 5 resets VmHWM); the resident set now, in KiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return rss_kib("VmRSS")


def prepare(out: Path) -> None:
    """Make and fingerprint the earlier submissions and the new one; save them for the measuring process."""
    rng = random.Random(20261207)
    images = post_images()
    boilerplate = fp.hashes_of(shipped_files())
    for image in images:
        boilerplate |= fp.hashes_of(image)
    started = time.perf_counter()
    earlier_files: list[dict[str, str]] = []
    stored: list[tuple[str, str]] = []  # (fingerprints JSON, files JSON), as the rows hold them
    for _ in range(EARLIER):
        files = submission(rng, images, earlier_files)
        earlier_files.append(files)
        prints = fp.fingerprint(files, boilerplate=boilerplate)
        stored.append((json.dumps(prints.to_json()), json.dumps(prints.files)))
    print(f"{EARLIER} earlier submissions made and fingerprinted in {time.perf_counter() - started:.1f} s (not timed)")
    new_files = submission(random.Random(7), images, [])
    # The new one also copies an earlier one's module, names changed: one match to find among them.
    new_files |= {name: renamed(text, rng) for name, text in earlier_files[123].items() if "routes/extra" in name}
    out.write_text(json.dumps({"stored": stored, "new": new_files, "boilerplate": sorted(boilerplate)}))


def measure(source: Path) -> None:
    """In a fresh process, so that the peak RSS it reports is the comparison's own."""
    data = json.loads(source.read_text())
    stored, new_files, boilerplate = data["stored"], data["new"], frozenset(data["boilerplate"])
    del data

    def fingerprint_new():
        return fp.fingerprint(new_files, boilerplate=boilerplate)

    def compare_with(rows):
        mine = fingerprint_new()
        hashes, scores = set(mine.places), []
        for fingerprints, files in rows:
            prints = json.loads(fingerprints)
            score, _ = fp.overlap(hashes, {entry[0] for entry in prints})
            if score >= FLOOR:
                theirs = fp.Prints.from_json(prints, json.loads(files))
                fp.compare(mine, theirs), fp.compare(theirs, mine)
                scores.append(score)
        return scores

    def cpu(call, repeat: int = 3) -> tuple[float, object]:
        call()  # warm: imports, caches
        best, result = float("inf"), None
        for _ in range(repeat):
            start = time.process_time()
            result = call()
            best = min(best, time.process_time() - start)
        return best, result

    base, prints = cpu(fingerprint_new)
    one, _ = cpu(lambda: compare_with(stored[:1]))
    before = peak_reset()
    full, scores = cpu(lambda: compare_with(stored))
    rss = rss_kib("VmHWM") - before
    sizes = sorted(len(json.loads(f)) for f, _ in stored)
    flagged = sum(score >= 0.6 for score in scores)
    print(f"new submission: {len(new_files)} changed files, {len(prints.places)} fingerprints beyond boilerplate")
    print(f"earlier prints: median {sizes[len(sizes) // 2]} places, max {sizes[-1]}")
    print(f"baseline, fingerprint the new submission alone: {base:.3f} s CPU")
    print(f"compare with 1 earlier:     {one:.3f} s CPU  ({one / base:.1f}x the baseline)")
    print(f"compare with {EARLIER} earlier: {full:.3f} s CPU  ({full / base:.1f}x the baseline)")
    print(f"  {len(scores)} earlier ones at or above the floor {FLOOR} (passages computed), {flagged} at 0.6 or more")
    print(f"peak RSS added by the comparison with {EARLIER}: {rss / 1024:.1f} MiB")
    print(f"goal (≤ {GOAL_SECONDS:g} s CPU with {EARLIER}): {'met' if full <= GOAL_SECONDS else 'NOT met'}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        measure(Path(sys.argv[2]))
        return
    with tempfile.TemporaryDirectory(prefix="bench-similarity-") as scratch:
        data = Path(scratch) / "submissions.json"
        prepare(data)
        subprocess.run([sys.executable, __file__, "--measure", str(data)], check=True)


if __name__ == "__main__":
    main()
