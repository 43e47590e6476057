"""DSFR classes to GOV.UK Frontend and opendsp-* classes in Jinja templates (ADR 24): class attributes only,
text and expressions untouched. Used once for the move; kept for merging branches that still carry DSFR
markup: take the other branch's template, then `python scripts/dsfr_to_govuk.py TEMPLATE...`. The header,
footer and side menus (base.html, holder/layout.html, professional/layout.html, console/base.html) were
rewritten by hand and are not converted by it (an unmapped class stops it, naming the class)."""

import pathlib
import re
import sys

SPACE = {"1v": 1, "1w": 2, "2w": 3, "3w": 5, "4w": 6, "5w": 7, "6w": 8, "0": 0}
SIDE = {"t": "top", "b": "bottom", "l": "left", "r": "right"}
SIMPLE = {
    "fr-label": "govuk-label", "fr-btn": "govuk-button", "fr-btn--secondary": "govuk-button--secondary",
    "fr-btn--tertiary": "govuk-button--secondary", "fr-btn--sm": "opendsp-button--small", "fr-btn--icon-left": "",
    "fr-input": "govuk-input", "fr-input-group": "govuk-form-group", "fr-input-group--error": "govuk-form-group--error",
    "fr-input--error": "govuk-input--error", "fr-error-text": "govuk-error-message", "fr-hint-text": "govuk-hint",
    "fr-fieldset": "govuk-fieldset", "fr-fieldset__legend": "govuk-fieldset__legend govuk-fieldset__legend--s",
    "fr-fieldset__element": "opendsp-field", "fr-fieldset__element--inline": "opendsp-field--inline",
    "fr-select-group": "govuk-form-group", "fr-select": "govuk-select",
    "fr-checkbox-group": "govuk-checkboxes__item", "fr-checkbox-group--error": "govuk-form-group--error",
    "fr-radio-group": "govuk-radios__item", "fr-upload-group": "govuk-form-group", "fr-upload": "govuk-file-upload",
    "fr-badge": "govuk-tag", "fr-badge--sm": "", "fr-badge--success": "govuk-tag--green",
    "fr-badge--warning": "govuk-tag--orange", "fr-badge--info": "govuk-tag--blue", "fr-badge--error": "govuk-tag--red",
    "fr-badge--new": "govuk-tag--yellow opendsp-tag--new",
    "fr-link": "govuk-link", "fr-link--download": "", "fr-link--icon-left": "",
    "fr-grid-row": "govuk-grid-row", "fr-grid-row--gutters": "", "fr-grid-row--center": "opendsp-grid-row--center",
    "fr-container": "govuk-width-container", "fr-py-5w": "govuk-main-wrapper", "fr-p-2w": "govuk-!-padding-3",
    "fr-m-0": "govuk-!-margin-0",
    "fr-h4": "govuk-heading-m", "fr-h5": "govuk-heading-s", "fr-h6": "govuk-heading-s",
    "fr-text--sm": "govuk-body-s", "fr-text--lg": "govuk-body-l", "fr-text--lead": "govuk-body-l",
    "fr-sr-only": "govuk-visually-hidden", "fr-hidden": "opendsp-wide-only", "fr-unhidden-md": "",
    "fr-hidden-md": "opendsp-narrow-only",
    "fr-table": "opendsp-table", "fr-table--bordered": "", "fr-table--multiline": "", "fr-table--sm": "",
    "fr-table--no-caption": "opendsp-table--no-caption", "fr-table__wrapper": "", "fr-table__container": "opendsp-table__scroll",
    "fr-table__content": "",
    "fr-alert": "opendsp-alert", "fr-alert--success": "opendsp-alert--success", "fr-alert--error": "opendsp-alert--error",
    "fr-alert--info": "opendsp-alert--info", "fr-alert--warning": "opendsp-alert--warning", "fr-alert--sm": "",
    "fr-alert__title": "opendsp-alert__title govuk-heading-s",
    "fr-callout": "govuk-inset-text", "fr-callout__title": "govuk-heading-s", "fr-callout__text": "govuk-body",
    "fr-card": "opendsp-card", "fr-card__body": "", "fr-card__content": "", "fr-card__title": "govuk-heading-m",
    "fr-card__desc": "govuk-body govuk-!-margin-bottom-0",
    "fr-btns-group": "opendsp-buttons", "fr-btns-group--inline": "", "fr-btns-group--inline-md": "",
    "fr-btns-group--inline-sm": "", "fr-btns-group--sm": "", "fr-raw-list": "govuk-list",
    "fr-search-bar": "opendsp-search",
    "fr-pagination": "govuk-pagination", "fr-pagination__list": "govuk-pagination__list",
    "fr-pagination__link": "govuk-link govuk-pagination__link", "fr-pagination__link--first": "",
    "fr-pagination__link--prev": "", "fr-pagination__link--next": "", "fr-pagination__link--last": "",
    "fr-pagination__link--lg-label": "",
    "fr-sidemenu": "opendsp-sidemenu", "fr-sidemenu__title": "opendsp-sidemenu__title",
    "fr-sidemenu__list": "opendsp-sidemenu__list", "fr-sidemenu__item": "opendsp-sidemenu__item",
    "fr-sidemenu__item--active": "opendsp-sidemenu__item--active", "fr-sidemenu__link": "govuk-link opendsp-sidemenu__link",
}
COLUMNS = {"3": "one-quarter", "4": "one-third", "6": "one-half", "8": "two-thirds", "9": "three-quarters",
           "10": "two-thirds"}


