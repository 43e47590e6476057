"""Structured FHIR documents over the API: index entries served as resources, and a readable HTML rendering.

The index itself (``opendsp.structured``) is read only through
``RecordAccess.find_structured_entries``; this module turns an entry of a
document Bundle that the policy let through into a resource of the API, and
renders a Bundle as HTML for the portals.
"""

from __future__ import annotations

import html
import uuid
from typing import Any

from opendsp.locale import terms
from opendsp.locale.formats import format_number, format_written_date
from opendsp.structured.bundles import (  # noqa: F401  (the portals read Bundles through this module too)
    INDEXED_TYPES,
    codings,
    effective_at,
    entries,
    parse_document,
    parse_instant,
)


# -- serving entries as resources -----------------------------------------------------------


def served_id(document_id: uuid.UUID, position: int) -> str:
    return f"{document_id}-{position}"


def _display(resource: dict[str, Any]) -> str | None:
    name = resource.get("name")
    if isinstance(name, str):
        return name
    if isinstance(name, list) and name and isinstance(name[0], dict):
        parts = [*(name[0].get("given") or []), name[0].get("family") or ""]
        return " ".join(p for p in parts if isinstance(p, str) and p) or None
    return None


def served_resource(bundle: dict[str, Any], document_id: uuid.UUID, position: int, *, person_id: uuid.UUID,
                    base: str) -> dict[str, Any]:
    """The entry at ``position`` as a resource of the API: its own id, references resolved."""
    targets: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(full_url, str):
            continue
        kind = resource.get("resourceType")
        if kind == "Patient":
            targets[full_url] = {"reference": f"Patient/{person_id}"}
        elif kind in INDEXED_TYPES:
            targets[full_url] = {"reference": f"{kind}/{served_id(document_id, index)}"}
        else:
            target: dict[str, Any] = {"type": kind} if isinstance(kind, str) else {}
            identifiers = resource.get("identifier")
            if isinstance(identifiers, list) and identifiers and isinstance(identifiers[0], dict):
                target["identifier"] = identifiers[0]
            display = _display(resource)
            if display:
                target["display"] = display
            targets[full_url] = target

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            reference = value.get("reference")
            if isinstance(reference, str) and reference in targets:
                extra = {k: v for k, v in value.items() if k not in ("reference", "type", "identifier")}
                return {**targets[reference], **extra}
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    resource = resolve(bundle["entry"][position]["resource"])
    resource["id"] = served_id(document_id, position)
    meta = dict(resource.get("meta") or {})
    meta["source"] = f"{base}/DocumentReference/{document_id}"
    resource["meta"] = meta
    return resource


# -- HTML rendering ------------------------------------------------------------------------------

_LABELS = {
    "test": {"fr": "Analyse", "de": "Analyse", "en": "Test", "pt": "Análise"},
    "value": {"fr": "Résultat", "de": "Ergebnis", "en": "Result", "pt": "Resultado"},
    "unit": {"fr": "Unité", "de": "Einheit", "en": "Unit", "pt": "Unidade"},
    "range": {"fr": "Valeurs de référence", "de": "Referenzbereich", "en": "Reference range",
              "pt": "Valores de referência"},
    "flag": {"fr": "Indicateur", "de": "Hinweis", "en": "Flag", "pt": "Indicador"},
    "high": {"fr": "élevé", "de": "erhöht", "en": "high", "pt": "elevado"},
    "low": {"fr": "bas", "de": "erniedrigt", "en": "low", "pt": "baixo"},
    "abnormal": {"fr": "anormal", "de": "abnormal", "en": "abnormal", "pt": "anormal"},
    "none": {"fr": "Aucune donnée", "de": "Keine Angaben", "en": "No information", "pt": "Sem informação"},
    "date": {"fr": "Date", "de": "Datum", "en": "Date", "pt": "Data"},
    "prescribed": {"fr": "prescrit le", "de": "verordnet am", "en": "prescribed on", "pt": "receitado em"},
    "dispensed": {"fr": "délivré le", "de": "abgegeben am", "en": "dispensed on", "pt": "dispensado em"},
    "quantity": {"fr": "quantité", "de": "Menge", "en": "quantity", "pt": "quantidade"},
}
_FLAGS = {"H": "high", "HH": "high", "HU": "high", "L": "low", "LL": "low", "LU": "low", "A": "abnormal",
          "AA": "abnormal"}


