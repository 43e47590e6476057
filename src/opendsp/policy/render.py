"""docs/access-policy.md, generated: the rules in words and the rights matrix as a table."""

from __future__ import annotations

from opendsp.documents.types import CODINGS, DocumentType
from opendsp.policy.matrix import Rights, RightsMatrix
from opendsp.policy.vocabulary import REASON_TEXT, Basis, Reason
from opendsp.professionals.vocabulary import PROFESSIONS, SPECIALTIES

RULES = """\
# Access policy

> Generated from `src/opendsp/policy/rights.yaml` and the policy code by
> `opendsp policy render > docs/access-policy.md`. A test fails when this file
> is out of date: change the data or the code, then render again.

Every access to a record — by the holder, an assistant, a legal
representative, a professional (in person or through their software), agency
staff or a platform job — is decided by one pure function,
`opendsp.policy.decide`, from the facts of the request: who acts, the action,
the record's state, the document's metadata, the holder's choices, and the
time. The decision is *permit* or *deny*, with a reason, the basis of access
and obligations (notify the holder, trace as emergency). **Deny is the
default.** Every decision, permit or deny, writes exactly one trace entry; a
refusal is written again in a transaction of its own if the request that
caused it is rolled back. Lists, counts and totals are filtered by the same
rule inside the database query (`opendsp.policy.sql`), so they never reveal a
document the caller could not consult.

## The rules, in order of precedence

1. **Agency staff and platform jobs** never list, consult, deposit or export
   anything of a record. Agency staff manage accounts; their acts are traced
   like any other. A hospital's system reports the stays of its own
   patients and nothing else. **Erasing a record for good** (after the
   holder's death and the retention period, or on a legal order) is the
   agency's act alone (staff or platform job), and only on a **closed**
   record; nobody else may ask for it.
2. **The holder's side.** The holder, an assistant the holder designated
   (until the end date the holder gave, if any), and a legal representative
   of a minor (until the minor's 18th birthday) act with the holder's rights.
   They see every document of the record, hidden and withdrawn ones
   included, except a result whose release the author delayed, until that
   date. They deposit only in the personal space ({holder_types}), and
   replace or withdraw only the documents deposited there. They manage access (and look
   professionals up in the directory to do so), read the trace, export,
   close and reopen the record; while the record is closed they change
   nothing but its state. A change that names a document (hiding it, ...)
   names one they see: any other id is "not found". **An assistant cannot
   designate further assistants.** Their acts are traced as "X for Y". A
   person who is both an assistant and a legal representative acts through
   the role that holds now, the representative first: a former
   representative (the child has come of age) who is also an assistant
   acts as the assistant.
3. **A closed record** refuses every professional and every deposit (the
   holder's too); the holder still reads it, reads its trace and reopens it.
   **A record not yet activated** refuses professionals likewise.
4. **An unknown profession** (not in the matrix below) gets nothing.
5. **A blocked professional** is refused, whatever else would grant access:
   circle, referring doctor, presence code, emergency access, direct deposit.
6. **An access basis** is needed by a professional, in this order:
   - *referring doctor* — the one doctor the holder designated; the only one
     who deposits the patient summary;
   - *trusted circle* — professionals the holder added one by one (adding one
     doctor of a practice gives nothing to the others), until the end date
     the holder gave, if any;
   - *hospital stay* — while a stay is in progress at a hospital, and for
     {after_discharge:g} days after discharge, the professionals acting for that
     hospital (or for its care unit, when the hospital reports one) have
     access under the matrix. The hospital's own system reports the stay
     (HL7 v2 ADT or FHIR Encounter); a cancelled admission removes the access
     at once. The holder may refuse institutional access altogether, or for
     one organisation. The trace names the stay ("stay at X from … to …");
   - *presence code* — the holder's secret code, given to a professional
     outside the circle, opens the record to that professional for
     {presence_hours:g} hours exactly. The holder is notified of every use.
     Wrong codes are counted from the trace over {lockout:g} minutes: after
     {per_pair} wrong codes by one professional on one record, {per_record} on one record by
     anyone, or {per_professional} by one professional on any records, every attempt is refused
     (even with the right code) until the window has passed, and the holder
     is notified once, by the wrong code that locks it;
   - *emergency access* — a professional acting for an emergency department
     opens the record without the code, giving a mandatory reason, if the
     holder allows emergency access (allowed by default). It lasts
     {emergency_hours:g} hours, every act under it is traced as emergency, and
     the holder is notified. Refusing emergency access ends open ones.
   - Without a basis, a professional may still deposit the types listed under
     *direct deposit* for their profession (laboratory results are sent to the
     record directly), and replace or withdraw those documents of their own
     that the holder has not hidden; for any other document id, existing or
     not, they get the same answer as for lack of a basis.
   A refusal for lack of a basis says how access can be obtained (a presence
   code, the trusted circle, and for emergency departments emergency access)
   and never whether anything is hidden.
   With a basis, a professional also reads the **holder's wishes** (organ
   donation, ...: action `wishes.read`), whatever their profession's document
   rights; so does the holder's side. They go with the page that shows them
   (the patient view, the summary), in its one trace entry, or are read on
   their own (FHIR Consent: one `wishes.read` entry per search or read).
7. **Documents.** A document exists for a professional only if
   - the holder has not hidden it ("documents bloqués": hidden from every
     professional, its author included, until the holder unhides it);
   - its type is one the professional's profession and specialties may
     consult (matrix below);
   - it is not withdrawn, unless they are its author;
   - its confidentiality is *normal*, or it is *restricted* and they are its
     author, the referring doctor, or a professional the holder named.
   Otherwise it is "not found", exactly like a document that does not exist.
   The holder's side restricts a document to the professionals it names, or
   lifts the restriction (`access.manage`, change `document.confidentiality`),
   and reads who may read it (`record.export`, part `document.readers`); both
   name the document, which must be one the holder's side sees (else "not
   found", like another record's). Professionals never change it afterwards.
   A professional's list of patients ("My patients") is the records this
   policy lets them open now, with the basis it gives (`policy/patients.py`).
8. **Deposits, replacements, withdrawals** by a professional need the type in
   their *deposit* rights; replacing and withdrawing are for the author only,
   and only for the current version.
9. **Looking people up** (identity only, never clinical data) is open to every
   professional whose profession has rights, by exact demographics, at most
   {lookups} times an hour (counted from the trace). A person whose record is
   closed, not activated or blocks the professional is not found for them,
   and every person found has the lookup in their own record's trace.
10. **What a refusal tells.** A refusal that would reveal something the holder
   did not say to the caller (a hidden document, a block, a closed record)
   is answered exactly as an unknown id; a document named by its id that the
   caller may not see is "not found", whatever the reason
   (`opendsp.policy.disclosure`).

## Reasons

| reason | meaning |
|---|---|
{reasons}

## Bases of access (shown to the holder in the trace)

{bases}

## The rights matrix

C: may consult · D: may deposit (and replace or withdraw their own) ·
D*: may deposit directly, without an access basis. A professional's rights are
those of their profession, joined with those of each of their specialties and
with those their profession gains when acting for a kind of organisation
(second table).

{table}

### Rights gained when acting for a kind of organisation

{organisations}
"""