def convert_token(token, tokens):
    if token in SIMPLE:
        return SIMPLE[token]
    m = re.fullmatch(r"fr-m([tblr]?)-(\d[vw]|0)", token)
    if m:
        side = SIDE.get(m.group(1))
        return f"govuk-!-margin-{side}-{SPACE[m.group(2)]}" if side else f"govuk-!-margin-{SPACE[m.group(2)]}"
    m = re.fullmatch(r"fr-col-(md|lg)-(\d+)", token)
    if m:
        suffix = "" if m.group(1) == "md" else "-from-desktop"
        return f"govuk-grid-column-{COLUMNS[m.group(2)]}{suffix}"
    if token == "fr-col-12":
        return "" if any(t.startswith("fr-col-md") or t.startswith("fr-col-lg") for t in tokens) else "govuk-grid-column-full"
    if token == "fr-col-6":
        return "opendsp-col-half"
    if token.startswith("fr-icon-"):
        return ""
    if token.startswith("fr-"):
        raise SystemExit(f"unmapped class {token}: convert it by hand")
    return token


def convert_classes(value):
    # Jinja inside class attributes: convert tokens in the literal parts only.
    parts = re.split(r"(\{[%{].*?[%}]\})", value)
    tokens = [t for p in parts if not p.startswith("{") for t in p.split()]
    out = []
    for p in parts:
        if p.startswith("{"):
            out.append(re.sub(r"fr-[a-z0-9_-]+", lambda m: convert_token(m.group(0), tokens), p))
        else:
            lead = p[: len(p) - len(p.lstrip())]
            trail = p[len(p.rstrip()):]
            new = " ".join(dict.fromkeys(x for t in p.split() for x in convert_token(t, tokens).split()))
            out.append((lead if new or not out else lead[:1]) + new + (trail if new else ""))
    return re.sub(r"\s+", " ", "".join(out)).strip()


def groups(text, group, kind):
    # <div class="govuk-checkboxes__item"> <input ...> <label class="govuk-label" ...>: GOV.UK's item classes.
    def fix(m):
        block = m.group(0)
        block = re.sub(r"<input (?!class=)", f'<input class="govuk-{kind}__input" ', block, count=1)
        block = block.replace('class="govuk-label"', f'class="govuk-label govuk-{kind}__label"', 1)
        return block
    return re.sub(rf'<div class="(?:[^"]* )?{group}[^"]*">.*?</label>', fix, text, flags=re.S)


if __name__ == "__main__":
    for path in sys.argv[1:]:
        p = pathlib.Path(path)
        text = p.read_text()
        text = re.sub(r'<textarea class="fr-input', '<textarea class="govuk-textarea', text)
        text = re.sub(r'class="([^"]*)"', lambda m: f'class="{convert_classes(m.group(1))}"', text)
        text = groups(text, "govuk-checkboxes__item", "checkboxes")
        text = groups(text, "govuk-radios__item", "radios")
        text = text.replace(' class=""', "")
        p.write_text(text)
