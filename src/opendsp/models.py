"""Every mapped table, imported in one place for migrations and metadata."""

from opendsp.access.models import (
    AccessSettings,
    AssistantDelegation,
    BlockedProfessional,
    CircleMember,
    DocumentNamedProfessional,
    EmergencyAccess,
    Notification,
    PresenceGrant,
    Wish,
)
from opendsp.accounts.models import (
    Account,
    ActivationCode,
    ActivationLetter,
    AssistantInvitation,
    InvitationToken,
    RecoveryCode,
    WebSession,
)
from opendsp.clients.models import AuthorizationCode, Client, UsedAssertion
from opendsp.content.models import PendingContent, RecordKey
from opendsp.db import Base
from opendsp.documents.models import Document
from opendsp.importing.models import ImportBatch, ImportedDocument
from opendsp.jobs.models import Job
from opendsp.submissions.models import DocumentContext, DocumentRelation, Folder, FolderEntry
from opendsp.submissions.models import MasterIdentifier, SubmissionSet, SubmittedDocument
from opendsp.structured.models import StructuredCode, StructuredEntry
from opendsp.notifications.models import EmailPreference, OutboxMessage
from opendsp.persons.models import LegalRepresentation, Person
from opendsp.professionals.models import Organisation, Professional
from opendsp.records.models import Record, RecordStateChange
from opendsp.search.models import SearchTerm
from opendsp.stays.models import AdtSender, InstitutionalRefusal, ReceivedMessage, Stay, StayMovement, VisitNumber
from opendsp.trace.models import TraceChainHead, TraceCheckpoint, TraceEntry

__all__ = [
    "AuthorizationCode",
    "Client",
    "DocumentContext",
    "DocumentRelation",
    "Folder",
    "FolderEntry",
    "SubmissionSet",
    "SubmittedDocument",
    "MasterIdentifier",
    "StructuredCode",
    "StructuredEntry",
    "UsedAssertion",
    "Account",
    "ActivationCode",
    "ActivationLetter",
    "AssistantInvitation",
    "InvitationToken",
    "RecoveryCode",
    "WebSession",
    "AccessSettings",
    "AssistantDelegation",
    "BlockedProfessional",
    "CircleMember",
    "DocumentNamedProfessional",
    "EmergencyAccess",
    "Notification",
    "EmailPreference",
    "OutboxMessage",
    "PresenceGrant",
    "Wish",
    "Base",
    "Document",
    "ImportBatch",
    "ImportedDocument",
    "Job",
    "LegalRepresentation",
    "Organisation",
    "PendingContent",
    "Person",
    "Professional",
    "Record",
    "RecordKey",
    "RecordStateChange",
    "SearchTerm",
    "AdtSender",
    "InstitutionalRefusal",
    "ReceivedMessage",
    "Stay",
    "StayMovement",
    "VisitNumber",
    "TraceChainHead",
    "TraceCheckpoint",
    "TraceEntry",
]
