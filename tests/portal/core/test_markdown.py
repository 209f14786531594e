"""The assessment's documents render from Markdown to HTML that keeps only what the page allows."""

import time

import pytest

from portal.core.markdown import document_html, markdown_html


def test_it_renders_headings_lists_code_tables_links_and_emphasis():
    html = markdown_html(
        "# Title\n\nSome *stress* and **strength**.\n\n- one\n- two\n\n1. first\n\n"
        "```python\nif a < b:\n    pass\n```\n\n| a | b |\n| --- | --- |\n| 1 | `2` |\n\n[docs](https://example.com/docs)\n"
    )
    for fragment in [
        "<h1>Title</h1>",
        "<em>stress</em>",
        "<strong>strength</strong>",
        "<li>one</li>",
        "<ol>",
        "<pre><code>if a &lt; b:",
        "<th>a</th>",
        "<td><code>2</code></td>",
        '<a href="https://example.com/docs" rel="noopener noreferrer">docs</a>',
    ]:
        assert fragment in html


@pytest.mark.parametrize(
    ("markdown", "forbidden"),
    [
        ("Hi <script>alert(1)</script> there", ["<script", "alert(1)"]),
        ('<img src="x" onerror="alert(1)">', ["<img", "onerror"]),
        ("[x](javascript:alert(1))", ["javascript:", "href"]),
        ("[x](JaVaScRiPt:alert(1))", ["javascript:", "href"]),
        ("[x](&#106;avascript:alert(1))", ["avascript", "href"]),
        ('<iframe src="https://example.com"></iframe>', ["<iframe"]),
        ('<a href="https://example.com" onclick="steal()">x</a>', ["onclick", "steal"]),
        ('<p style="background:url(x)">x</p><style>p{}</style>', ["style", "url(x)"]),
        ('<svg onload="alert(1)"><circle/></svg>', ["<svg", "onload"]),
        ("<form action='https://evil.example'><input name=x></form>", ["<form", "<input"]),
        ("<!-- <script>alert(1)</script> -->", ["<!--", "<script"]),
    ],
)
def test_hostile_markdown_loses_everything_active(markdown, forbidden):
    html = markdown_html(markdown).lower()
    for fragment in forbidden:
        assert fragment.lower() not in html


def test_a_link_that_is_kept_cannot_reach_its_opener():
    html = markdown_html('<a href="https://example.com" rel="opener" target="_blank">x</a>')
    assert html == '<p><a href="https://example.com" rel="noopener noreferrer">x</a></p>'


def test_a_document_is_rendered_once_per_content_hash(tmp_path):
    (tmp_path / "README.md").write_text("# First\n")
    assert document_html(tmp_path, "README.md", content_hash="a" * 64) == "<h1>First</h1>"
    (tmp_path / "README.md").write_text("# Changed\n")
    assert document_html(tmp_path, "README.md", content_hash="a" * 64) == "<h1>First</h1>"
    assert document_html(tmp_path, "README.md", content_hash="b" * 64) == "<h1>Changed</h1>"
    assert document_html(tmp_path, "tickets.md", content_hash="a" * 64) == ""


def test_a_two_megabyte_document_renders_in_seconds_then_comes_from_the_cache(tmp_path):
    block = (
        "## Ticket\n\nSome *text*, `code`, <img src=x onerror=alert(1)> and [a link](javascript:alert(1)).\n\n"
        "- a\n- b\n\n"
    )
    (tmp_path / "tickets.md").write_text((block * (2_000_000 // len(block) + 1))[:2_000_000])
    # CPU seconds of this process, which a busy machine does not stretch as it does the clock.
    started = time.process_time()
    html = document_html(tmp_path, "tickets.md", content_hash="c" * 64)
    first = time.process_time() - started
    started = time.process_time()
    assert document_html(tmp_path, "tickets.md", content_hash="c" * 64) is html
    again = time.process_time() - started
    assert "onerror" not in html and "javascript:" not in html
    assert first < 30, f"rendering 2 MB took {first:.1f} s of CPU"
    assert again < first / 100