def _label(key: str, language: str) -> str:
    texts = _LABELS[key]
    return texts.get(language[:2].lower() if language else "fr", texts["en"])


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def concept_text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if isinstance(concept.get("text"), str) and concept["text"]:
        return concept["text"]
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict):
            if isinstance(coding.get("display"), str) and coding["display"]:
                return coding["display"]
            if coding.get("code"):
                return str(coding["code"])
    return ""


def _number(value: Any, language: str = "en") -> str:
    return format_number(value, language)


def _coded(concept: Any, language: str) -> str:
    """A concept in the reader's words, escaped; its original display on hover when the two differ."""
    word, original = terms.concept_word(concept, language), terms.concept_original(concept)
    if original and original != word:
        return f'<span class="opendsp-coded" title="{_e(original)}">{_e(word)}</span>'
    return _e(word)


def _range_text(ranges: Any, language: str = "en") -> str:
    if not isinstance(ranges, list) or not ranges or not isinstance(ranges[0], dict):
        return ""
    first = ranges[0]
    if isinstance(first.get("text"), str):
        return first["text"]
    low = (first.get("low") or {}).get("value")
    high = (first.get("high") or {}).get("value")
    if low is not None and high is not None:
        return f"{_number(low, language)} – {_number(high, language)}"
    if low is not None:
        return f"≥ {_number(low, language)}"
    if high is not None:
        return f"≤ {_number(high, language)}"
    return ""


def out_of_range(observation: dict[str, Any]) -> str | None:
    """"high", "low", "abnormal" or None: from the interpretation, else from the value and the range."""
    for concept in observation.get("interpretation") or []:
        for coding in (concept or {}).get("coding") or []:
            flag = _FLAGS.get(str((coding or {}).get("code")))
            if flag:
                return flag
    quantity = observation.get("valueQuantity") or {}
    value = quantity.get("value") if isinstance(quantity, dict) else None
    ranges = observation.get("referenceRange") or []
    if isinstance(value, int | float) and ranges and isinstance(ranges[0], dict):
        low = (ranges[0].get("low") or {}).get("value")
        high = (ranges[0].get("high") or {}).get("value")
        if isinstance(high, int | float) and value > high:
            return "high"
        if isinstance(low, int | float) and value < low:
            return "low"
    return None


def _value_text(observation: dict[str, Any], language: str = "en") -> tuple[str, str]:
    quantity = observation.get("valueQuantity")
    if isinstance(quantity, dict):
        return _number(quantity.get("value"), language), str(quantity.get("unit") or quantity.get("code") or "")
    for name in ("valueString", "valueInteger", "valueBoolean", "valueDateTime"):
        if name in observation:
            return str(observation[name]), ""
    if "valueCodeableConcept" in observation:
        return terms.concept_word(observation["valueCodeableConcept"], language), ""
    return "", ""


