"""Fingerprints and their comparison on their own (framework-free), with the real copydetect."""

import time

import pytest

from portal.integrity import fingerprints as fp
from tests.portal.integrity.samples import COPIED, COPIED_ROUTE, LEAKED, LEAKED_ROUTE, OWN, SHIPPED, line_of
from tests.portal.integrity.samples import shipped_files as shipped

ROUTE = "app/api/routes/reports.py"


@pytest.fixture(scope="module")
def boilerplate() -> frozenset[int]:
    return frozenset(fp.hashes_of(shipped()))


def test_a_copy_with_renamed_names_and_moved_functions_scores_high(boilerplate):
    result = fp.compare(*(fp.fingerprint(files, boilerplate=boilerplate) for files in (LEAKED, COPIED)))

    assert result.score >= 0.7 and result.shared >= 50


def test_passages_point_at_the_copied_lines_on_both_sides(boilerplate):
    result = fp.compare(*(fp.fingerprint(files, boilerplate=boilerplate) for files in (LEAKED, COPIED)))

    # as_row in the leaked file is to_dict in the copy, moved from after the members report to before it.
    leaked, copied = line_of(LEAKED_ROUTE, "def as_row"), line_of(COPIED_ROUTE, "def to_dict")
    [passage] = [p for p in result.passages if p["path"] == ROUTE and p["lines"][0] <= leaked <= p["lines"][1]]
    assert passage["other_path"] == ROUTE
    assert passage["other_lines"][0] <= copied <= passage["other_lines"][1]
    assert "def as_row(loan, now):" in passage["text"] and "def to_dict(entry, current):" in passage["other_text"]
    assert set(passage) == {"path", "lines", "text", "other_path", "other_lines", "other_text"}


def test_passages_are_few_and_short(boilerplate):
    # One long file copied whole: still at most MAX_PASSAGES passages of MAX_PASSAGE_LINES lines.
    body = "".join(LEAKED_ROUTE.replace("def ", f"def f{n}_") for n in range(6))
    files = {"app/big.py": body}
    result = fp.compare(fp.fingerprint(files), fp.fingerprint(files))

    assert result.score == 1.0 and 0 < len(result.passages) <= fp.MAX_PASSAGES
    assert all(p["lines"][1] - p["lines"][0] < fp.MAX_PASSAGE_LINES for p in result.passages)
    assert all(p["text"].count("\n") < fp.MAX_PASSAGE_LINES for p in result.passages)


def test_independent_solutions_of_the_same_ticket_score_0(boilerplate):
    own = fp.fingerprint(OWN, boilerplate=boilerplate)

    for other in (LEAKED, COPIED):
        result = fp.compare(own, fp.fingerprint(other, boilerplate=boilerplate))
        assert result.score == 0 and result.shared < fp.MIN_SHARED and result.passages == []


def test_the_shipped_project_is_boilerplate(boilerplate):
    # A submission that changed files without adding anything of its own has no fingerprint left.
    crud = (SHIPPED / "app" / "crud.py").read_text()
    reformatted = {"app/crud.py": crud.replace("    ", "\t").replace("\n\n", "\n# a comment of mine\n")}

    assert fp.fingerprint(reformatted, boilerplate=boilerplate).places == {}


