"""Structured FHIR documents over the API: index entries served as resources, and a readable HTML rendering.

The index itself (``opendsp.structured``) is read only through
``RecordAccess.find_structured_entries``; this module turns an entry of a
document Bundle that the policy let through into a resource of the API, and
renders a Bundle as HTML for the portals.
"""

from __future__ import annotations

import html
import re
import uuid
from typing import Any
from urllib.parse import quote

from opendsp.locale import terms
from opendsp.fhir.narrative import safe_narrative
from opendsp.fhir.systems import LOINC as LOINC_SYSTEM
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
        parts = [*(_items(name[0].get("given"))), name[0].get("family") or ""]
        return " ".join(p for p in parts if isinstance(p, str) and p) or None
    return None


def served_resource(bundle: dict[str, Any], document_id: uuid.UUID, position: int, *, person_id: uuid.UUID,
                    base: str) -> dict[str, Any]:
    """The entry at ``position`` as a resource of the API: its own id, references resolved."""
    targets: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(_items(bundle.get("entry"))):
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
    "examination": {"fr": "Examen", "de": "Untersuchung", "en": "Examination", "pt": "Exame"},
    "modality": {"fr": "Modalité", "de": "Modalität", "en": "Modality", "pt": "Modalidade"},
    "body_site": {"fr": "Région examinée", "de": "Untersuchte Region", "en": "Body site", "pt": "Região examinada"},
    "conclusion": {"fr": "Conclusion", "de": "Beurteilung", "en": "Conclusion", "pt": "Conclusão"},
    "images": {"fr": "Images", "de": "Bilder", "en": "Images", "pt": "Imagens"},
    "images_count": {"fr": "{series} série(s), {instances} image(s)", "de": "{series} Serie(n), {instances} Bild(er)",
                     "en": "{series} series, {instances} image(s)", "pt": "{series} série(s), {instances} imagem(ns)"},
    "study_uid": {"fr": "Identifiant de l'étude (DICOM)", "de": "Studien-ID (DICOM)", "en": "Study identifier (DICOM)",
                  "pt": "Identificador do estudo (DICOM)"},
    "accession": {"fr": "Numéro d'examen", "de": "Auftragsnummer", "en": "Accession number",
                  "pt": "Número de acesso"},
    "open_viewer": {"fr": "Ouvrir les images dans le PACS", "de": "Bilder im PACS öffnen",
                    "en": "Open the images in the PACS", "pt": "Abrir as imagens no PACS"},
    "performed": {"fr": "réalisé le", "de": "durchgeführt am", "en": "performed on", "pt": "realizado em"},
    "since": {"fr": "depuis le", "de": "seit", "en": "since", "pt": "desde"},
    "prescribed": {"fr": "prescrit le", "de": "verordnet am", "en": "prescribed on", "pt": "receitado em"},
    "dispensed": {"fr": "délivré le", "de": "abgegeben am", "en": "dispensed on", "pt": "dispensado em"},
    "quantity": {"fr": "quantité", "de": "Menge", "en": "quantity", "pt": "quantidade"},
    "stay": {"fr": "Séjour du {start} au {end}", "de": "Aufenthalt vom {start} bis {end}",
             "en": "Stay from {start} to {end}", "pt": "Internamento de {start} a {end}"},
}
_FLAGS = {"H": "high", "HH": "high", "HU": "high", "L": "low", "LL": "low", "LU": "low", "A": "abnormal",
          "AA": "abnormal"}


def _label(key: str, language: str) -> str:
    texts = _LABELS[key]
    return texts.get(language[:2].lower() if language else "fr", texts["en"])


