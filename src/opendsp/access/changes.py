"""Changing a record's documents: deposit, replace (a new version), withdraw, and the forms before them.

The permit of each change comes from the gate (``opendsp.access.gate``), with its trace entry; the storage layer
(``opendsp.documents.services``) then refuses to write anything without it. The document's author is whoever
deposits, never what the caller's draft says.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace

from opendsp.access.gate import Gate, InvalidRequest
from opendsp.actors import ActorKind
from opendsp.documents import services as documents
from opendsp.documents.models import Document
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
from opendsp.notifications.models import NotificationKind
from opendsp.policy.vocabulary import Action
from opendsp.records.models import Record


class Changes(Gate):
    """Deposits, new versions and withdrawals, each decided and traced as one act."""

    def authorise_document_change(self, record_id: uuid.UUID, document_id: uuid.UUID, action: Action) -> Document:
        """Before a replace or withdraw form shows anything of a document: the policy's permit for that act
        (traced, as the form's step). Anything the caller may not reach is refused as not found."""
        assert action in (Action.replace_document, Action.withdraw_document)
        record = self._record(record_id)
        document = self._document_in(record, document_id)
        self._authorise(action, record, document=document, trace_document=document.id if document else None,
                        context={"step": "form"})
        assert document is not None
        return document

    def replace_in(self, record_id: uuid.UUID, document_id: uuid.UUID, draft: documents.DocumentDraft,
                   content: Iterable[bytes]) -> Document:
        """``replace`` for a document named within a record: another record's document is not found.

        A new version keeps the type of the document it replaces: the draft's type is set from it."""
        self._require_in(record_id, document_id, Action.replace_document)
        old = self._document_in(self._record(record_id), document_id)
        assert old is not None
        return self.replace(document_id, replace(draft, type=old.type), content)

    def withdraw_in(self, record_id: uuid.UUID, document_id: uuid.UUID, *, reason: str | None = None) -> Document:
        """``withdraw`` for a document named within a record: another record's document is not found."""
        self._require_in(record_id, document_id, Action.withdraw_document)
        return self.withdraw(document_id, reason=reason)

    def _require_in(self, record_id: uuid.UUID, document_id: uuid.UUID, action: Action) -> None:
        record = self._record(record_id)
        if self._document_in(record, document_id) is None:
            # Decided (record-level refusals first) and traced like a document the caller may not see.
            self._authorise(action, record, document=None)
            raise AssertionError("unreachable: no document is always refused")

    def _authored(self, draft: documents.DocumentDraft) -> documents.DocumentDraft:
        """The author is whoever deposits: never taken from the caller's draft."""
        if self.actor.kind is ActorKind.professional:
            return replace(
                draft,
                author_professional_id=uuid.UUID(self.actor.id),
                author_organisation_id=self.actor.organisation_id,
                authored_by_holder=False,
            )
        return replace(
            draft,
            author_professional_id=None,
            author_organisation_id=None,
            authored_by_holder=True,
            visible_to_holder_from=None,
        )

    def deposit(
        self,
        record_id: uuid.UUID,
        draft: documents.DocumentDraft,
        content: Iterable[bytes],
    ) -> Document:
        record = self._record(record_id)
        draft = self._authored(draft)
        draft.check()
        new_id = uuid.uuid4()
        content = self._keep_for_index(draft, content)
        self._check_structured(draft, content)
        self._check_declared(draft, content)
        permit = self._authorise(
            Action.deposit_document,
            record,
            document_type=draft.type,
            trace_document=new_id,
            context={"type": draft.type.value, "title": draft.title.strip()},
        )
        document = documents.store(
            session=self.session,
            platform=self.platform,
            permit=permit,
            record=record,
            document_id=new_id,
            draft=draft,
            content=content,
        )
        self._index(document, content)
        self._notify_new_document(record, document)
        return document

    def _notify_new_document(self, record: Record, document: Document, replaces: Document | None = None) -> None:
        """A professional's new document (or version) is news for the holder's side, once the holder may see it."""
        if self.actor.kind is not ActorKind.professional:
            return
        details = {"document": str(document.id), "type": document.type.value, "title": document.title,
                   "actor": self.actor.display}
        if replaces is not None:
            details["replaces"] = str(replaces.id)
        self._notify_change(record, NotificationKind.document_new.value, details,
                            shown_from=document.visible_to_holder_from)

    def replace(
        self,
        document_id: uuid.UUID,
        draft: documents.DocumentDraft,
        content: Iterable[bytes],
        *,
        within: uuid.UUID | None = None,
    ) -> Document:
        """``within``: the record the caller means; a document of another record does not exist for them."""
        old, record = self._document_of(document_id)
        if within is not None and record is not None and record.id != within:
            old, record = None, None
        draft = self._authored(draft)
        draft.check()
        content = self._keep_for_index(draft, content)
        self._check_structured(draft, content)
        self._check_declared(draft, content)
        new_id = uuid.uuid4()
        permit = self._authorise(
            Action.replace_document,
            record,
            document=old,
            context={"type": draft.type.value, "new_document": str(new_id)},
        )
        assert old is not None and record is not None
        if draft.type is not old.type:
            raise InvalidRequest("a new version keeps the type of the document it replaces")
        document = documents.store(
            session=self.session,
            platform=self.platform,
            permit=permit,
            record=record,
            document_id=new_id,
            draft=draft,
            content=content,
            replaces=old,
        )
        self._index(document, content)
        self._notify_new_document(record, document, replaces=old)
        return document

    def withdraw(self, document_id: uuid.UUID, *, reason: str | None = None) -> Document:
        document, record = self._document_of(document_id)
        permit = self._authorise(
            Action.withdraw_document, record, document=document, context={"reason_text": reason} if reason else None
        )
        assert document is not None
        return documents.withdraw(session=self.session, platform=self.platform, permit=permit, document=document)

    @staticmethod
    def _keep_for_index(draft: documents.DocumentDraft, content: Iterable[bytes]) -> Iterable[bytes]:
        """FHIR JSON content is kept in memory once, to be sealed and its structured entries indexed with the
        deposit; other content is streamed to the sealed store and nothing of it is kept."""
        return [b"".join(content)] if draft.media_type == FHIR_MEDIA_TYPE else content

    @staticmethod
    def _check_structured(draft: documents.DocumentDraft, content: Iterable[bytes]) -> None:
        """An imaging or discharge report in FHIR is a document Bundle fit for its type, whatever door it came by
        (docs/adr/0038-imaging-and-discharge-reports.md). Checked with the draft, before the decision: the answer
        depends on the content alone, never on the record, and a refused deposit leaves no trace of a deposit."""
        from opendsp.structured.bundles import CHECKED_TYPES, content_problems, parse_document

        if draft.media_type != FHIR_MEDIA_TYPE or draft.type.value not in CHECKED_TYPES:
            return
        bundle = parse_document(b"".join(content))  # kept in memory by _keep_for_index
        if bundle is None:
            raise documents.DocumentRefused(f"the content of a {draft.type.value} is a FHIR document Bundle")
        problems = content_problems(bundle, draft.type.value)
        if problems:
            message, where = problems[0]
            raise documents.DocumentRefused(f"{message} (in the document's content: {where})")

    def _check_declared(self, draft: documents.DocumentDraft, content: Iterable[bytes]) -> None:
        """A vaccination record from the holder's side is a vaccination they declare: a FHIR document Bundle
        whose Immunizations are all reported (``primarySource`` false), never a file that could pass for a
        professional's record (docs/adr/0042-vaccinations-the-holder-declares.md). Checked before the decision,
        like ``_check_structured``."""
        from opendsp.structured.bundles import parse_document
        from opendsp.structured.declared import declaration_problems

        if self.actor.kind is ActorKind.professional or draft.type is not DocumentType.vaccination_record:
            return
        bundle = parse_document(b"".join(content)) if draft.media_type == FHIR_MEDIA_TYPE else None
        if bundle is None:
            raise documents.DocumentRefused("a vaccination the holder declares is a FHIR document Bundle")
        problems = declaration_problems(bundle)
        if problems:
            message, where = problems[0]
            raise documents.DocumentRefused(f"{message} (in the document's content: {where})")

    def _index(self, document: Document, content: Iterable[bytes]) -> None:
        """The structured entries of FHIR content now, with the deposit; the keyword index by the worker, from a
        job written in this transaction (docs/adr/0030-jobs-off-the-request.md)."""
        from opendsp.jobs.models import JobKind
        from opendsp.jobs.services import enqueue
        from opendsp.structured.index import index_document as index_structured

        if document.media_type == FHIR_MEDIA_TYPE and isinstance(content, list):
            index_structured(self.session, self.platform, document, b"".join(content))
        enqueue(self.session, self.platform, kind=JobKind.index_document, record_id=document.record_id,
                document_id=document.id, trace_entry_id=self._last_entry.id if self._last_entry is not None else None)
