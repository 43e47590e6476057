"""RecordAccess's reads for the portals and the console that are not acts on one record: who may ask them."""

from __future__ import annotations

import pytest

from opendsp import actors
from opendsp.access.services import InvalidRequest, RecordAccess
from opendsp.platform import Platform
from opendsp.trace.models import TraceEntry
from tests.factories import as_holder, deposit_pdf, make_organisation, make_professional, make_record


def test_the_published_figures_are_counts_for_the_agency_only(platform: Platform) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        deposit_pdf(session, platform, record)
        agency = RecordAccess(session=session, platform=platform,
                              actor=actors.agency("staff-1", "Helpdesk", frozenset({"helpdesk"})))
        figures = agency.published_figures()
        assert [f.title for f in figures] == ["Record activations per month",
                                              "Documents deposited per month, by type",
                                              "Documents consulted per month"]
        assert sum(figures[0].series[0].values) == 1 and sum(sum(s.values) for s in figures[1].series) == 1
        entries = session.query(TraceEntry).count()
        professional = make_professional(session, platform, organisation=make_organisation(session, platform))
        for caller in (as_holder(session, platform, record),
                       RecordAccess(session=session, platform=platform, actor=actors.professional(professional, organisation=None))):
            with pytest.raises(InvalidRequest):
                caller.published_figures()
        assert session.query(TraceEntry).count() == entries  # not an act on a record: nothing traced