def _items(value: Any) -> list[Any]:
    """A list element of a document as a list; anything else (a damaged document) as none."""
    return value if isinstance(value, list) else []


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def concept_text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if isinstance(concept.get("text"), str) and concept["text"]:
        return concept["text"]
    for coding in _items(concept.get("coding")):
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
    low = _mapping(first.get("low")).get("value")
    high = _mapping(first.get("high")).get("value")
    if low is not None and high is not None:
        return f"{_number(low, language)} – {_number(high, language)}"
    if low is not None:
        return f"≥ {_number(low, language)}"
    if high is not None:
        return f"≤ {_number(high, language)}"
    return ""


def out_of_range(observation: dict[str, Any]) -> str | None:
    """"high", "low", "abnormal" or None: from the interpretation, else from the value and the range."""
    for concept in _items(observation.get("interpretation")):
        for coding in _items(_mapping(concept).get("coding")):
            flag = _FLAGS.get(str(_mapping(coding).get("code")))
            if flag:
                return flag
    quantity = _mapping(observation.get("valueQuantity"))
    value = quantity.get("value") if isinstance(quantity, dict) else None
    ranges = _items(observation.get("referenceRange"))
    if isinstance(value, int | float) and ranges and isinstance(ranges[0], dict):
        low = _mapping(ranges[0].get("low")).get("value")
        high = _mapping(ranges[0].get("high")).get("value")
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
        dosage = [d.get("text") for d in _items(resource.get("dosage")) if isinstance(d, dict) and isinstance(d.get("text"), str)]
        return f"{text}: {_e('; '.join(dosage))}" if dosage else text
    # MedicationRequest: a prescription's, or the medication on discharge a discharge report lists.
    if kind == "MedicationRequest":
        text = _coded(resource.get("medicationCodeableConcept"), language)
        dosage = [d.get("text") for d in _items(resource.get("dosageInstruction"))
                  if isinstance(d, dict) and isinstance(d.get("text"), str) and d.get("text")]
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
    if kind == "Procedure":
        text = _coded(resource.get("code"), language)
        when = _when(resource.get("performedDateTime") or resource.get("performedPeriod"), language)
        return f"{text} ({_e(_label('performed', language))} {_e(when)})" if when else text
    if kind == "CarePlan":
        words = [w for w in (resource.get("title"), resource.get("description")) if isinstance(w, str) and w]
        text = _e(" — ".join(words))
        when = _when(resource.get("period"), language)
        return f"{text} ({_e(_label('since', language))} {_e(when)})" if when else text
    if kind in ("Immunization", "Condition"):
        text = _coded(resource.get("vaccineCode" if kind == "Immunization" else "code"), language)
        when = resource.get("occurrenceDateTime" if kind == "Immunization" else "onsetDateTime")
        return f"{text} ({_e(format_written_date(when, language))})" if when else text
    if kind == "Observation":
        value, unit = _value_text(resource, language)
        return f"{_coded(resource.get('code'), language)}: {_e(f'{value} {unit}'.strip())}"
    return _coded(resource.get("code"), language)


def _when(value: Any, language: str) -> str:
    if isinstance(value, dict):
        value = value.get("start")
    return format_written_date(value, language) if isinstance(value, str) and value else ""


DICOM_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
ACCESSION_TYPE = "ACSN"  # v2-0203: the accession number of an imaging study


def study_identifiers(study: dict[str, Any]) -> tuple[str | None, str | None]:
    """(Study Instance UID, accession number) of an ImagingStudy; the UID only when it is a well-formed DICOM UID."""
    uid = accession = None
    for identifier in _items(study.get("identifier")):
        if not isinstance(identifier, dict) or not isinstance(identifier.get("value"), str):
            continue
        value = identifier["value"]
        kind = identifier.get("type") if isinstance(identifier.get("type"), dict) else {}
        types = [c.get("code") for c in _items(kind.get("coding")) if isinstance(c, dict)]
        if ACCESSION_TYPE in types:
            accession = accession or value
        elif identifier.get("system") == "urn:dicom:uid" or value.startswith("urn:oid:"):
            candidate = value.removeprefix("urn:oid:")
            if uid is None and len(candidate) <= 64 and DICOM_UID.fullmatch(candidate):
                uid = candidate
    return uid, accession