def _cell(rights: Rights, kind: DocumentType) -> str:
    marks = []
    if kind in rights.consult:
        marks.append("C")
    if kind in rights.direct_deposit:
        marks.append("D*")
    elif kind in rights.deposit:
        marks.append("D")
    return " ".join(marks) or "·"


def _table(matrix: RightsMatrix) -> str:
    kinds = list(DocumentType)
    header = "| profession / specialty | " + " | ".join(CODINGS[k].display + f" ({k.value})" for k in kinds) + " |"
    lines = [header, "|" + "---|" * (len(kinds) + 1)]
    for profession, rights in matrix.professions.items():
        lines.append(f"| **{PROFESSIONS[profession]}** | " + " | ".join(_cell(rights, k) for k in kinds) + " |")
        for (owner, specialty), extra in sorted(matrix.specialties.items()):
            if owner == profession:
                joined = rights | extra
                label = f"{PROFESSIONS[profession]} — {SPECIALTIES[specialty]}"
                lines.append(f"| {label} | " + " | ".join(_cell(joined, k) for k in kinds) + " |")
    return "\n".join(lines)


def _organisation_table(matrix: RightsMatrix) -> str:
    kinds = list(DocumentType)
    header = "| organisation / profession | " + " | ".join(k.value for k in kinds) + " |"
    lines = [header, "|" + "---|" * (len(kinds) + 1)]
    for (organisation, profession), extra in matrix.organisations.items():
        label = f"{organisation.replace('_', ' ')} — {PROFESSIONS[profession]}"
        lines.append(f"| {label} | " + " | ".join(_cell(extra, k) for k in kinds) + " |")
    return "\n".join(lines)


def render_access_policy(matrix: RightsMatrix) -> str:
    p = matrix.parameters
    return RULES.format(
        presence_hours=p.presence_access_hours,
        emergency_hours=p.emergency_access_hours,
        after_discharge=p.stay_access_days_after_discharge,
        lockout=p.presence_code_lockout_minutes,
        per_pair=p.presence_failures_per_professional_and_record,
        per_record=p.presence_failures_per_record,
        per_professional=p.presence_failures_per_professional,
        lookups=p.patient_lookups_per_hour,
        reasons="\n".join(f"| `{reason.value}` | {REASON_TEXT[reason]} |" for reason in Reason),
        bases="\n".join(f"- `{basis.value}`" for basis in Basis),
        holder_types=", ".join(f"`{kind.value}`" for kind in DocumentType if kind in matrix.holder_deposit),
        table=_table(matrix),
        organisations=_organisation_table(matrix),
    )
