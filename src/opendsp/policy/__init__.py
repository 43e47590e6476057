"""The one policy decision point: every access to a record is decided here.

``decide`` is a pure function of facts (who, what, the record, the document,
the holder's choices, the time) and returns a ``Decision``. Nothing else in
the code base decides access; searches use ``Visibility``, built from the
same rules, as a filter inside the query.
"""

from opendsp.policy.decision import Decision, decide, visibility
from opendsp.policy.facts import AccessRequest, DocumentFacts, Grants, RecordFacts
from opendsp.policy.matrix import PolicyParameters, RightsMatrix, load_matrix
from opendsp.policy.vocabulary import Action, Basis, Effect, Obligation, Reason

__all__ = [
    "AccessRequest",
    "Action",
    "Basis",
    "Decision",
    "DocumentFacts",
    "Effect",
    "Grants",
    "Obligation",
    "PolicyParameters",
    "Reason",
    "RecordFacts",
    "RightsMatrix",
    "decide",
    "load_matrix",
    "visibility",
]
