"""Where each table lives when the database is spread over several nodes by record (Citus).

Every table is placed here, by hand and with its reason: a new table fails
tests/operations/test_distribution.py until it is. docs/operations.md ("Scale-out") lists the same, and the
statements that distribute a PostgreSQL database with Citus are made from this table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    # Distributed by record id (create_distributed_table(..., 'record_id', colocate_with => 'records')):
    # every row of one record on one node, joins between them local.
    record = "distributed by record"
    # The trace, distributed by its chain (a record's chain is named by the record's id, the platform's is
    # "platform"): one chain on one node, appended under its head's lock; a colocation group of its own.
    chain = "distributed by chain"
    # Small, read everywhere, written rarely: a copy on every node (create_reference_table).
    reference = "reference"
    # A directory: a key the outside world holds without the record (a document's id in a FHIR URL, MHD's
    # masterIdentifier, ...) mapped to the record, distributed by that key so that the question goes to one node.
    # Written in the same transaction as the row it names; points at no distributed table.
    directory = "directory (distributed by its own key)"
    # The platform's own: accounts' sessions and codes, clients, queues; kept on the coordinator, never joined
    # with clinical rows.
    platform = "platform (coordinator)"


@dataclass(frozen=True)
class Placement:
    kind: Kind
    reason: str
    key: str | None = None  # a directory's distribution column

    @property
    def column(self) -> str | None:
        """The distribution column (the records table's own is its id, which every other names record_id)."""
        return {Kind.record: "record_id", Kind.chain: "chain", Kind.directory: self.key}.get(self.kind)


def distribution_column(table: str) -> str | None:
    """The column a distributed table is spread by, None for a reference or platform table."""
    placement = TABLES.get(table)
    if placement is None:
        return None
    return "id" if table == "records" else placement.column


def record(reason: str) -> Placement:
    return Placement(Kind.record, reason)


def directory(key: str, reason: str) -> Placement:
    return Placement(Kind.directory, reason, key)


TABLES: dict[str, Placement] = {
    # The record itself: distributed by its id, the column every other clinical table names record_id.
    "records": record("the record"),
    "record_keys": record("the record's data key"),
    "record_state_changes": record("the record's history"),
    "access_settings": record("the holder's settings"),
    "documents": record("the record's documents"),
    "pending_content": record("a deposit's content being written"),
    "document_named_professionals": record("who may see a restricted document"),
    "circle_members": record("the holder's trusted circle"),
    "blocked_professionals": record("the holder's blocked professionals"),
    "presence_grants": record("presence codes used on the record"),
    "emergency_accesses": record("emergency accesses to the record"),
    "assistant_delegations": record("who acts for the holder"),
    "assistant_invitations": record("invitations to act for the holder"),
    "notifications": record("what the holder is told about the record"),
    "wishes": record("the holder's wishes (organ donation, end of life)"),
    "stays": record("the holder's hospital stays"),
    "stay_movements": record("a stay's care units"),
    "institutional_refusals": record("institutions refused by the holder"),
    "search_terms": record("the record's blind search index"),
    "structured_entries": record("the structured index of FHIR documents"),
    "structured_codes": record("the structured index's codes"),
    "fhir_submission_sets": record("MHD submission sets"),
    "fhir_submitted_documents": record("MHD metadata of a document"),
    "fhir_document_context": record("MHD context of a document"),
    "fhir_document_relations": record("MHD relations between documents"),
    "fhir_folders": record("MHD folders"),
    "fhir_folder_entries": record("MHD folder entries"),
    "document_directory": directory("document_id", "a document's record, for a URL that names the document alone"),
    "master_identifiers": directory("value", "MHD's masterIdentifier: unique across records, asked by its value"),
    "invitation_tokens": directory("token_hash", "an invitation link's token: the invitee's link names no record"),
    "visit_numbers": directory("visit_number", "a hospital's visit number: ADT messages name no record; spread by "
                               "the number, so that one hospital's stays are not all on one node"),
    "imported_documents": directory("source_id", "an import's idempotency key: the export names its lines by "
                                    "their own identifiers"),
    "trace_entries": Placement(Kind.chain, "the trace: a record's acts in the record's chain"),
    "trace_chain_heads": Placement(Kind.chain, "each chain's last position, locked by each append"),
    "persons": Placement(Kind.reference, "every insured person, with their record's id: a record names its holder, "
                                         "delegations name persons"),
    "legal_representations": Placement(Kind.reference, "who represents a minor: read with the persons"),
    "professionals": Placement(Kind.reference, "the professionals' register: documents and grants name them"),
    "organisations": Placement(Kind.reference, "institutions and practices: stays, grants and documents name them"),
    "professional_organisations": Placement(Kind.reference, "which professional works where"),
    "accounts": Placement(Kind.reference, "logins: the outbox names them; read at every request"),
    "web_sessions": Placement(Kind.platform, "portal sessions"),
    "activation_codes": Placement(Kind.platform, "account activation codes"),
    "activation_letters": Placement(Kind.platform, "letters carrying activation codes"),
    "recovery_codes": Placement(Kind.platform, "account recovery codes"),
    "unlock_links": Placement(Kind.platform, "links that unlock an account"),
    "throttles": Placement(Kind.platform, "rate limits and failed-login counters"),
    "notification_preferences": Placement(Kind.platform, "a person's e-mail preferences"),
    "outbox_messages": Placement(Kind.platform, "the e-mail queue the notification worker drains across records"),
    "jobs": Placement(Kind.platform, "the work acts leave for the worker (indexing, fan-out), drained across records"),
    "clients": Placement(Kind.platform, "registered FHIR client software"),
    "client_assertions_used": Placement(Kind.platform, "client assertions seen (replay guard)"),
    "smart_authorization_codes": Placement(Kind.platform, "SMART authorization codes"),
    "adt_senders": Placement(Kind.platform, "hospital systems allowed to send ADT messages"),
    "adt_sender_certificates": Placement(Kind.platform, "their certificates"),
    "received_messages": Placement(Kind.platform, "ADT messages received (replay guard)"),
    "import_batches": Placement(Kind.platform, "the import's journal"),
    "trace_checkpoints": Placement(Kind.platform, "signed checkpoints of the whole trace"),
    "credential_epochs": Placement(Kind.platform, "one row: moved by every change that can withdraw a caller"),
}