def _lab_table(observations: list[dict[str, Any]], language: str, label: str) -> str:
    head = "".join(f"<th>{_e(_label(k, language))}</th>" for k in ("test", "value", "unit", "range", "flag"))
    rows = []
    for observation in observations:
        value, unit = _value_text(observation, language)
        flag = out_of_range(observation)
        css = f' class="out-of-range {flag}"' if flag else ""
        flag_text = f"<strong>{_e(_label(flag, language))}</strong>" if flag else ""
        cells = (_coded(observation.get("code"), language), _e(value), _e(unit),
                 _e(_range_text(observation.get("referenceRange"), language)), flag_text)
        # data-label: on a phone each row stacks into labelled lines (.opendsp-stacked), never wider than the screen.
        rows.append(f"<tr{css}>" + "".join(
            f'<td data-label="{_e(_label(k, language))}">{cell}</td>'
            for k, cell in zip(("test", "value", "unit", "range", "flag"), cells, strict=True)) + "</tr>")
    # A focusable region of its own: a table wider than the screen scrolls inside it, never the page.
    return (f'<div class="opendsp-table__scroll" tabindex="0" role="region" aria-label="{_e(label)}">'
            f'<table class="lab-results"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _item_html(resource: dict[str, Any], language: str) -> str:
    """One entry of a section as escaped HTML: the coded value in the reader's words, dates in their format."""
    kind = resource.get("resourceType")
    if kind == "MedicationStatement":
        text = _coded(resource.get("medicationCodeableConcept"), language)
        dosage = [d.get("text") for d in resource.get("dosage") or [] if isinstance(d, dict) and d.get("text")]
        return f"{text}: {_e('; '.join(dosage))}" if dosage else text
    if kind == "MedicationRequest":
        text = _coded(resource.get("medicationCodeableConcept"), language)
        dosage = [d.get("text") for d in resource.get("dosageInstruction") or []
                  if isinstance(d, dict) and d.get("text")]
        if dosage:
            text = f"{text}: {_e('; '.join(dosage))}"
        when = resource.get("authoredOn")
        return f"{text} ({_e(_label('prescribed', language))} {_e(format_written_date(when, language))})" \
            if when else text
    if kind == "MedicationDispense":
        text = _coded(resource.get("medicationCodeableConcept"), language)
        quantity = resource.get("quantity") if isinstance(resource.get("quantity"), dict) else {}
        if quantity.get("value") is not None:
            amount = f"{_number(quantity.get('value'), language)} {quantity.get('unit') or ''}".strip()
            text = f"{text}: {_e(_label('quantity', language))} {_e(amount)}"
        when = resource.get("whenHandedOver")
        return f"{text} ({_e(_label('dispensed', language))} {_e(format_written_date(when, language))})" \
            if when else text
    if kind in ("Immunization", "Condition"):
        text = _coded(resource.get("vaccineCode" if kind == "Immunization" else "code"), language)
        when = resource.get("occurrenceDateTime" if kind == "Immunization" else "onsetDateTime")
        return f"{text} ({_e(format_written_date(when, language))})" if when else text
    if kind == "Observation":
        value, unit = _value_text(resource, language)
        return f"{_coded(resource.get('code'), language)}: {_e(f'{value} {unit}'.strip())}"
    return _coded(resource.get("code"), language)


def render_html(bundle: dict[str, Any], language: str, *, heading: int = 1) -> str:
    """A document Bundle as safe, readable HTML: every text from the document is escaped.

    ``heading`` is the level of the document's title (its sections come one level below),
    so that the rendering fits into a page that has its own title.
    """
    by_url: dict[str, dict[str, Any]] = {}
    composition: dict[str, Any] = {}
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        resource = entry["resource"]
        if isinstance(entry.get("fullUrl"), str):
            by_url[entry["fullUrl"]] = resource
        if resource.get("resourceType") == "Composition" and not composition:
            composition = resource

    def target(reference: Any) -> dict[str, Any] | None:
        return by_url.get(reference.get("reference")) if isinstance(reference, dict) else None

    parts = ['<article class="fhir-document">']
    title = composition.get("title") or concept_text(composition.get("type"))
    parts.append(f"<h{heading}>{_e(title)}</h{heading}>")
    if composition.get("date"):
        parts.append(f'<p class="date">{_e(_label("date", language))}: {_e(format_written_date(composition["date"], language))}</p>')
    for section in composition.get("section") or []:
        if not isinstance(section, dict):
            continue
        parts.append("<section>")
        section_title = section.get("title") or concept_text(section.get("code"))
        parts.append(f"<h{heading + 1}>{_e(section_title)}</h{heading + 1}>")
        resources = [r for r in (target(ref) for ref in section.get("entry") or []) if r]
        observations: list[dict[str, Any]] = []
        others: list[dict[str, Any]] = []
        for resource in resources:
            if resource.get("resourceType") == "DiagnosticReport":
                results = [r for r in (target(ref) for ref in resource.get("result") or []) if r]
                observations.extend(r for r in results if r.get("resourceType") == "Observation")
            elif resource.get("resourceType") == "Observation" and "valueQuantity" in resource:
                observations.append(resource)
            else:
                others.append(resource)
        if observations:
            parts.append(_lab_table(observations, language, section_title or _label("test", language)))
        if others:
            parts.append("<ul>" + "".join(f"<li>{_item_html(r, language)}</li>" for r in others) + "</ul>")
        if not resources:
            parts.append(f'<p class="empty">{_e(_label("none", language))}</p>')
        parts.append("</section>")
    parts.append("</article>")
    return "".join(parts)
