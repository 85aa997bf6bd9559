"""Markdown with math, rendered to HTML that is safe to put in a page.

markdown-it-py parses (CommonMark plus tables), mdit-py-plugins' dollarmath finds
`$...$` and `$$...$$`, latex2mathml turns them into MathML (which browsers draw
natively), Pygments colours fenced code, and nh3 sanitises ALL of the result:
whatever a note contains, only the tags and attributes listed here survive,
links keep only http(s)/mailto/relative URLs, and no `on*` attribute or
<script> gets through.

Rendering happens once, when a note, comment, link note, description or recipe is
written, and the HTML is stored beside the text (migration 0005): a page view only
copies it. The sizes people may write are capped (TYCHO_MAX_NOTES_CHARS,
TYCHO_MAX_COMMENT_CHARS, TYCHO_MAX_SOURCE_CHARS), so that the worst input under
a cap renders in about a second (benchmarks in docs/deployment.md).
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from latex2mathml.converter import convert as latex_to_mathml
from markdown_it import MarkdownIt
from markupsafe import Markup, escape
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

# Every element latex2mathml emits (see its converter and walker).
MATHML_TAGS = {
    "math", "semantics", "annotation", "mi", "mn", "mo", "ms", "mtext", "mspace", "mrow",
    "mfrac", "msqrt", "mroot", "msub", "msup", "msubsup", "munder", "mover", "munderover",
    "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom", "menclose", "merror", "none",
    "mmultiscripts", "mprescripts",
}
# Presentation attributes only: no href (MathML links), no style.
MATHML_ATTRIBUTES = {
    "display", "xmlns", "mathvariant", "mathsize", "mathcolor", "mathbackground",
    "stretchy", "fence", "separator", "lspace", "rspace", "largeop", "movablelimits",
    "accent", "accentunder", "form", "minsize", "maxsize", "symmetric", "columnalign",
    "columnlines", "columnspacing", "rowlines", "rowspacing", "displaystyle",
    "scriptlevel", "linethickness", "notation", "width", "height", "depth", "encoding",
}
ALLOWED_TAGS = set(nh3.ALLOWED_TAGS) | MATHML_TAGS
ALLOWED_ATTRIBUTES = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    **{tag: MATHML_ATTRIBUTES for tag in MATHML_TAGS},
    "th": set(nh3.ALLOWED_ATTRIBUTES.get("th", ())) | {"style"},
    "td": set(nh3.ALLOWED_ATTRIBUTES.get("td", ())) | {"style"},
}
# markdown-it writes table alignment as style="text-align:..."; nothing else may be styled.
ALLOWED_STYLE_PROPERTIES = {"text-align"}
URL_SCHEMES = {"http", "https", "mailto"}
# Classes the renderer itself sets: math wrappers and Pygments' short token names.
ALLOWED_CLASSES = {
    "span": {"math", "inline", "math-error"} | {c for c in STANDARD_TYPES.values() if c},
    "div": {"math", "inline", "block", "code"},
    "code": {"math-error"},
}
CODE_CSS_SCOPE = ".code"


def _math(latex: str, options: dict) -> str:
    return _mathml(latex, "block" if options.get("display_mode") else "inline")


@lru_cache(maxsize=4096)
def _mathml(latex: str, display: str) -> str:
    """MathML for one formula; unparseable LaTeX is shown as its (escaped) source.
    Remembered: notes repeat their symbols ($n$, $\\eta$), and converting is the slow
    part of rendering (~0.1 ms a formula)."""
    try:
        return latex_to_mathml(latex, display=display)
    except Exception:  # latex2mathml raises many kinds of error on bad input
        return f'<code class="math-error">{escape(latex)}</code>'


def _highlight_fence(code: str, language: str, _attrs: str) -> str:
    try:
        lexer = get_lexer_by_name(language.strip() or "text")
    except ClassNotFound:
        return ""  # markdown-it then escapes the code itself
    return highlight(code, lexer, HtmlFormatter(nowrap=True))


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # Raw HTML in Markdown is parsed (people write <sub>, <details>) and then sanitised.
    parser = MarkdownIt("commonmark", {"html": True, "highlight": _highlight_fence})
    parser.enable("table")
    parser.use(dollarmath_plugin, renderer=_math, double_inline=True, allow_labels=False)
    return parser


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    # Built once: nh3.clean() with options rebuilds its allow-lists on every call (~0.7 ms).
    return nh3.Cleaner(
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        allowed_classes=ALLOWED_CLASSES,
        filter_style_properties=ALLOWED_STYLE_PROPERTIES,
        link_rel="noopener noreferrer nofollow",
    )


def sanitise(html: str) -> str:
    """Only the allowed tags, attributes, classes and URL schemes of `html`."""
    return _cleaner().clean(html)


def render_markdown(text: str) -> Markup:
    """Sanitised HTML for Markdown with `$math$`, ready to put in a template."""
    if not text.strip():
        return Markup("")
    return Markup(sanitise(_parser().render(text)))


def highlight_source(source: str, language: str = "python") -> Markup:
    """Submitted recipe source, coloured by Pygments (which escapes it)."""
    formatter = HtmlFormatter(cssclass=CODE_CSS_SCOPE.lstrip("."), linenos="table")
    return Markup(highlight(source, get_lexer_by_name(language), formatter))


@lru_cache(maxsize=1)
def code_stylesheet() -> str:
    """The Pygments colours for highlighted source and fenced code in notes."""
    formatter = HtmlFormatter(style="friendly")
    return formatter.get_style_defs([CODE_CSS_SCOPE, ".notes pre"])
