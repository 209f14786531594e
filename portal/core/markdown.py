"""An assessment's Markdown documents (README.md, tickets.md) as HTML safe to put on the candidate's page.

The documents come from the assessment's author, not from the candidate, but they are still
rendered as if hostile: Python-Markdown passes raw HTML through, so its output goes through nh3
(the Ammonia sanitiser), which keeps only the tags below and, on links, only http(s) and mailto
addresses, adding rel="noopener noreferrer". Scripts, event handlers, iframes, images, styles and
javascript: URLs never reach the page.

A version's documents never change (the version is the content hash of its package), so each is
rendered once per process and kept, keyed by that hash: a page view only looks it up.
"""

import functools
from pathlib import Path

import markdown
import nh3

# Headings, paragraphs and rules, lists, code, tables, links and emphasis: nothing else.
ALLOWED_TAGS = frozenset(
    {"h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "ul", "ol", "li", "code", "pre"}
    | {"table", "thead", "tbody", "tr", "th", "td", "a", "em", "strong"}
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Tags dropped with everything inside them, rather than unwrapped to their text.
DROPPED_WITH_CONTENT = frozenset({"script", "style"})

EXTENSIONS = ["tables", "fenced_code", "sane_lists"]


def markdown_html(text: str) -> str:
    """``text`` rendered from Markdown and sanitised."""
    rendered = markdown.markdown(text, extensions=EXTENSIONS, output_format="html")
    return nh3.clean(
        rendered,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        strip_comments=True,
    )


def document_html(folder: Path, name: str, *, content_hash: str) -> str:
    """The document ``name`` of the package with this content hash, rendered; "" if it has none.

    ``folder`` is where that package's files are on this host; it is read only the first time.
    """
    return _document_html(content_hash, name, str(folder))


@functools.lru_cache(maxsize=64)
def _document_html(content_hash: str, name: str, folder: str) -> str:
    path = Path(folder) / name
    if not path.is_file():
        return ""
    return markdown_html(path.read_text(encoding="utf-8", errors="replace"))
