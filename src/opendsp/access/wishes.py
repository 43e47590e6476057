"""The wishes a holder may record, and the answers each one admits."""

from __future__ import annotations

import enum


class WishKind(str, enum.Enum):
    organ_donation = "organ_donation"  # "Après mon décès, je suis donneur d'organes"


class WishValue(str, enum.Enum):
    yes = "yes"
    no = "no"
    not_stated = "not_stated"


ANSWERS: dict[WishKind, frozenset[WishValue]] = {
    WishKind.organ_donation: frozenset(WishValue),
}
