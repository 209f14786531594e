"""Code-quality signals: diff stats and the ruff findings a branch introduces."""

from __future__ import annotations

from portal.scoring.quality import LintFinding, QualitySignals, default_ruff, quality_signals
from tests.portal.scoring.conftest import Workbench


def signals(bench: Workbench, branch: str = "issue-1", **overrides) -> QualitySignals:
    arguments = {
        "repo_path": bench.origin,
        "base": bench.base,
        "branch": branch,
        "head": bench.heads()[branch],
        **overrides,
    }
    return quality_signals(**arguments)


def codes(result: QualitySignals) -> list[tuple[str, int, str]]:
    return [(finding.path, finding.line, finding.code) for finding in result.new_lint]


def test_the_default_ruff_is_the_one_installed_with_the_portal():
    assert default_ruff() is not None


def test_diff_stats_count_files_and_lines(bench):
    bench.fix(
        1,
        {
            "app/books.py": "import os\n\n\ndef list_books():\n    return [os.sep]\n",
            "app/new.py": "A = 1\nB = 2\n",
            "README.md": None,
        },
    )

    result = signals(bench)

    assert result.branch == "issue-1"
    assert result.files == ("README.md", "app/books.py", "app/new.py")
    assert result.files_changed == 3
    assert (result.lines_added, result.lines_removed) == (3, 2)
    assert result.notes == ()


def test_an_unused_import_added_by_the_candidate_is_new_lint(bench):
    bench.fix(1, {"app/loans.py": "import json\nimport sys\n\n\ndef arguments():\n    return sys.argv\n"})

    result = signals(bench)

    assert result.new_lint == (LintFinding("app/loans.py", 1, "F401", "`json` imported but unused"),)
    assert result.lint_error is None


def test_a_finding_the_template_already_had_is_not_new(bench):
    # app/books.py ships with an unused `import os`; the candidate edits the file around it.
    bench.fix(1, {"app/books.py": "import os\n\n\ndef list_books():\n    return ['a']\n"})

    assert signals(bench).new_lint == ()


def test_a_finding_on_an_unchanged_line_is_not_new(bench):
    # Dropping the only use of sys makes the untouched `import sys` line unused.
    bench.fix(1, {"app/loans.py": "import sys\n\n\ndef arguments():\n    return []\n"})

    result = signals(bench)

    assert result.new_lint == ()
    assert result.lines_added == 1


def test_a_new_file_is_linted_in_full(bench):
    bench.fix(1, {"app/report.py": "import os\n\n\ndef report(x):\n    if x == None:\n        return 1\n"})

    assert codes(signals(bench)) == [("app/report.py", 1, "F401"), ("app/report.py", 5, "E711")]


def test_another_copy_of_a_template_finding_is_new(bench):
    # app/legacy.py ships with one `== None`; the candidate adds a second one.
    legacy = "def is_missing(x):\n    return x == None\n"
    bench.fix(1, {"app/legacy.py": legacy + "\n\ndef is_empty(y):\n    return y == None\n"})

    assert codes(signals(bench)) == [("app/legacy.py", 6, "E711")]


def test_a_renamed_file_brings_no_new_lint(bench):
    bench.fix(1, {"app/books.py": None, "app/catalog.py": "import os\n\n\ndef list_books():\n    return []\n"})

    result = signals(bench)

    assert result.files == ("app/catalog.py",)
    assert result.new_lint == ()


def test_a_ruff_configuration_in_the_candidates_tree_changes_nothing(bench):
    bench.fix(
        1,
        {
            "ruff.toml": '[lint]\nignore = ["F401"]\nexclude = ["app"]\n',
            "app/config.py": "import json\n",
        },
    )

    assert codes(signals(bench)) == [("app/config.py", 1, "F401")]


def test_a_syntax_error_is_reported(bench):
    bench.fix(1, {"app/broken.py": "def broken(:\n    pass\n"})

    result = signals(bench)

    assert result.new_lint
    assert {finding.code for finding in result.new_lint} == {"invalid-syntax"}


def test_without_ruff_the_stats_still_come_with_the_reason(bench):
    bench.fix(1, {"app/x.py": "import os\n"})

    result = signals(bench, ruff="/nonexistent/ruff")

    assert result.new_lint == ()
    assert result.lint_error is not None and "ruff failed" in result.lint_error
    assert result.lines_added == 1


def test_an_unchanged_branch_has_no_signals(bench):
    bench.branch("issue-1")
    bench.push("issue-1")

    result = signals(bench)

    assert (result.files_changed, result.lines_added, result.lines_removed) == (0, 0, 0)
    assert result.files == ()
    assert result.new_lint == ()


def test_a_large_file_is_left_out_of_the_line_counts_and_said_so(bench):
    bench.fix(1, {"data/big.txt": "x\n" * (600 * 1024), "app/x.py": "X = 1\n"})

    result = signals(bench)

    assert result.files_changed == 2
    assert result.lines_added == 1
    assert result.notes == ("1 changed file too large or too many to read; not in the line counts.",)