def test_fingerprints_are_the_same_in_every_process():
    # Stored by one worker, compared by another: no per-process salt (copydetect's hashed_kgrams has one).
    import os
    import subprocess
    import sys

    code = (
        "import sys; from portal.integrity import fingerprints as fp; "
        "print(sorted(fp.fingerprint({'app/r.py': sys.stdin.read()}).places))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            input=LEAKED_ROUTE,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }

    here = sorted(fp.fingerprint({"app/r.py": LEAKED_ROUTE}).places)
    assert runs == {str(here)} and len(here) > 20
    assert max(here) < 2**53  # exact in any JSON reader


def test_stored_form_round_trips(boilerplate):
    prints = fp.fingerprint(LEAKED, boilerplate=boilerplate)
    again = fp.Prints.from_json(prints.to_json(), prints.files)

    assert again.places == prints.places and fp.compare(again, prints).score == 1.0


# Hostile input: whatever a candidate pushes, the work is bounded and nothing raises.


def test_binary_undecodable_and_oversized_files_are_left_out():
    raw = {
        "logo.png": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)) * 10,
        "latin1.py": "caf\xe9 = 1\n".encode("latin-1"),
        "huge.py": b"x = 1\n" * (fp.MAX_FILE_BYTES // 6 + 1),
        "ok.py": b"print('fine')\n",
    }
    files, skipped = fp.readable_files(raw)

    assert list(files) == ["ok.py"]
    assert sorted(s.split(":")[0] for s in skipped) == ["huge.py", "latin1.py", "logo.png"]


def test_file_count_and_total_size_are_capped():
    raw = {f"junk/f{n:05d}.py": f"value_{n} = {n} * {n}\n".encode() * 400 for n in range(2_000)}
    files, skipped = fp.readable_files(raw)

    assert len(files) <= fp.MAX_FILES and sum(len(t) for t in files.values()) <= fp.MAX_TOTAL_BYTES
    assert len(files) + len(skipped) == 2_000


def test_hostile_names_are_kept_as_readable_text():
    raw = {"evil\nname.py": b"a = 1\n", "../../etc/passwd.py": b"b = 2\n", "bad\udcff.py": b"c = 3\n", "x" * 5000: b""}
    files, _ = fp.readable_files(raw)

    assert "evil\ufffdname.py" in files and "../../etc/passwd.py" in files and "bad\ufffd.py" in files
    assert all(name.isprintable() and len(name) <= fp.MAX_PATH_CHARS for name in files)


@pytest.mark.parametrize(
    "name, text",
    [
        ("parens.py", "(" * fp.MAX_FILE_BYTES),
        ("quotes.py", '"""' + "a\\" * (fp.MAX_FILE_BYTES // 2 - 2)),
        ("brackets.js", "[" * fp.MAX_FILE_BYTES),
        ("strings.rb", '"#{' * (fp.MAX_FILE_BYTES // 3)),
        ("nul.py", "a = 1\0" * 1000),
        ("empty.py", ""),
        ("one.py", "x"),
    ],
)
def test_pathological_token_streams_do_not_raise(name, text):
    prints = fp.fingerprint({name: text})

    assert len(prints.places) <= fp.MAX_PRINTS
    assert all(1 <= p.first <= p.last for places in prints.places.values() for p in places)


def test_the_worst_token_stream_costs_a_bounded_multiple_of_ordinary_code():
    # CPU time, as a ratio to ordinary code of the same size measured in the same test.
    ordinary = {"ordinary.py": (LEAKED_ROUTE * 40)[: fp.MAX_FILE_BYTES]}
    worst = {"worst.py": "(" * fp.MAX_FILE_BYTES}
    fp.fingerprint(ordinary)  # imports copydetect

    def cpu(files) -> float:
        start = time.process_time()
        fp.fingerprint(files)
        return time.process_time() - start

    assert cpu(worst) <= 10 * cpu(ordinary) + 0.5


def test_a_branch_sharing_files_with_the_whole_submission_reuses_their_prints(boilerplate):
    memo: dict = {}
    whole = fp.fingerprint(LEAKED | {"app/own.py": OWN[ROUTE]}, boilerplate=boilerplate, memo=memo)
    lexed = dict(memo)
    branch = fp.fingerprint({ROUTE: LEAKED[ROUTE]}, boilerplate=boilerplate, memo=memo)

    assert memo == lexed  # nothing new was lexed for the branch
    assert branch.to_json() == fp.fingerprint({ROUTE: LEAKED[ROUTE]}, boilerplate=boilerplate).to_json()
    assert branch.hashes <= whole.hashes