def viewer_link(template: str | None, uid: str | None) -> str | None:
    """The PACS viewer's address for a study: only from the platform's configured template, never from a document."""
    if not template or not uid or "{study_uid}" not in template:
        return None
    return template.replace("{study_uid}", quote(uid, safe=""))


def _imaging_html(report: dict[str, Any], studies: list[dict[str, Any]], language: str,
                  viewer_url: str | None) -> str:
    """An imaging report: what was examined, how, when, the conclusion and the study's identifiers."""
    rows: list[tuple[str, str]] = []
    if report.get("code"):
        rows.append((_label("examination", language), _coded(report.get("code"), language)))
    for study in studies:
        modalities: list[Any] = [m for m in _items(study.get("modality")) if isinstance(m, dict)]
        sites: list[Any] = []
        for series in _items(study.get("series")):
            if not isinstance(series, dict):
                continue
            for field, found in (("modality", modalities), ("bodySite", sites)):
                coding = series.get(field)
                if isinstance(coding, dict) and coding.get("code") not in [c.get("code") for c in found]:
                    found.append(coding)
        words = {"modality": modalities, "body_site": sites}
        for key, found in words.items():
            if found:
                rows.append((_label(key, language), ", ".join(_coded({"coding": [c]}, language) for c in found)))
        if study.get("started"):
            rows.append((_label("date", language), _e(_when(study["started"], language))))
        series_count = study.get("numberOfSeries")
        instances = study.get("numberOfInstances")
        if isinstance(series_count, int) and isinstance(instances, int):
            rows.append((_label("images", language), _e(_label("images_count", language).format(
                series=format_number(series_count, language), instances=format_number(instances, language)))))
        uid, accession = study_identifiers(study)
        if accession:
            rows.append((_label("accession", language), f"<code>{_e(accession)}</code>"))
        if uid:
            link = viewer_link(viewer_url, uid)
            shown = f"<code>{_e(uid)}</code>"
            if link:
                shown += (f'<br><a class="govuk-link" href="{_e(link)}" rel="noopener noreferrer">'
                          f"{_e(_label('open_viewer', language))}</a>")
            rows.append((_label("study_uid", language), shown))
    if not studies and report.get("effectiveDateTime"):
        rows.append((_label("date", language), _e(_when(report["effectiveDateTime"], language))))
    conclusion = []
    if isinstance(report.get("conclusion"), str) and report["conclusion"].strip():
        conclusion.append(f"<p>{_e(report['conclusion'])}</p>")
    codes = [_coded(c, language) for c in _items(report.get("conclusionCode")) if isinstance(c, dict)]
    if codes:
        conclusion.append("<ul>" + "".join(f"<li>{c}</li>" for c in codes) + "</ul>")
    if conclusion:
        rows.append((_label("conclusion", language), "".join(conclusion)))
    items = "".join(f'<div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">{_e(key)}</dt>'
                    f'<dd class="govuk-summary-list__value">{value}</dd></div>' for key, value in rows)
    return f'<dl class="govuk-summary-list imaging-report">{items}</dl>'


def section_title(section: dict[str, Any], language: str) -> str:
    """A section's title in the reader's language when its LOINC code is known, else as the author wrote it."""
    code = section.get("code") if isinstance(section.get("code"), dict) else {}
    for coding in code.get("coding") if isinstance(code.get("coding"), list) else []:
        if isinstance(coding, dict) and coding.get("system") == LOINC_SYSTEM:
            term = terms.table("loinc").get(str(coding.get("code") or ""))
            if term is not None:
                return term.word(language)
    return section.get("title") if isinstance(section.get("title"), str) else concept_text(section.get("code"))


