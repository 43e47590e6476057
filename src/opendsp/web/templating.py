"""Server-rendered pages: Jinja2 with Babel catalogues, in French, German, English or Portuguese.

Templates mark text with ``{% trans %}`` or ``_()``. The language of a
request is the one the person chose (remembered in a cookie), else their
browser's, else French. Every page receives the CSRF token for its forms.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from opendsp.locale import DEFAULT_LANGUAGE, LANGUAGES, filters, translations
from opendsp.documents.labels import STATUS_LABELS, TYPE_LABELS
from opendsp.web import person_words

HERE = Path(__file__).parent
TEMPLATE_DIRS = [HERE / "templates", HERE.parent / "console" / "templates"]
LANGUAGE_NAMES = {"fr": "Français", "de": "Deutsch", "en": "English", "pt": "Português"}

_language: ContextVar[str] = ContextVar("opendsp_language", default=DEFAULT_LANGUAGE)


def current_language() -> str:
    """The language of the page being rendered."""
    return _language.get()


def _gettext(message: str) -> str:
    return translations(_language.get()).gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_language.get()).ngettext(singular, plural, n)


def make_environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader([str(d) for d in TEMPLATE_DIRS]),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    filters.install(environment, _language.get)  # dates, numbers, coded values in the page's language
    return environment


ENVIRONMENT = make_environment()
ENVIRONMENT.globals.update(type_labels=TYPE_LABELS, status_labels=STATUS_LABELS, **person_words.GLOBALS)


def translate(request: Request, message: str) -> str:
    """A message in the request's language (for messages made outside templates)."""
    return translations(getattr(request.state, "language", DEFAULT_LANGUAGE)).gettext(message)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    guard = request.app.state.security
    language = getattr(request.state, "language", DEFAULT_LANGUAGE)
    token = _language.set(language)
    try:
        html = ENVIRONMENT.get_template(template).render(
            request=request,
            lang=language,
            languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            csrf_token=guard.csrf_token(request),
            viewer=guard.viewer(request),
            federation=request.app.state.federation is not None,
            **context,
        )
    finally:
        _language.reset(token)
    return HTMLResponse(html, status_code=status_code)
