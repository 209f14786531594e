"""Masking fixes as reviewer signals, with file and line: a handler that turns every error into a
client error, and code that special-cases values the grader would send."""

from __future__ import annotations

import pytest

from portal.scoring.quality import (
    CATCH_ALL_CLIENT_ERROR,
    SPECIAL_CASED_VALUE,
    MaskingSignal,
    QualitySignals,
    quality_signals,
)
from tests.portal.scoring.conftest import Workbench

MAIN = """from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()
"""


def signals(bench: Workbench, branch: str = "issue-2") -> QualitySignals:
    return quality_signals(repo_path=bench.origin, base=bench.base, branch=branch, head=bench.heads()[branch])


def masking(bench: Workbench) -> list[tuple[str, int, str]]:
    return [(signal.path, signal.line, signal.kind) for signal in signals(bench).masking]


def test_an_exception_handler_for_every_error_answering_404_is_a_signal_with_file_and_line(bench):
    handler = (
        "\n\n@app.exception_handler(Exception)\n"
        "async def not_found(_request: Request, _exc: Exception) -> JSONResponse:\n"
        '    return JSONResponse({"detail": "Not found"}, status_code=404)\n'
    )
    bench.fix(2, {"app/main.py": MAIN + handler})

    [signal] = signals(bench).masking

    assert signal == MaskingSignal(
        path="app/main.py",
        line=7,
        kind=CATCH_ALL_CLIENT_ERROR,
        message="an exception handler answers every unhandled error with 404",
    )


def test_a_handler_registered_with_add_exception_handler_is_a_signal(bench):
    code = (
        MAIN
        + "\n\nasync def hide(_request, _exc):\n    return JSONResponse({}, status_code=status.HTTP_404_NOT_FOUND)\n"
        + "\n\napp.add_exception_handler(BaseException, hide)\n"
    )
    bench.fix(2, {"app/main.py": code})

    assert masking(bench) == [("app/main.py", 11, CATCH_ALL_CLIENT_ERROR)]


@pytest.mark.parametrize(
    "handler",
    [
        "    except Exception:\n        raise HTTPException(404)\n",
        "    except:\n        raise HTTPException(status_code=400, detail='bad')\n",
        "    except (ValueError, Exception):\n        return JSONResponse({}, status_code=404)\n",
    ],
)
def test_an_except_around_broad_code_turning_every_error_into_a_client_error_is_a_signal(bench, handler):
    code = "def read_book(db, book_id):\n    try:\n        return db.get(book_id)\n" + handler
    bench.fix(2, {"app/books.py": code})

    [signal] = signals(bench).masking

    assert (signal.path, signal.line, signal.kind) == ("app/books.py", 4, CATCH_ALL_CLIENT_ERROR)
    assert "turns every error into 4" in signal.message


def test_a_narrow_except_and_a_500_are_not_signals(bench):
    code = (
        "def read_book(db, book_id):\n    try:\n        return db.get(book_id)\n"
        "    except LookupError:\n        raise HTTPException(404)\n"
        "    except Exception:\n        raise HTTPException(500)\n"
    )
    bench.fix(2, {"app/books.py": code})

    assert signals(bench).masking == ()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("    if book_id == 42:\n        return None\n", "book_id is compared with the literal 42"),
        ("    if book.id in (7, 8):\n        return None\n", "book.id is compared with the literal (7, 8)"),
        (
            "    if 'abc' != row['member_id']:\n        return None\n",
            "row['member_id'] is compared with the literal 'abc'",
        ),
        ("    agent = request.headers.get('User-Agent', '')\n", "the app reads the 'User-Agent' header"),
        ("    if 'testclient' in str(request):\n        return None\n", "the app names a client: 'testclient'"),
    ],
)
def test_a_fix_that_only_special_cases_values_is_a_signal_with_file_and_line(bench, line, message):
    code = "import os\n\n\ndef list_books(request, book_id, book, row):\n" + line + "    return []\n"
    bench.fix(2, {"app/books.py": code})

    [signal] = signals(bench).masking

    assert (signal.path, signal.line, signal.kind, signal.message) == ("app/books.py", 5, SPECIAL_CASED_VALUE, message)


def test_a_header_parameter_for_the_client_identity_is_a_signal(bench):
    code = "import os\n\n\ndef list_books(user_agent: str = Header(None)):\n    return []\n"
    bench.fix(2, {"app/books.py": code})

    assert masking(bench) == [("app/books.py", 4, SPECIAL_CASED_VALUE)]


def test_values_in_unchanged_lines_and_in_tests_are_not_signals(bench):
    # The template's own comparisons are never the candidate's; a test compares with literals by nature.
    bench.commit("Library: more", {"app/ids.py": "def first(book_id):\n    return book_id == 1\n"})
    bench.push("main")
    bench.base = bench.heads()["main"]
    bench.fix(
        2,
        {
            "app/ids.py": "def first(book_id):\n    return book_id == 1\n\n\ndef real(loan, member):\n"
            "    return loan.member_id != member.id and loan is not None\n",
            "tests/test_books.py": "def test_books(client):\n    assert client.get('/books/42').json()['id'] == 42\n",
        },
    )

    assert signals(bench).masking == ()
