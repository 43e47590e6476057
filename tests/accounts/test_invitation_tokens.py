"""The invitation tokens' directory: a link's token finds its invitation through ``invitation_tokens`` (keyed by
the token's digest, the one key the invitee holds), written with the invitation and moved with each new link.

A digest the directory does not hold is unknown, whatever the invitations say; a directory row that names
another record than its invitation's finds nothing."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete, func, select, update

from opendsp import actors
from opendsp.accounts import invitations
from opendsp.accounts.codes import token_digest
from opendsp.accounts.models import AssistantInvitation, InvitationToken
from opendsp.platform import Platform
from opendsp.records.models import Record
from tests.factories import make_record
from tests.operations.test_record_scoped_sql import Statements


def _invite(platform: Platform, email: str = "helper@example.lu") -> tuple[uuid.UUID, uuid.UUID, str]:
    """An invitation of a new record, with the link the worker would send: (record, invitation, token)."""
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        invitation = invitations.invite(session=session, platform=platform, actor=actors.holder(record.holder),
                                        record_id=record.id, email=email, until=None, language="en")
        token = invitations.new_link(session, platform, invitation)
        return record.id, invitation.id, token


def _directory(platform: Platform) -> list[tuple[str, uuid.UUID, uuid.UUID]]:
    with platform.sessions() as session:
        return [tuple(row) for row in session.execute(  # type: ignore[misc]
            select(InvitationToken.token_hash, InvitationToken.record_id, InvitationToken.invitation_id))]


def test_the_invitation_and_its_token_are_written_together(platform: Platform) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        invitation = invitations.invite(session=session, platform=platform, actor=actors.holder(record.holder),
                                        record_id=record.id, email="a@example.lu", until=None, language="fr")
        record_id, invitation_id, digest = record.id, invitation.id, invitation.token_hash
    assert _directory(platform) == [(digest, record_id, invitation_id)]
    # A rolled-back invitation leaves neither row.
    with pytest.raises(RuntimeError), platform.transaction() as session:
        record = session.get(Record, record_id)
        assert record is not None
        invitations.invite(session=session, platform=platform, actor=actors.holder(record.holder),
                           record_id=record_id, email="b@example.lu", until=None, language="fr")
        raise RuntimeError("the request fails after the invitation")
    with platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AssistantInvitation)) == 1
    assert len(_directory(platform)) == 1


def test_a_new_link_moves_the_directory_and_the_old_token_is_unknown(platform: Platform) -> None:
    record_id, invitation_id, token = _invite(platform)
    with platform.sessions() as session:
        found = invitations.find(session, token)
        assert found is not None and (found.record_id, found.id) == (record_id, invitation_id)
    with platform.transaction() as session:
        invitation = invitations.find(session, token)
        assert invitation is not None
        newer = invitations.new_link(session, platform, invitation)
    assert _directory(platform) == [(token_digest(newer), record_id, invitation_id)]
    with platform.sessions() as session:
        assert invitations.find(session, token) is None
        assert invitations.find(session, newer) is not None


def test_a_token_finds_its_own_invitation_and_nothing_else(platform: Platform) -> None:
    first_record, first, first_token = _invite(platform, "one@example.lu")
    second_record, second, second_token = _invite(platform, "two@example.lu")
    with platform.sessions() as session:
        assert invitations.find(session, first_token).id == first  # type: ignore[union-attr]
        assert invitations.find(session, second_token).id == second  # type: ignore[union-attr]
        for unknown in ("", "x" * 101, first_token[:-1] + ("A" if first_token[-1] != "A" else "B")):
            assert invitations.find(session, unknown) is None
    # A directory row naming another record than its invitation's (a stale or forged row) finds nothing: the
    # invitation is read by the record the directory names, its id and its current digest.
    with platform.transaction() as session:
        session.execute(update(InvitationToken).where(InvitationToken.token_hash == token_digest(first_token))
                        .values(record_id=second_record))
    with platform.sessions() as session:
        assert invitations.find(session, first_token) is None
    # The invitation's own digest without its directory row is unknown too.
    with platform.transaction() as session:
        session.execute(delete(InvitationToken).where(InvitationToken.token_hash == token_digest(second_token)))
    with platform.sessions() as session:
        assert session.scalars(select(AssistantInvitation.token_hash).where(
            AssistantInvitation.id == second)).one() == token_digest(second_token)
        assert invitations.find(session, second_token) is None
    with platform.sessions() as session:
        with pytest.raises(invitations.InvitationRefused) as refused:
            invitations.check(invitations.find(session, second_token), platform.clock.now())
        assert refused.value.code == "unknown"
    assert first_record != second_record


def test_finding_an_invitation_names_its_record_in_every_statement(platform: Platform) -> None:
    _record_id, _invitation_id, token = _invite(platform)
    statements = Statements(platform.engine)  # type: ignore[arg-type]
    with statements.recording(), platform.sessions() as session:
        assert invitations.find(session, token) is not None
    assert any("invitation_tokens" in statement for statement in statements.seen)
    assert statements.unscoped() == {}
