"""Comparing one new submission with 1,000 earlier ones of the same assessment, as the worker does.

Submissions are synthetic but shaped like real ones: the built-in assessment's shipped project with
some of its reference fixes applied (2 to 4 tickets), and a new module of generated functions
(random structure, names and numbers) on one of those tickets; every 50th is a copy of an earlier
one with its names changed. Each has its whole print and one print per ticket's branch (that
ticket's fix, and the module on its ticket's branch), fingerprinted with the version's boilerplate
left out and kept as the stored JSON text (as the database hands it back). Timed, on one core (CPU
seconds of this process):

* the baseline: fingerprinting the new submission alone, whole (what every comparison starts with);
* fingerprinting it whole and per branch (the branches' files lexed once, as the worker does);
* comparing it with 1 earlier submission, whole only (decode, overlap, passages);
* with all 1,000, whole only (the comparison before branches were compared), and
* with all 1,000 whole and per branch: each branch's print against the earlier prints of the same
  ticket's branch, as the worker selects them by ref.

Prints the CPU seconds, the ratio to the baseline, the peak RSS added by the comparison with 1,000,
and whether the goal (≤ 5 s of CPU for the comparison with 1,000, branches included) is met.
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


def post_images() -> dict[int, dict[str, str]]:
    """Each reference fix applied to the shipped project, by ticket: the files it changes, after."""
    images = {}
    for patch in sorted((PACKAGE / "reference").glob("ticket-*.patch")):
        ticket = int(patch.stem.removeprefix("ticket-"))
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
            images[ticket] = {name: (Path(scratch) / name).read_text() for name in names}
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


Branches = dict[str, dict[str, str]]  # "refs/heads/issue-<n>" -> the files that branch changed


def submission(rng: random.Random, images: dict[int, dict[str, str]], earlier: list[Branches]) -> Branches:
    if earlier and rng.random() < 0.02:
        source = rng.choice(earlier)
        return {
            ref: {name: renamed(text, rng) if "routes/extra" in name else text for name, text in files.items()}
            for ref, files in source.items()
        }
    tickets = sorted(rng.sample(sorted(images), rng.randrange(2, 5)))
    branches = {f"refs/heads/issue-{ticket}": dict(images[ticket]) for ticket in tickets}
    branches[f"refs/heads/issue-{rng.choice(tickets)}"][f"app/api/routes/extra_{rng.randrange(3)}.py"] = (
        generated_module(rng)
    )
    return branches


def whole(branches: Branches) -> dict[str, str]:
    """The whole submission's files: every branch's (a file changed by several: the last's)."""
    files: dict[str, str] = {}
    for changed in branches.values():
        files.update(changed)
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
    for image in images.values():
        boilerplate |= fp.hashes_of(image)
    started = time.perf_counter()
    earlier: list[Branches] = []
    stored: list[tuple[str, str]] = []  # whole prints: (fingerprints JSON, files JSON), as the rows hold them
    by_ref: dict[str, list[tuple[str, str]]] = {}  # branch prints, by ref (the worker's query by ref)
    for _ in range(EARLIER):
        branches = submission(rng, images, earlier)
        earlier.append(branches)
        memo: dict = {}
        prints = fp.fingerprint(whole(branches), boilerplate=boilerplate, memo=memo)
        stored.append((json.dumps(prints.to_json()), json.dumps(prints.files)))
        for ref, files in branches.items():
            prints = fp.fingerprint(files, boilerplate=boilerplate, memo=memo)
            by_ref.setdefault(ref, []).append((json.dumps(prints.to_json()), json.dumps(prints.files)))
    print(f"{EARLIER} earlier submissions made and fingerprinted in {time.perf_counter() - started:.1f} s (not timed)")
    new = submission(random.Random(7), images, [])
    # The new one also copies an earlier one's module, names changed, on the same ticket's branch:
    # one match to find among them, whole and on that branch.
    for ref, files in earlier[123].items():
        copied = {name: renamed(text, rng) for name, text in files.items() if "routes/extra" in name}
        if copied:
            new.setdefault(ref, dict(images[int(ref.rsplit("-", 1)[1])])).update(copied)
    out.write_text(json.dumps({"stored": stored, "by_ref": by_ref, "new": new, "boilerplate": sorted(boilerplate)}))


def measure(source: Path) -> None:
    """In a fresh process, so that the peak RSS it reports is the comparison's own."""
    data = json.loads(source.read_text())
    stored, by_ref, new = data["stored"], data["by_ref"], data["new"]
    boilerplate = frozenset(data["boilerplate"])
    del data
    new_files = whole(new)

    def fingerprint_new():
        return fp.fingerprint(new_files, boilerplate=boilerplate)

    def fingerprint_new_with_branches():
        memo: dict = {}
        prints = {"": fp.fingerprint(new_files, boilerplate=boilerplate, memo=memo)}
        for ref, files in new.items():
            prints[ref] = fp.fingerprint(files, boilerplate=boilerplate, memo=memo)
        return prints

    def against(mine, rows) -> list[float]:
        hashes, scores = set(mine.places), []
        for fingerprints, files in rows:
            prints = json.loads(fingerprints)
            score, _ = fp.overlap(hashes, {entry[0] for entry in prints})
            if score >= FLOOR:
                theirs = fp.Prints.from_json(prints, json.loads(files))
                fp.compare(mine, theirs), fp.compare(theirs, mine)
                scores.append(score)
        return scores

    def compare_whole(rows):
        return {"": against(fingerprint_new(), rows)}

    def compare_with_branches():
        mine = fingerprint_new_with_branches()
        return {ref: against(prints, stored if ref == "" else by_ref.get(ref, [])) for ref, prints in mine.items()}

    def cpu(call, repeat: int = 3) -> tuple[float, object]:
        call()  # warm: imports, caches
        best, result = float("inf"), None
        for _ in range(repeat):
            start = time.process_time()
            result = call()
            best = min(best, time.process_time() - start)
        return best, result

    base, prints = cpu(fingerprint_new)
    with_branches, _ = cpu(fingerprint_new_with_branches)
    one, _ = cpu(lambda: compare_whole(stored[:1]))
    whole_only, _ = cpu(lambda: compare_whole(stored))
    before = peak_reset()
    full, scores = cpu(compare_with_branches)
    rss = rss_kib("VmHWM") - before
    sizes = sorted(len(json.loads(f)) for f, _ in stored)
    branch_prints = sum(len(rows) for rows in by_ref.values())
    scanned = len(stored) + sum(len(by_ref.get(ref, [])) for ref in new)
    print(f"new submission: {len(new_files)} changed files on {len(new)} branches, {len(prints.places)} fingerprints")
    print(f"earlier prints: {len(stored)} whole (median {sizes[len(sizes) // 2]} places, max {sizes[-1]})")
    print(f"  and {branch_prints} of branches ({branch_prints / len(stored):.1f} a submission), {len(by_ref)} tickets")
    print(f"baseline, fingerprint the new submission alone: {base:.3f} s CPU")
    print(
        f"fingerprint it whole and per branch:  {with_branches:.3f} s CPU  ({with_branches / base:.1f}x the baseline)"
    )
    print(f"compare with 1 earlier, whole:        {one:.3f} s CPU  ({one / base:.1f}x the baseline)")
    print(
        f"compare with {EARLIER} earlier, whole only: {whole_only:.3f} s CPU  ({whole_only / base:.1f}x the baseline)"
    )
    print(
        f"compare with {EARLIER} earlier, whole and per branch ({scanned} prints read): "
        f"{full:.3f} s CPU  ({full / base:.1f}x the baseline, {full / whole_only:.1f}x whole only)"
    )
    for ref, found in sorted(scores.items()):
        flagged = sum(score >= 0.6 for score in found)
        print(f"  {ref or 'whole'}: {len(found)} at or above the floor {FLOOR} (passages computed), {flagged} at 0.6+")
    print(f"peak RSS added by the comparison with {EARLIER}: {rss / 1024:.1f} MiB")
    met = "met" if full <= GOAL_SECONDS else "NOT met"
    print(f"goal (≤ {GOAL_SECONDS:g} s CPU with {EARLIER}, branches included): {met}")


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
