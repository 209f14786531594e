"""Memo: results kept by key, bounded in entries and in what they hold."""

from dataclasses import dataclass

from portal.core.memo import OBJECT, Memo, weight


def test_a_result_is_computed_once_and_the_least_recently_used_go_first():
    memo = Memo(2, budget=1_000_000)
    computed = []

    def compute(key):
        return lambda: computed.append(key) or f"result of {key}"

    assert memo.get(("a",), compute("a")) == "result of a"
    assert memo.get(("a",), compute("a")) == "result of a"
    memo.get(("b",), compute("b"))
    memo.get(("a",), compute("a"))  # a is now the most recently used
    memo.get(("c",), compute("c"))  # b goes
    assert computed == ["a", "b", "c"]
    assert memo.entries() == [("a",), ("c",)]


def test_what_the_results_hold_is_bounded_and_a_huge_one_is_never_kept():
    """A candidate's commit subjects and test names are as long as they like: the memo keeps at most
    its budget of text, and a result over a sixteenth of it is computed every time."""
    memo = Memo(1000, budget=20_000)
    for n in range(10):
        memo.get((n,), lambda: ("x" * 800,))
    assert memo.entries() == [(n,) for n in range(10)]
    for n in range(10, 30):
        memo.get((n,), lambda: ("x" * 800,))
    # About 1,000 each (the text and its objects): 20,000 hold 19 or so, the oldest went first.
    kept = memo.entries()
    assert 15 <= len(kept) <= 20 and kept[-1] == (29,) and (0,) not in kept

    calls = []
    huge = ("y" * 2_000,)
    assert memo.get(("huge",), lambda: calls.append(1) or huge) == huge
    assert memo.get(("huge",), lambda: calls.append(1) or huge) == huge
    assert calls == [1, 1] and ("huge",) not in memo.entries()


def test_the_weight_counts_the_text_in_containers_and_dataclasses():
    @dataclass(frozen=True)
    class Found:
        message: str
        lines: tuple[str, ...]

    assert weight("abc") == OBJECT + 3
    assert weight(Found("ab", ("cd", "ef"))) == OBJECT + (OBJECT + 2) + (OBJECT + 2 * (OBJECT + 2))
    assert weight({"k": [b"12", 7]}) == OBJECT + (OBJECT + 1) + (OBJECT + (OBJECT + 2) + OBJECT)