def render_html(bundle: dict[str, Any], language: str, *, heading: int = 1, viewer_url: str | None = None) -> str:
    """A document Bundle as safe, readable HTML: every text from the document is escaped.

    ``heading`` is the level of the document's title (its sections come one level below),
    so that the rendering fits into a page that has its own title. ``viewer_url`` is the platform's
    PACS viewer template (``{study_uid}``): an imaging study gets a link only through it.
    """
    by_url: dict[str, dict[str, Any]] = {}
    composition: dict[str, Any] = {}
    for entry in _items(bundle.get("entry")):
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        resource = entry["resource"]
        if isinstance(entry.get("fullUrl"), str):
            by_url[entry["fullUrl"]] = resource
        if resource.get("resourceType") == "Composition" and not composition:
            composition = resource

    def target(reference: Any) -> dict[str, Any] | None:
        url = reference.get("reference") if isinstance(reference, dict) else None
        return by_url.get(url) if isinstance(url, str) else None

    parts = ['<article class="fhir-document">']
    title = composition.get("title") or concept_text(composition.get("type"))
    parts.append(f"<h{heading}>{_e(title)}</h{heading}>")
    if composition.get("date"):
        parts.append(f'<p class="date">{_e(_label("date", language))}: {_e(format_written_date(composition["date"], language))}</p>')
    stay = _mapping(_mapping(target(composition.get("encounter"))).get("period"))
    if isinstance(stay.get("start"), str) and isinstance(stay.get("end"), str):
        # The stay the document's Encounter names (a discharge report's admission and discharge).
        stay_text = _label("stay", language).format(start=_when(stay["start"], language),
                                                    end=_when(stay["end"], language))
        parts.append(f'<p class="stay">{_e(stay_text)}</p>')
    for section in _items(composition.get("section")):
        if not isinstance(section, dict):
            continue
        parts.append("<section>")
        title_text = section_title(section, language)
        parts.append(f"<h{heading + 1}>{_e(title_text)}</h{heading + 1}>")
        resources = [r for r in (target(ref) for ref in _items(section.get("entry"))) if isinstance(r, dict)]
        narrative = section.get("text") if isinstance(section.get("text"), dict) else {}
        # A generated narrative only repeats the entries shown below (or says there are none, shown in the reader's
        # words); an author's narrative is shown, made safe.
        shows_narrative = bool(narrative.get("div")) and (
            narrative.get("status") != "generated" or not (resources or section.get("emptyReason")))
        if shows_narrative:
            safe = safe_narrative(narrative["div"])
            if safe:
                parts.append(f'<div class="fhir-narrative">{safe}</div>')
        observations: list[dict[str, Any]] = []
        others: list[dict[str, Any]] = []
        for resource in resources:
            if resource.get("resourceType") == "DiagnosticReport" and resource.get("imagingStudy"):
                studies = [r for r in (target(ref) for ref in _items(resource.get("imagingStudy")))
                           if isinstance(r, dict) and r.get("resourceType") == "ImagingStudy"]
                parts.append(_imaging_html(resource, studies, language, viewer_url))
            elif resource.get("resourceType") == "ImagingStudy":
                continue  # shown with the report that references it
            elif resource.get("resourceType") == "DiagnosticReport":
                results = [r for r in (target(ref) for ref in _items(resource.get("result"))) if r]
                observations.extend(r for r in results if r.get("resourceType") == "Observation")
            elif resource.get("resourceType") == "Observation" and "valueQuantity" in resource:
                observations.append(resource)
            else:
                others.append(resource)
        if observations:
            parts.append(_lab_table(observations, language, title_text or _label("test", language)))
        if others:
            parts.append("<ul>" + "".join(f"<li>{_item_html(r, language)}</li>" for r in others) + "</ul>")
        if not resources and not shows_narrative:
            parts.append(f'<p class="empty">{_e(_label("none", language))}</p>')
        parts.append("</section>")
    parts.append("</article>")
    return "".join(parts)
