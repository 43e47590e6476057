"""Words that follow the person they are said of: "la titulaire" or "le titulaire", "représentante légale" or
"représentant légal" (and "Inhaberin"/"Inhaber", "Vertreterin"/"Vertreter", "a titular"/"o titular").

One message per form, told apart in its id ("… (she)", "… (he)"); English reads the same words for both.
A person whose sex is other or unknown reads the message without a mark, as before. Templates call these as
globals and translate what they return: ``{{ _(the_holder(holder)) }}``.
"""

from __future__ import annotations

from typing import Any

from opendsp.locale import N_

_THE_HOLDER = {"female": N_("The holder (she)"), "male": N_("The holder (he)")}
_LEGAL_REPRESENTATIVE = {"female": N_("Legal representative (she)"), "male": N_("Legal representative (he)")}
_AS_ROLE = {
    ("representative", "female"): N_("as legal representative (she)"),
    ("representative", "male"): N_("as legal representative (he)"),
    ("assistant", "female"): N_("as assistant (she)"),
    ("assistant", "male"): N_("as assistant (he)"),
}


def _sex(person_or_sex: Any) -> str:
    """A person's sex as its code (a Person, a Sex or its code; anything else: unknown)."""
    value = getattr(person_or_sex, "sex", person_or_sex)
    return str(getattr(value, "value", value) or "")


def the_holder(person: Any) -> str:
    """ "The holder", said of this record's holder."""
    return _THE_HOLDER.get(_sex(person), N_("The holder"))


def legal_representative(person: Any) -> str:
    return _LEGAL_REPRESENTATIVE.get(_sex(person), N_("Legal representative"))


def as_role(relation: str, person: Any) -> str:
    """How the person acting holds a record of someone else's: "as legal representative", "as assistant"."""
    neutral = N_("as legal representative") if relation == "representative" else N_("as assistant")
    return _AS_ROLE.get((relation if relation == "representative" else "assistant", _sex(person)), neutral)


GLOBALS = {"the_holder": the_holder, "legal_representative": legal_representative, "as_role": as_role}
