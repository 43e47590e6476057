"""A FHIR narrative (``text.div``, XHTML written by the author's software) made safe to show in a page.

Nothing of the input is passed through: the narrative is parsed and a new
fragment is written from it, with only a small set of formatting tags, no
attribute but a number in ``colspan``/``rowspan``, every text escaped, and the
content of ``script``/``style`` (and of anything unknown that holds code)
dropped. Links, images, forms and styles never come through; their text does.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

ALLOWED = frozenset({
    "p", "br", "ul", "ol", "li", "b", "strong", "i", "em", "u", "sub", "sup", "span", "div", "pre",
    "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
})
VOID = frozenset({"br"})
# Elements whose content is not text for a reader: dropped with everything inside.
DROPPED = frozenset({"script", "style", "template", "iframe", "object", "embed", "noscript", "svg", "math", "head",
                     "title", "textarea", "select"})
NUMBER_ATTRIBUTES = frozenset({"colspan", "rowspan"})
MAX_DEPTH = 40


class _Rewriter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.dropping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.dropping:
            if tag == self.dropping[-1] and tag not in VOID:
                self.dropping.append(tag)
            return
        if tag in DROPPED:
            self.dropping.append(tag)
            return
        if tag not in ALLOWED:
            return  # the tag goes, its text stays
        kept = "".join(f' {name}="{int(value)}"' for name, value in attrs
                       if name in NUMBER_ATTRIBUTES and value and value.isdigit() and 0 < int(value) <= 100)
        if tag in VOID:
            self.out.append(f"<{tag}>")
            return
        if len(self.open) >= MAX_DEPTH:
            return
        self.open.append(tag)
        self.out.append(f"<{tag}{kept}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.dropping and tag in VOID:
            self.out.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if self.dropping:
            if tag == self.dropping[-1]:
                self.dropping.pop()
            return
        if tag in self.open:
            while self.open:
                closing = self.open.pop()
                self.out.append(f"</{closing}>")
                if closing == tag:
                    break

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(html.escape(data, quote=True))

    def result(self) -> str:
        return "".join(self.out) + "".join(f"</{tag}>" for tag in reversed(self.open))


def safe_narrative(div: str, *, limit: int = 200_000) -> str:
    """The narrative as safe HTML: formatting tags only, every text escaped (see the module)."""
    if not isinstance(div, str) or not div.strip():
        return ""
    rewriter = _Rewriter()
    rewriter.feed(div[:limit])
    rewriter.close()
    return rewriter.result()
