"""The figures the agency publishes, per month: counts only, never a document or a name.

Read through ``RecordAccess.published_figures`` (the console never queries clinical tables itself). Each figure is a handful of ``count`` queries (one per month) that both
databases run on their indexes; nothing is loaded row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opendsp.accounts.models import Account, AccountKind
from opendsp.documents.models import Document
from opendsp.locale import N_
from opendsp.records.models import RecordState, RecordStateChange
from opendsp.trace.models import Outcome, TraceEntry

HOLDER_SIDE = ("holder", "assistant", "representative")


@dataclass(frozen=True)
class Series:
    name: str  # a catalogue id, or a code of ``system``
    values: list[int | None]  # None: a count withheld (``suppressed``)
    system: str | None = None  # the vocabulary of a coded name (opendsp.locale.terms), e.g. "document-type"
    key: str = ""  # a stable name for machines (the published CSV)


@dataclass(frozen=True)
class Figure:
    title: str
    months: list[str]  # "2026-01" (shown in words: opendsp.locale.formats.format_month)
    series: list[Series]
    key: str = ""  # a stable name for machines (the published CSV)


# Published figures (anyone may read them): a count from 1 to SMALL - 1 could point at a few people in a month, so
# it is withheld; 0 says nothing about anyone and is shown (docs/adr/0036-published-figures.md).
SMALL = 10
# The all-time total is published rounded down to this, so that it cannot be set against the monthly counts to
# recover a withheld one exactly.
TOTAL_ROUNDING = 10


def suppressed(value: int) -> int | None:
    """A count as it may be published: None when it is small enough to point at a few people."""
    return None if 0 < value < SMALL else value


def published(figure: Figure) -> Figure:
    """The figure with its small counts withheld."""
    return Figure(
        figure.title, figure.months,
        [Series(s.name, [None if v is None else suppressed(v) for v in s.values], s.system, s.key)
         for s in figure.series],
        figure.key,
    )


@dataclass(frozen=True)
class PublicFigures:
    """What anyone may read: monthly figures with small counts withheld, and the documents held, rounded down."""

    figures: list[Figure]
    until: datetime  # the end of the last month published (the first moment of the current month)
    documents_total: int | None  # None: withheld (1 to SMALL - 1); else rounded down to TOTAL_ROUNDING


def months_until(now: datetime, count: int = 12) -> list[tuple[datetime, datetime]]:
    """The last ``count`` calendar months, the current one included, oldest first."""
    year, month = now.year, now.month
    bounds = []
    for _ in range(count):
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
        bounds.append((start, end))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(bounds))


def activations(session: Session, now: datetime) -> Figure:
    windows = months_until(now)
    values = [
        session.scalar(
            select(func.count()).select_from(RecordStateChange).where(
                RecordStateChange.from_state == RecordState.created,
                RecordStateChange.to_state == RecordState.active,
                RecordStateChange.changed_at >= start,
                RecordStateChange.changed_at < end,
            )
        )
        or 0
        for start, end in windows
    ]
    return Figure(N_("Record activations per month"), [f"{s:%Y-%m}" for s, _ in windows], [Series(N_("activations"), values)])


def deposits(session: Session, now: datetime) -> Figure:
    windows = months_until(now)
    by_type: dict[str, list[int]] = {}
    for index, (start, end) in enumerate(windows):
        for kind, count in session.execute(
            select(Document.type, func.count())
            .where(Document.deposited_at >= start, Document.deposited_at < end)
            .group_by(Document.type)
        ):
            name = kind.value if hasattr(kind, "value") else str(kind)
            by_type.setdefault(name, [0] * len(windows))[index] = count
    series = [Series(name, values, "document-type") for name, values in sorted(by_type.items())]
    return Figure(N_("Documents deposited per month, by type"), [f"{s:%Y-%m}" for s, _ in windows], series)


def consultations(session: Session, now: datetime) -> Figure:
    windows = months_until(now)
    holders, professionals = [], []
    for start, end in windows:
        counts = dict(
            session.execute(
                select(TraceEntry.actor_kind, func.count())
                .where(
                    TraceEntry.action == "document.consult",
                    TraceEntry.outcome == Outcome.permitted,
                    TraceEntry.recorded_at >= start,
                    TraceEntry.recorded_at < end,
                )
                .group_by(TraceEntry.actor_kind)
            ).all()
        )
        holders.append(sum(counts.get(kind, 0) for kind in HOLDER_SIDE))
        professionals.append(counts.get("professional", 0))
    return Figure(
        N_("Documents consulted per month"),
        [f"{s:%Y-%m}" for s, _ in windows],
        [Series(N_("by holders"), holders), Series(N_("by professionals"), professionals)],
    )


def accounts_activated(session: Session, now: datetime) -> Figure:
    """Accounts activated per month: holders' (persons) and professionals'; the agency's staff are not counted."""
    windows = months_until(now)
    counts = {AccountKind.person: [0] * len(windows), AccountKind.professional: [0] * len(windows)}
    for index, (start, end) in enumerate(windows):
        for kind, count in session.execute(
            select(Account.kind, func.count())
            .where(Account.activated_at >= start, Account.activated_at < end,
                   Account.kind.in_([AccountKind.person, AccountKind.professional]))
            .group_by(Account.kind)
        ):
            counts[AccountKind(kind)][index] = count
    return Figure(
        N_("Accounts activated per month"), [f"{s:%Y-%m}" for s, _ in windows],
        [Series(N_("by holders"), list(counts[AccountKind.person]), key="holders"),
         Series(N_("by professionals"), list(counts[AccountKind.professional]), key="professionals")],
        key="accounts_activated",
    )


def deposits_per_month(session: Session, now: datetime) -> Figure:
    """Documents deposited per month, all types together (per type, the counts would be too small to publish)."""
    windows = months_until(now)
    values = [
        session.scalar(
            select(func.count()).select_from(Document)
            .where(Document.deposited_at >= start, Document.deposited_at < end)
        ) or 0
        for start, end in windows
    ]
    return Figure(N_("Documents deposited per month"), [f"{s:%Y-%m}" for s, _ in windows],
                  [Series(N_("documents"), list(values), key="all")], key="documents_deposited")


def public_figures(session: Session, now: datetime) -> PublicFigures:
    """The figures published to anyone, small counts withheld: the twelve months before the current one.

    Closed months only: a month's count never changes once published, so nobody learns of one person's act by
    watching a count move from one day to the next."""
    start_of_month = datetime(now.year, now.month, 1, tzinfo=UTC)
    now = start_of_month - timedelta(microseconds=1)  # the last moment of the last closed month
    consulted = consultations(session, now)
    consulted = Figure(consulted.title, consulted.months,
                       [Series(s.name, s.values, key=key) for s, key in zip(consulted.series,
                                                                            ("holders", "professionals"), strict=True)],
                       key="documents_consulted")
    total = session.scalar(select(func.count()).select_from(Document).where(Document.deposited_at < start_of_month)) or 0
    return PublicFigures(
        figures=[published(accounts_activated(session, now)), published(deposits_per_month(session, now)),
                 published(consulted)],
        until=start_of_month,
        documents_total=None if suppressed(total) is None else total // TOTAL_ROUNDING * TOTAL_ROUNDING,
    )


def figures(session: Session, now: datetime) -> list[Figure]:
    return [activations(session, now), deposits(session, now), consultations(session, now)]
