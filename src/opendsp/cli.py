"""The ``opendsp`` command: an adapter over the same services as the web."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from opendsp import __version__
from opendsp.actors import SYSTEM
from opendsp.settings import InsecureSettings, Mode, Settings

err = Console(stderr=True)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error; quiet when it is not a terminal."""
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=err, transient=False, disable=not err.is_terminal) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def staged_progress_bar() -> Iterator[tuple[Callable[[str, int | None], None], Callable[[int], None]]]:
    """One progress bar whose step (description and size) changes as a long command goes on."""
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=err, transient=False, disable=not err.is_terminal) as bar:
        task = bar.add_task("starting", total=None)

        def stage(description: str, total: int | None) -> None:
            if not err.is_terminal:
                err.print(f"{description}...", highlight=False)  # a line per step where no bar can be drawn
            bar.reset(task, total=total, description=description)

        yield stage, lambda n: bar.advance(task, n)


def _platform(ctx: click.Context):  # type: ignore[no-untyped-def]
    from opendsp.platform import Platform

    if "platform" not in ctx.obj:
        ctx.obj["platform"] = Platform(settings=ctx.obj["settings"])
    return ctx.obj["platform"]


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(code)


@click.group()
@click.version_option(__version__, prog_name="opendsp")
@click.pass_context
def main(ctx: click.Context) -> None:
    """OpenDSP: the shared care record platform."""
    ctx.ensure_object(dict)
    try:
        ctx.obj["settings"] = Settings()
    except ValueError as error:
        fail(f"bad settings: {error}", 2)


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the database schema.

    Runs as OPENDSP_MIGRATION_DATABASE_URL (the owner role) when it is set; the
    application role of OPENDSP_DATABASE_URL is then granted what it needs, and no more.
    """
    from opendsp.db import make_engine
    from opendsp.migrations import upgrade
    from opendsp.migrations.roles import grant_application, user_of

    settings: Settings = ctx.obj["settings"]
    if settings.database_kind == "sqlite":
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if settings.migration_database_url == settings.database_url:
        upgrade(_platform(ctx).engine)
        err.print(f"database ready ({settings.database_kind})")
        return
    owner, application = user_of(settings.migration_database_url), user_of(settings.database_url)
    engine = make_engine(settings.migration_database_url)
    try:
        upgrade(engine)
        if engine.dialect.name == "postgresql" and application and application != owner:
            with engine.begin() as connection:
                grant_application(connection, application)
    finally:
        engine.dispose()
    granted = f"; {application} granted" if application and application != owner else ""
    err.print(f"database ready ({settings.database_kind}, migrated as {owner}{granted})", highlight=False)


@main.group()
def db() -> None:
    """The database (PostgreSQL): its roles, its distribution over a Citus cluster."""


@db.command("roles")
@click.option("--owner", required=True, help="The role that owns the schema and runs the migrations.")
@click.option("--application", required=True, help="The role the server, worker and listeners connect as.")
@click.option("--admin-url", default=None,
              help="A role that may create roles (default OPENDSP_MIGRATION_DATABASE_URL).")
@click.option("--owner-password", envvar="OPENDSP_OWNER_ROLE_PASSWORD", default=None,
              help="Password of the owner role (or OPENDSP_OWNER_ROLE_PASSWORD); none: another authentication.")
@click.option("--application-password", envvar="OPENDSP_APPLICATION_ROLE_PASSWORD", default=None,
              help="Password of the application role (or OPENDSP_APPLICATION_ROLE_PASSWORD).")
@click.pass_context
def db_roles(ctx: click.Context, owner: str, application: str, admin_url: str | None, owner_password: str | None,
             application_password: str | None) -> None:
    """Create the owner and application roles, give the schema to the owner and grant the application.

    Idempotent; run it once before the first `opendsp migrate`, and again to move an older install (whose
    application role owned the tables) to two roles (docs/operations.md, "Database roles").
    """
    from sqlalchemy.exc import SQLAlchemyError

    from opendsp.db import make_engine
    from opendsp.migrations.roles import RolesRefused, create_roles, schema_on_workers

    settings: Settings = ctx.obj["settings"]
    engine = make_engine(admin_url or settings.migration_database_url)
    try:
        with engine.begin() as connection:
            done = create_roles(connection, owner=owner, application=application, owner_password=owner_password,
                                application_password=application_password)
        with engine.begin() as connection:  # the workers see the roles once they are committed
            done.extend(schema_on_workers(connection, owner=owner, application=application))
    except RolesRefused as error:
        fail(str(error), 2)
    except SQLAlchemyError as error:
        fail(f"the database refused: {getattr(error, 'orig', error)}", 2)
    finally:
        engine.dispose()
    for line in done:
        click.echo(line)
    click.echo(f"now: OPENDSP_MIGRATION_DATABASE_URL connects as {owner}, OPENDSP_DATABASE_URL as {application}")


@db.command("distribute")
@click.pass_context
def db_distribute(ctx: click.Context) -> None:
    """Place every table on a Citus cluster: reference tables, tables distributed by record, the trace's chains.

    Run on the coordinator (OPENDSP_MIGRATION_DATABASE_URL, the tables' owner) after `opendsp migrate` and
    after the worker nodes are added. Creates the citus extension if needed; idempotent (docs/operations.md,
    "Scale-out").
    """
    from sqlalchemy.exc import SQLAlchemyError

    from opendsp.db import make_engine
    from opendsp.migrations.citus import DistributionRefused, distribute

    settings: Settings = ctx.obj["settings"]
    engine = make_engine(settings.migration_database_url)
    try:
        placed = distribute(engine, click.echo)
    except DistributionRefused as error:
        fail(str(error), 2)
    except SQLAlchemyError as error:
        fail(f"the database refused: {getattr(error, 'orig', error)}", 2)
    finally:
        engine.dispose()
    click.echo(f"{placed} tables placed" if placed else "nothing to do: every table is placed")


def health_options(command: Callable[..., None]) -> Callable[..., None]:
    """--health-host and --health-port: the process's own /healthz/live and /healthz/ready (opendsp/health.py)."""
    command = click.option("--health-port", type=int, default=None, envvar="OPENDSP_HEALTH_PORT",
                           help="Answer /healthz/live and /healthz/ready on this port (or OPENDSP_HEALTH_PORT); "
                                "none by default.")(command)
    return click.option("--health-host", default="127.0.0.1", show_default=True, envvar="OPENDSP_HEALTH_HOST",
                        help="Address of the health port (or OPENDSP_HEALTH_HOST).")(command)


def _start_health(platform, role: str, host: str, port: int | None, stopping,  # type: ignore[no-untyped-def]
                  serving=None):
    """The health server of a process that serves no web pages, and the role its metrics carry."""
    from opendsp.health import HealthServer
    from opendsp.metrics import count_as

    count_as(role, platform.engine)
    if port is None:
        return None
    try:
        health = HealthServer(platform, role, host, port, stopping, serving).start()
    except OSError as error:
        fail(f"the health port {host}:{port} cannot be opened: {error.strerror}", 2)
    err.print(f"health: http://{host}:{health.port}/healthz/ready", highlight=False)
    return health


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, envvar="PORT", type=int)
@click.option("--workers", default=1, show_default=True, envvar="OPENDSP_WEB_WORKERS", type=click.IntRange(1, 256),
              help="Processes answering on the port (or OPENDSP_WEB_WORKERS).")
@click.option("--graceful-seconds", default=30, show_default=True, type=click.IntRange(1, 3600),
              help="On SIGTERM: how long requests under way may take to finish.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int, graceful_seconds: int) -> None:
    """Serve the platform over HTTP.

    Stops on SIGTERM: no new connection is accepted, requests under way finish
    (for --graceful-seconds at most), then the process exits 0. The HL7 v2
    listener is a command of its own: `opendsp mllp`.
    """
    import uvicorn

    from opendsp.content.keys import MasterKeyError
    from opendsp.policy.matrix import MatrixInvalid
    from opendsp.web.access_log import server_options
    from opendsp.web.app import counted_as_web, create_app
    from opendsp.web.proxies import SERVER_OPTIONS

    try:
        app = create_app(ctx.obj["settings"])  # with several workers: to refuse bad settings and make keys once, here
    except (InsecureSettings, MatrixInvalid, MasterKeyError) as error:
        fail(str(error), 2)
    err.print(f"OpenDSP {__version__} on http://{host}:{port}" + (f", {workers} workers" if workers > 1 else ""))
    # Forwarded headers are read by the app, from the configured proxies only (web/proxies.py); uvicorn's own
    # access log would write query strings and path secrets, so ours logs route templates only (web/access_log.py).
    options = {**SERVER_OPTIONS, **server_options(json_logs=ctx.obj["settings"].log_format == "json"),
               "host": host, "port": port, "log_level": "info", "timeout_graceful_shutdown": graceful_seconds}
    if workers == 1:
        import signal

        # uvicorn stops gracefully on SIGTERM, then raises the signal again under the handler found at its start:
        # this one, so that a clean stop exits 0 rather than dying of the signal.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: None)
        uvicorn.run(counted_as_web(app), **options)  # type: ignore[arg-type]
        return
    app.state.platform.engine.dispose()
    # Each worker process builds its own application (its own pool) from the same environment.
    uvicorn.run("opendsp.web.app:worker_app", factory=True, workers=workers, **options)  # type: ignore[arg-type]


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9464, show_default=True, envvar="OPENDSP_METRICS_PORT", type=int)
@click.pass_context
def metrics(ctx: click.Context, host: str, port: int) -> None:
    """Serve the Prometheus metrics of every process on a port of its own (docs/operations.md).

    Stops on SIGTERM or Ctrl-C, exiting 0.
    """
    import os
    import signal
    import threading

    from opendsp.metrics import count_as, serve_metrics

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        err.print("PROMETHEUS_MULTIPROC_DIR is not set: only the database figures are served, "
                  "not the other processes' counters")
    platform, stop = _platform(ctx), threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    count_as("metrics", platform.engine)
    server, thread = serve_metrics(platform, host, port)
    err.print(f"OpenDSP metrics on http://{host}:{port}/metrics")
    while not stop.wait(1):
        pass
    server.shutdown()
    thread.join(timeout=10)


@main.command()
@click.option("--once", is_flag=True, help="Do the jobs and send the e-mails due now, then exit.")
@health_options
@click.pass_context
def worker(ctx: click.Context, once: bool, health_host: str, health_port: int | None) -> None:
    """Do the jobs deposits and notifications leave (keyword indexing, the e-mails' fan-out), and send the
    notification e-mails waiting in the outbox, with retries (docs/notifications.md, docs/adr/0030).

    Runs until SIGTERM or Ctrl-C, finishing the job or message at hand and handing back the others it had
    claimed, untried. Without OPENDSP_SMTP_HOST the e-mails are written as .eml files to OPENDSP_MAIL_DIR.
    """
    import logging
    import signal
    import threading

    from opendsp.accounts.mailer import mailer_from_settings, transport_from_settings
    from opendsp.accounts.upkeep import ThrottlePurger, purge_throttles
    from opendsp.notifications.worker import OutboxWorker

    from opendsp.content.keys import MasterKeyError

    settings: Settings = ctx.obj["settings"]
    try:
        settings.check_production()
    except (InsecureSettings, MasterKeyError) as error:
        fail(str(error), 2)
    mailer = mailer_from_settings(settings)
    if mailer is None and settings.mode is Mode.production:
        fail("production mode needs a mail server: set OPENDSP_SMTP_HOST", 2)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    where = f"SMTP {mailer.host}:{mailer.port}" if mailer else f"the folder {settings.mail_dir}"
    err.print(f"OpenDSP worker: notifications by e-mail to {where}", highlight=False)
    platform = _platform(ctx)
    # The helper threads are started with SIGTERM and SIGINT blocked (they inherit the mask), so the kernel hands
    # the signal to the main thread: a signal taken by another thread would not interrupt the main thread's
    # wait for the mail server, and the worker would go on looking ready until that reply came.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        health = None if once else _start_health(platform, "worker", health_host, health_port, stop)
        # Beside the e-mails: forgetting idle login and rate-limit counters (accounts/upkeep.py), hourly.
        if once:
            purged = purge_throttles(platform)
        else:
            ThrottlePurger(platform, stop=stop).start()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
    outbox_worker = OutboxWorker(platform, transport_from_settings(settings), stop=stop)
    tally = outbox_worker.run(once=once)
    if health is not None:
        health.close()
    if outbox_worker.job_tally is not None:
        jobs = outbox_worker.job_tally
        click.echo(f"{jobs.done} job(s) done, {jobs.retried} to retry, {jobs.failed} given up")
    click.echo(f"{tally.sent} sent, {tally.retried} to retry, {tally.failed} given up")
    if once:
        click.echo(f"{purged} idle login counter(s) purged")


@main.group()
def accounts() -> None:
    """Accounts' upkeep."""


@accounts.command("purge-throttles")
@click.pass_context
def accounts_purge_throttles(ctx: click.Context) -> None:
    """Delete login and rate-limit counters idle for a day (`opendsp worker` does it hourly)."""
    from opendsp.accounts.upkeep import purge_throttles

    click.echo(f"{purge_throttles(_platform(ctx))} idle login counter(s) purged")


@main.group()
def outbox() -> None:
    """The e-mails of notifications waiting to be sent, or given up."""


@outbox.command("status")
@click.pass_context
def outbox_status(ctx: click.Context) -> None:
    """Count the messages in each state and list those given up."""
    from opendsp.access.system import PlatformJobs

    counts, failed = PlatformJobs(platform=_platform(ctx)).outbox()
    click.echo(", ".join(f"{count} {state}" for state, count in counts.items()))
    for message in failed:
        click.echo(f"failed {message.id} {message.kind} after {message.attempts} attempt(s): {message.last_error}")


@outbox.command("retry")
@click.argument("message_ids", nargs=-1)
@click.pass_context
def outbox_retry(ctx: click.Context, message_ids: tuple[str, ...]) -> None:
    """Send again the messages given up (all of them, or the ids named), with a fresh count of attempts."""
    import uuid

    from opendsp.access.system import PlatformJobs

    try:
        ids = [uuid.UUID(value) for value in message_ids]
    except ValueError:
        fail("message ids are UUIDs, as `opendsp outbox status` prints them", 2)
    requeued = PlatformJobs(platform=_platform(ctx)).retry_given_up(ids)
    click.echo(f"{requeued} message(s) due again")


@main.group()
def jobs() -> None:
    """The work acts leave for the worker (keyword indexing, the e-mails' fan-out): waiting, or given up."""


@jobs.command("status")
@click.pass_context
def jobs_status(ctx: click.Context) -> None:
    """Count the jobs by kind and state, say how old the oldest waiting one is, and list those given up."""
    from opendsp.access.system import PlatformJobs

    status = PlatformJobs(platform=_platform(ctx)).jobs()
    for kind, counts in status.counts.items():
        click.echo(f"{kind}: " + ", ".join(f"{count} {state}" for state, count in counts.items()))
    age = f"{status.oldest_age.total_seconds():.1f} s" if status.oldest_age is not None else "none waiting"
    click.echo(f"backlog: {status.backlog}; oldest waiting job: {age}")
    for job in status.failed:
        kind = getattr(job.kind, "value", job.kind)
        click.echo(f"failed {job.id} {kind} after {job.attempts} attempt(s): {job.last_error}")


@jobs.command("retry")
@click.argument("job_ids", nargs=-1)
@click.pass_context
def jobs_retry(ctx: click.Context, job_ids: tuple[str, ...]) -> None:
    """Make the jobs given up (all of them, or the ids named) due again, with a fresh count of attempts."""
    import uuid

    from opendsp.access.system import PlatformJobs

    try:
        ids = [uuid.UUID(value) for value in job_ids]
    except ValueError:
        fail("job ids are UUIDs, as `opendsp jobs status` prints them", 2)
    requeued = PlatformJobs(platform=_platform(ctx)).retry_jobs(ids)
    click.echo(f"{requeued} job(s) due again")


@main.command("import-population")
@click.argument("extract", type=click.Path(path_type=Path))
@click.option("--report", "report_path", type=click.Path(path_type=Path), help="Write rejected rows to this CSV.")
@click.pass_context
def import_population_command(ctx: click.Context, extract: Path, report_path: Path | None) -> None:
    """Create persons and their records from an insured-population CSV extract.

    Idempotent: importing the same file again changes nothing. Rows that are
    wrong are rejected whole and listed with their line and reason; the exit
    status is 1 when any row was rejected.
    """
    from opendsp.access.system import ExtractUnreadable, PlatformJobs

    jobs = PlatformJobs(platform=_platform(ctx))
    try:
        total = jobs.population_rows(extract)
        with progress_bar(f"importing {extract.name}", total) as advance:
            report = jobs.import_population(extract, progress=advance)
    except ExtractUnreadable as error:
        fail(str(error), 2)
    click.echo(
        f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.rejected} rejected"
    )
    for error in report.errors:
        click.echo(f"line {error.line}: {error.national_number or '(no number)'}: {error.reason}", err=True)
    if report_path:
        import csv

        with report_path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", "national_number", "reason"])
            writer.writerows((e.line, e.national_number, e.reason) for e in report.errors)
    if report.errors:
        sys.exit(1)


@main.command("import-documents")
@click.argument("export", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--content", "content_root", type=click.Path(path_type=Path, file_okay=False),
              help="The folder the content files are named in (default: the export's folder).")
@click.option("--source", help="The export's name: identifiers are unique within it (default: the file's stem).")
@click.option("--rejects", "rejects_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Where rejected lines are appended (default: EXPORT.rejects.csv).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="Lines per transaction: a crash loses at most one batch.")
@click.option("--workers", type=click.IntRange(0, 256), default=None,
              help="Processes that seal content (default: one per core; 0: none, seal in this process).")
@click.pass_context
def import_documents_command(ctx: click.Context, export: Path, content_root: Path | None, source: str | None,
                             rejects_path: Path | None, batch_size: int, workers: int | None) -> None:
    """Load documents from an export of an existing shared record (CSV or FHIR NDJSON), resumably.

    Run it again after a crash: finished batches and loaded documents are skipped. Lines that
    are wrong are rejected whole, appended to the rejects file with their line and reason; the
    exit status is 1 when any line was rejected (docs/migration.md).
    """
    from rich.progress import TimeElapsedColumn

    from opendsp.importing.loader import ImportReport, import_documents
    from opendsp.importing.source import BadExport

    platform = _platform(ctx)
    rejects = rejects_path or export.with_name(export.name + ".rejects.csv")
    with export.open("rb") as handle:
        total = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    total -= 0 if export.suffix.lower() in (".ndjson", ".jsonl") else 1
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=err, disable=not err.is_terminal) as bar:
        task = bar.add_task(f"importing {export.name}", total=max(total, 0), rate="")

        def advance(lines: int, report: ImportReport) -> None:
            elapsed = bar.tasks[0].elapsed or 0
            rate = f"{report.loaded / elapsed:,.0f} documents/s" if elapsed else ""
            bar.update(task, advance=lines, rate=rate)

        try:
            report = import_documents(platform=platform, export=export, source=source or export.stem,
                                      content_root=content_root, rejects=rejects, batch_size=batch_size,
                                      workers=workers, progress=advance)
        except (BadExport, ValueError) as error:
            fail(str(error), 2)
    click.echo(f"{report.lines} lines: {report.loaded} loaded, {report.already_loaded} loaded before, "
               f"{report.rejected} rejected; {report.batches} batches written, {report.batches_done_before} "
               f"finished before; {report.decisions} policy decisions")
    if report.rejected:
        click.echo(f"rejected lines are in {rejects}:", err=True)
        for reason, count in report.reasons.most_common():
            click.echo(f"  {count} × {reason}", err=True)
        sys.exit(1)


@main.group()
def store() -> None:
    """The sealed content store."""


@store.command("check")
@click.option("--grace-minutes", type=int, default=None,
              help="Leave blobs younger than this (default OPENDSP_ORPHAN_GRACE_MINUTES; never below the minimum).")
@click.option("--dry-run", is_flag=True, help="Report orphans without removing them.")
@click.option("--verify", is_flag=True, help="Also decrypt every document and check its hash (slow).")
@click.pass_context
def store_check(ctx: click.Context, grace_minutes: int | None, dry_run: bool, verify: bool) -> None:
    """Remove content left by failed deposits and report missing, altered or unreadable content.

    Content is removed only when no document and no running deposit names it,
    and it is older than the grace (docs/operations.md, "Content and keys").
    """
    from opendsp.access.system import GraceRefused, MasterKeyError, PlatformJobs

    jobs = PlatformJobs(platform=_platform(ctx))
    try:
        grace = jobs.grace(grace_minutes)
    except GraceRefused as error:
        fail(str(error), 2)
    try:
        with progress_bar("checking content", None) as advance:
            report = jobs.check_content(grace=grace, remove=not dry_run, verify=verify, progress=advance)
    except MasterKeyError as error:
        fail(str(error), 2)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{report.blobs_seen} blobs; {verb} {len(report.orphans_removed)} orphans")
    for key in report.orphans_removed:
        click.echo(f"  orphan: {key}")
    if report.orphans_too_recent:
        click.echo(f"{len(report.orphans_too_recent)} recent blobs without a document left alone (grace {grace})")
    for key in report.missing_content:
        click.echo(f"  MISSING content for document: {key}", err=True)
    for key in report.broken_content:
        click.echo(f"  ALTERED content: {key}", err=True)
    for key, reason in report.unreadable_content:
        click.echo(f"  UNREADABLE content: {key}: {reason}", err=True)
    if not report.healthy:
        sys.exit(1)


@main.group()
def records() -> None:
    """Records as a whole."""


@records.command("erase")
@click.argument("identifier", metavar="NATIONAL_NUMBER_OR_RECORD_ID")
@click.option("--basis", type=click.Choice(["death", "legal-order"]), required=True,
              help="death: the holder died and the retention period has run; legal-order: a court or authority ordered it.")
@click.option("--reason", required=True, help="The death's date and source, or the order's reference (kept in the trace).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def records_erase(ctx: click.Context, identifier: str, basis: str, reason: str, yes: bool) -> None:
    """Erase a closed record for good: its key, index and content destroyed, its trace kept.

    See docs/operations.md, "Content and keys". There is no undo: every copy of
    the content, in backups too, is sealed under the key destroyed here.
    """
    from opendsp.access.services import RecordAccess
    from opendsp.records.erasure import ErasureBasis, ErasureRefused, delete_erased_content, erase_record, find_record

    platform = _platform(ctx)
    try:
        with platform.sessions() as session:
            record_id = find_record(session, identifier).id
        if not yes:
            click.confirm(f"Erase record {record_id} for good? Its content can never be read again", abort=True)
        with platform.transaction() as session:
            record = find_record(session, str(record_id))
            access = RecordAccess(session=session, platform=platform, actor=SYSTEM)
            erasure = erase_record(access=access, record=record, basis=ErasureBasis(basis), reason=reason)
        removed = delete_erased_content(platform, record_id)
    except ErasureRefused as error:
        fail(str(error), 2)
    click.echo(f"record {record_id} erased: key destroyed, {erasure.documents} document(s) and {removed} blob(s), "
               f"{erasure.search_terms} search token(s) and {erasure.structured_entries} structured entries removed; "
               "its trace is kept")


@main.command("backup")
@click.argument("folder", type=click.Path(path_type=Path))
@click.pass_context
def backup_command(ctx: click.Context, folder: Path) -> None:
    """Back up the database and the sealed content into a new FOLDER (never the keys, never the checkpoints).

    Keep the keyring apart: the backup opens nothing without it. The trace's
    checkpoints stay in their own sink and the checkpoint keys where they are
    kept: a restore is checked against them (docs/operations.md, "Backup and restore").
    """
    from opendsp.access.system import BackupRefused, PlatformJobs

    try:
        report = PlatformJobs(platform=_platform(ctx)).backup(folder)
    except BackupRefused as error:
        fail(str(error), 2)
    click.echo(f"backup in {report.folder}: {report.database} database, {report.documents} documents, "
               f"{report.blobs} blobs; it needs the master key(s) {', '.join(report.master_keys) or '(none)'}")
    if report.checkpoint is None:
        click.echo("no checkpoint of the trace written yet: nothing outside the database will vouch for this copy")
    else:
        click.echo(f"its trace extends checkpoint {report.checkpoint}; the checkpoints stay in their sink, "
                   "not in the backup")


@main.command("restore")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.pass_context
def restore_command(ctx: click.Context, folder: Path) -> None:
    """Restore a backup FOLDER into the new, empty database and content store the settings name.

    The master keyring must be in place first, and the instance's checkpoint
    sink and public key (never copies from the backup). Then run `opendsp
    migrate`, `opendsp trace verify` and `opendsp store check --verify`.
    """
    from opendsp.access.system import BackupRefused, PlatformJobs

    try:
        report = PlatformJobs(platform=_platform(ctx)).restore(folder)
    except BackupRefused as error:
        fail(str(error), 2)
    click.echo(f"restored {report.documents} documents and {report.blobs} blobs into the {report.database} "
               "database; now run `opendsp trace verify` and `opendsp store check --verify`")
    if report.latest_checkpoint is not None and report.checkpoint is not None \
            and report.latest_checkpoint > report.checkpoint:
        click.echo(f"the backup follows checkpoint {report.checkpoint} but the sink holds checkpoints up to "
                   f"{report.latest_checkpoint}: `opendsp trace verify` will name the acts made since the backup, "
                   "which this restore loses (docs/operations.md, \"Restoring an older backup\")")


@main.group()
def trace() -> None:
    """The trace of every act."""


@trace.command("verify")
@click.option("--all-checkpoints", is_flag=True, help="Check against every checkpoint written, not only the latest.")
@click.pass_context
def trace_verify(ctx: click.Context, all_checkpoints: bool) -> None:
    """Check every chain of the trace, and the trace against the signed checkpoints.

    Names what is wrong: entries altered, removed or reordered; whole chains
    removed with their heads; tails cut and heads rewound since a checkpoint.
    """
    from opendsp.trace.anchoring import verify_anchored
    from opendsp.trace.checkpointer import checkpoint_log
    from opendsp.trace.checkpoints import CheckpointInvalid, State
    from opendsp.trace.signing import SigningKeyError

    platform = _platform(ctx)
    log = None
    try:
        log = checkpoint_log(platform.settings, platform.clock)
    except SigningKeyError as error:  # no public key: fine only as long as no checkpoint was written
        if _sink_has_checkpoints(platform):
            fail(f"cannot check the checkpoints: {error}", 2)
    try:
        states: Iterable[State] = []
        if log is not None:
            states = log.states() if all_checkpoints else [state for state in [log.state()] if state]
        with platform.sessions() as session, progress_bar("verifying chains", None) as advance:
            report = verify_anchored(session, states, progress=advance)
    except CheckpointInvalid as error:
        fail(f"checkpoint REFUSED: {error}", 1)
    anchored = (f"; checked against checkpoint {report.checkpoint} of {report.checkpoint_made_at}"
                if report.checkpoint else "; no checkpoint written yet: nothing outside the database vouches for it")
    if report.intact:
        click.echo(f"trace intact: {report.entries} entries in {report.chains} chains{anchored}")
        return
    click.echo(f"trace BROKEN: {len(report.breaks)} problem(s){anchored}", err=True)
    click.echo(f"first: {report.first_break}", err=True)
    for problem in report.breaks:
        click.echo(f"  {problem}", err=True)
    sys.exit(1)


def _sink_has_checkpoints(platform) -> bool:  # type: ignore[no-untyped-def]
    from opendsp.trace.sinks import sink_from_settings

    return bool(sink_from_settings(platform.settings, platform.clock).names())


@trace.command("new-key")
@click.pass_context
def trace_new_key(ctx: click.Context) -> None:
    """Create the Ed25519 key that signs checkpoints (OPENDSP_CHECKPOINT_KEY_FILE) and its public key.

    Never replaces a key. Keep the private key with the checkpointer only; publish the public key.
    """
    from opendsp.trace.signing import SigningKeyError, create_key, key_id

    settings: Settings = ctx.obj["settings"]
    assert settings.checkpoint_key_file is not None and settings.checkpoint_public_key_file is not None
    try:
        key = create_key(settings.checkpoint_key_file, settings.checkpoint_public_key_file,
                         _platform(ctx).randomness)
    except SigningKeyError as error:
        fail(str(error), 2)
    click.echo(f"checkpoint key {settings.checkpoint_key_file}; public key {settings.checkpoint_public_key_file} "
               f"(fingerprint {key_id(key.public_key())})")


def _checkpointer(ctx: click.Context, every: float):  # type: ignore[no-untyped-def]
    import threading

    from opendsp.trace.checkpointer import Checkpointer, checkpoint_log, signing_key
    from opendsp.trace.signing import SigningKeyError

    platform = _platform(ctx)
    try:
        signer = signing_key(platform.settings, platform.randomness, platform.clock,
                             say=lambda text: err.print(text, highlight=False))
        log = checkpoint_log(platform.settings, platform.clock)
    except SigningKeyError as error:
        fail(str(error), 2)
    return Checkpointer(transaction=platform.transaction, log=log, signer=signer, clock=platform.clock,
                        every=every, stop=threading.Event())


@trace.command("checkpoint")
@click.pass_context
def trace_checkpoint(ctx: click.Context) -> None:
    """Sign every chain's head now and write the checkpoint to the sink (OPENDSP_CHECKPOINT_SINK)."""
    from opendsp.trace.checkpoints import CheckpointInvalid, CheckpointRefused, write_checkpoint
    from opendsp.trace.sinks import CheckpointExists

    checkpointer = _checkpointer(ctx, 0)
    try:
        with checkpointer.transaction() as session:
            written = write_checkpoint(session=session, log=checkpointer.log, signer=checkpointer.signer,
                                       clock=checkpointer.clock)
    except (CheckpointInvalid, CheckpointRefused, CheckpointExists) as error:
        fail(str(error), 1)
    assert written is not None
    click.echo(f"checkpoint {written.number} written to {checkpointer.log.sink.describe()}: "
               f"{written.statement['tree_size']} chains, root {written.root_hash}")


@trace.command("checkpointer")
@click.option("--every", type=float, default=60.0, show_default=True, help="Seconds between checkpoints.")
@health_options
@click.pass_context
def trace_checkpointer(ctx: click.Context, every: float, health_host: str, health_port: int | None) -> None:
    """Write a checkpoint every minute while the trace moves, and one more on SIGTERM or Ctrl-C."""
    import logging
    import signal

    if every <= 0:
        fail("--every must be a positive number of seconds", 2)
    checkpointer = _checkpointer(ctx, every)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: checkpointer.stop.set())
    health = _start_health(_platform(ctx), "checkpointer", health_host, health_port, checkpointer.stop)
    err.print(f"OpenDSP checkpointer: every {every:g} s to {checkpointer.log.sink.describe()}", highlight=False)
    written = checkpointer.run()
    if health is not None:
        health.close()
    click.echo(f"{written} checkpoint(s) written")


@trace.command("verify-extract")
@click.argument("extract", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--public-key", "public_key_file", type=click.Path(path_type=Path, dir_okay=False),
              help="The platform's published public key (PEM). Without it, the key inside the extract is used.")
def trace_verify_extract(extract: Path, public_key_file: Path | None) -> None:
    """Check a holder's signed trace extract offline: entries, links, inclusion proof, signature.

    Needs no database and no settings: only the extract and the public key.
    """
    from opendsp.trace.extract import ExtractRefused, check_extract
    from opendsp.trace.signing import SigningKeyError, load_public_key

    try:
        key = load_public_key(public_key_file) if public_key_file else None
        data = extract.read_bytes()
    except (SigningKeyError, OSError) as error:
        fail(str(error), 2)
    try:
        report = check_extract(data, key)
    except ExtractRefused as error:
        click.echo(f"extract REFUSED: {error}", err=True)
        sys.exit(1)
    click.echo(f"extract verified: {report.entries} entries of record {report.record}, "
               f"{report.withheld} withheld (link hashes only)")
    click.echo(f"positions 1..{report.anchored_seq} are in checkpoint {report.checkpoint} "
               f"of {report.checkpoint_made_at}, signed by key {report.key_id}")
    if report.not_yet_anchored:
        click.echo(f"{report.not_yet_anchored} later entries link to them but no checkpoint held them yet")
    if report.key_from_extract:
        click.echo("checked with the public key inside the extract: compare its fingerprint with the one the "
                   "platform publishes, or pass --public-key")


@main.group()
def keys() -> None:
    """Master keys and record data keys."""


@keys.command("init")
@click.option("--demo", is_flag=True, help="Development only: write the published demo key (demo data sealed under it).")
@click.pass_context
def keys_init(ctx: click.Context, demo: bool) -> None:
    """Create the master keyring file with a new random key (never overwrites one).

    With OPENDSP_MASTER_KEY_SOURCE=pkcs11, generate the first master key inside
    the token instead (docs/operations.md, "Master keys in an HSM").

    Run once before the first start in production, and keep a copy of the
    file apart from the backups (docs/operations.md, "Content and keys").
    """
    from opendsp.clock import SystemRandomness
    from opendsp.content.keys import KeyringFileProvider, MasterKeyError, key_provider_from_settings, keyring_path

    settings: Settings = ctx.obj["settings"]
    path = keyring_path(settings)
    if settings.master_key_source == "pkcs11":
        if demo:
            fail("the demo key is for a keyring file; a PKCS#11 token generates its own keys", 2)
        try:
            provider = key_provider_from_settings(settings)
            if held := provider.key_ids():
                fail(f"the PKCS#11 token already holds master key(s) {', '.join(held)}; "
                     "`opendsp keys rotate` adds one", 2)
            key_id = provider.add_key(SystemRandomness())
        except MasterKeyError as error:
            fail(str(error), 2)
        click.echo(f"master key {key_id} generated in the PKCS#11 token {settings.pkcs11_token_label}; it is current")
        return
    if path is None:
        fail("OPENDSP_MASTER_KEY_SOURCE is env: put id:base64key (32 random bytes, e.g. from "
             "`openssl rand -base64 32`) in OPENDSP_MASTER_KEYS; there is no file to create", 2)
    if demo and settings.mode is Mode.production:
        fail("production mode refuses the published demo key", 2)
    try:
        keyring = KeyringFileProvider.create(path, randomness=SystemRandomness(), demo=demo)
    except MasterKeyError as error:
        fail(str(error), 2)
    click.echo(f"master keyring {path} created; current key {keyring.current_key_id}")


@keys.command("rotate")
@click.option("--retire", "retire_old", is_flag=True,
              help="Then retire every older master key that nothing uses any more.")
@click.pass_context
def keys_rotate(ctx: click.Context, retire_old: bool) -> None:
    """Add a new master key (keyring file, PKCS#11 token) and rewrap every record's data key under it."""
    from opendsp.access.system import PlatformJobs
    from opendsp.content.keys import MasterKeyError

    platform = _platform(ctx)
    jobs = PlatformJobs(platform=platform)
    try:
        if platform.keys.generates_keys:
            new_id = platform.keys.add_key(platform.randomness)
            click.echo(f"new master key {new_id} is current")
        with progress_bar("rewrapping data keys", None) as advance:
            rotation = jobs.rotate_keys(progress=advance)
        click.echo(f"{rotation.rewrapped} data keys rewrapped and {rotation.resealed} authenticator secrets "
                   f"resealed under {rotation.master_key}")
        if retire_old:
            for key_id in jobs.retirable_keys():
                jobs.retire_key(key_id)
                click.echo(f"master key {key_id} retired")
            kept = [k for k in platform.keys.key_ids() if k != platform.keys.current_key_id]
            if kept:
                click.echo(f"still used, kept: {', '.join(kept)} (see `opendsp keys retire KEY_ID`)")
    except MasterKeyError as error:
        fail(str(error), 2)


@keys.command("retire")
@click.argument("key_id")
@click.pass_context
def keys_retire(ctx: click.Context, key_id: str) -> None:
    """Remove an old master key from the keyring, once no record key, secret or index token uses it."""
    from opendsp.access.system import MasterKeyError, PlatformJobs

    try:
        PlatformJobs(platform=_platform(ctx)).retire_key(key_id)
    except MasterKeyError as error:
        fail(str(error), 2)
    click.echo(f"master key {key_id} retired")


@main.command()
@click.option("--host", default=None, help="Address to listen on (default OPENDSP_MLLP_HOST).")
@click.option("--port", default=None, type=int, help="Port (default OPENDSP_MLLP_PORT, else 2575).")
@click.option("--graceful-seconds", default=30.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="On SIGTERM: how long the messages in hand may take to be answered.")
@health_options
@click.pass_context
def mllp(ctx: click.Context, host: str | None, port: int | None, graceful_seconds: float, health_host: str,
         health_port: int | None) -> None:
    """Receive hospitals' HL7 v2 ADT messages over MLLP (admissions, transfers, discharges).

    Mutual TLS with OPENDSP_MLLP_TLS_CERTIFICATE, _KEY and _CLIENT_CA; plain TCP in development mode only.
    On SIGTERM: new connections are refused, each message already received is
    handled and acknowledged, then the process exits 0.
    """
    import logging
    import threading

    from opendsp.stays.mllp import ListenerConfig, run_mllp
    from opendsp.stays.tls import ListenerSettingsError

    settings: Settings = ctx.obj["settings"]
    try:
        config = ListenerConfig.from_settings(settings)
    except (InsecureSettings, ListenerSettingsError) as error:
        fail(str(error), 2)
    # The listener says how it listens, and logs each refusal and closed connection.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    platform, stop, listening = _platform(ctx), threading.Event(), threading.Event()
    health = _start_health(platform, "mllp", health_host, health_port, stop, serving=listening)
    cut = run_mllp(platform, host or settings.mllp_host, port or settings.mllp_port or 2575, config=config,
                   stop=stop, grace=graceful_seconds, listening=listening)
    if health is not None:
        health.close()
    if cut:
        sys.exit(1)  # a message in hand may have gone unanswered: its sender sends it again
    err.print("MLLP listener stopped")


@main.group()
def stays() -> None:
    """Hospitals that report stays: their care units, ADT senders and senders' certificates."""


@stays.command("add-unit")
@click.option("--hospital", required=True, help="The hospital's organisation identifier.")
@click.option("--code", required=True, help="The unit's code as the hospital sends it in PV1-3.")
@click.option("--name", required=True)
@click.pass_context
def stays_add_unit(ctx: click.Context, hospital: str, code: str, name: str) -> None:
    """Register a care unit of a hospital."""
    from opendsp.stays.registry import RegistryError, register_care_unit

    platform = _platform(ctx)
    try:
        with platform.transaction() as session:
            unit = register_care_unit(session=session, platform=platform, actor=SYSTEM, hospital=hospital, code=code, name=name)
            identifier = unit.identifier
    except RegistryError as error:
        fail(str(error), 2)
    click.echo(f"care unit {identifier} registered")


def _certificate_option(required: bool):  # type: ignore[no-untyped-def]
    return click.option(
        "--certificate", "certificate_file", required=required, type=click.Path(path_type=Path, dir_okay=False),
        help="The client certificate (PEM or DER) the hospital's system presents to the MLLP listener.",
    )


def _read_sender_certificate(path: Path):  # type: ignore[no-untyped-def]
    from opendsp.stays.certificates import CertificateError, read_certificate

    try:
        return read_certificate(path.read_bytes())
    except OSError as error:
        fail(f"cannot read {path}: {error.strerror}", 2)
    except CertificateError as error:
        fail(f"{path}: {error}", 2)


@stays.command("add-sender")
@click.option("--hospital", required=True, help="The hospital's organisation identifier.")
@click.option("--application", required=True, help="MSH-3, the sending application.")
@click.option("--facility", required=True, help="MSH-4, the sending facility.")
@_certificate_option(required=False)
@click.pass_context
def stays_add_sender(
    ctx: click.Context, hospital: str, application: str, facility: str, certificate_file: Path | None
) -> None:
    """Allow a hospital's system to report its stays over HL7 v2, bound to its client certificate."""
    from opendsp.stays.registry import RegistryError, register_adt_sender

    certificate = _read_sender_certificate(certificate_file) if certificate_file else None
    platform = _platform(ctx)
    try:
        with platform.transaction() as session:
            register_adt_sender(
                session=session, platform=platform, actor=SYSTEM, hospital=hospital, application=application,
                facility=facility, certificate=certificate,
            )
    except RegistryError as error:
        fail(str(error), 2)
    click.echo(f"sender {application}/{facility} registered for {hospital}")
    if certificate is None:
        err.print("without --certificate this sender can report only to a listener on plain TCP (development mode)")
    else:
        click.echo(f"bound to the certificate {certificate.subject} (SHA-256 {certificate.sha256})")


@stays.command("bind-certificate")
@click.option("--application", required=True, help="MSH-3 of a registered sender.")
@click.option("--facility", required=True, help="MSH-4 of a registered sender.")
@_certificate_option(required=True)
@click.pass_context
def stays_bind_certificate(ctx: click.Context, application: str, facility: str, certificate_file: Path) -> None:
    """Bind one more client certificate to a sender (a renewal); the ones bound before stay bound."""
    from opendsp.stays.registry import RegistryError, bind_certificate

    certificate = _read_sender_certificate(certificate_file)
    platform = _platform(ctx)
    try:
        with platform.transaction() as session:
            bind_certificate(session=session, platform=platform, actor=SYSTEM, application=application,
                             facility=facility, certificate=certificate)
    except RegistryError as error:
        fail(str(error), 2)
    click.echo(f"{application}/{facility} bound to the certificate {certificate.subject} (SHA-256 {certificate.sha256})")


@stays.command("unbind-certificate")
@click.option("--application", required=True, help="MSH-3 of a registered sender.")
@click.option("--facility", required=True, help="MSH-4 of a registered sender.")
@click.option("--sha256", required=True, help="The certificate's SHA-256 fingerprint, as add-sender printed it.")
@click.pass_context
def stays_unbind_certificate(ctx: click.Context, application: str, facility: str, sha256: str) -> None:
    """Stop accepting a certificate for a sender (lost, compromised or replaced)."""
    from opendsp.stays.registry import RegistryError, unbind_certificate

    platform = _platform(ctx)
    try:
        with platform.transaction() as session:
            unbind_certificate(session=session, platform=platform, actor=SYSTEM, application=application,
                               facility=facility, sha256=sha256)
    except RegistryError as error:
        fail(str(error), 2)
    click.echo(f"certificate {sha256} no longer accepted for {application}/{facility}")


@main.group()
def clients() -> None:
    """Client software that calls the FHIR API for an organisation."""


@clients.command("add")
@click.option("--name", required=True, help="The software's name, shown in the trace and to the people approving it.")
@click.option("--organisation", help="The organisation's identifier (backend software and professionals' apps).")
@click.option("--jwks", "jwks_file", type=click.Path(path_type=Path),
              help="A JSON file with the client's public JWK Set (RS384 or ES384 keys, each with a kid). "
              "Required for backend software; a SMART app without one is a public client.")
@click.option("--redirect-uri", "redirect_uris", multiple=True,
              help="A SMART app's exact redirect URI (repeat for several): the app then uses the authorization "
              "code grant with PKCE, approved by the person logged in on the portal.")
@click.option("--for", "users", type=click.Choice(["professionals", "persons"]), default="professionals",
              show_default=True, help="Who uses a SMART app: the organisation's professionals, or persons (no "
              "organisation: holders and their assistants).")
@click.option("--scopes", help="Backend software: the SMART v2 system scopes it may be granted, space-separated "
              "(e.g. 'system/DocumentReference.crus system/Binary.r'). Default: system/*.rs "
              "system/DocumentReference.cu system/Encounter.cu.")
@click.option("--professional", "professionals", multiple=True,
              help="Backend software: the licence number of a professional it may act for (repeat for several). "
              "Default: any member of its organisation.")
@click.pass_context
def clients_add(ctx: click.Context, name: str, organisation: str | None, jwks_file: Path | None,
                redirect_uris: tuple[str, ...], users: str, scopes: str | None,
                professionals: tuple[str, ...]) -> None:
    """Register client software (or a SMART app) and print its client id."""
    from opendsp.clients.models import ClientUsers
    from opendsp.clients.services import ClientRegistrationRefused, register_client

    jwks = None
    if jwks_file is not None:
        try:
            jwks = json.loads(jwks_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            fail(f"cannot read the JWK Set {jwks_file}: {error}", 2)
    platform = _platform(ctx)
    try:
        with platform.transaction() as session:
            client = register_client(session=session, platform=platform, actor=SYSTEM, name=name,
                                     organisation_identifier=organisation, jwks=jwks, redirect_uris=redirect_uris,
                                     users=ClientUsers(users), scopes=scopes, professionals=professionals or None)
            client_id = client.client_id
    except ClientRegistrationRefused as error:
        fail(str(error), 2)
    click.echo(client_id)


@main.command()
@click.argument("national_numbers", nargs=-1)
@click.option("--include-sent", is_flag=True, help="Also write again to persons who were sent a letter already.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Folder for the PDF files (default OPENDSP_LETTERS_DIR).")
@click.option("--batch-size", type=int, default=None, help="Letters per PDF file (default OPENDSP_LETTERS_BATCH_SIZE).")
@click.pass_context
def letters(ctx: click.Context, national_numbers: tuple[str, ...], include_sent: bool, out_dir: Path | None,
            batch_size: int | None) -> None:
    """Activation letters (PDF, in each person's language) for the persons not activated yet, or those named.

    Each letter carries a new activation code and a new presence code; the
    codes exist only in the PDF. One file (and one transaction) per batch.
    """
    from opendsp.accounts.letters import issue_letters, select_persons

    platform = _platform(ctx)
    with platform.sessions() as session:
        chosen, skipped = select_persons(session, national_numbers=national_numbers or None, include_sent=include_sent)
    for number, why in skipped:
        click.echo(f"{number}: skipped: {why}", err=True)
    with progress_bar("writing letters", len(chosen)) as advance:
        report = issue_letters(platform=platform, person_ids=chosen, actor=SYSTEM, out_dir=out_dir,
                               batch_size=batch_size, progress=advance)
    click.echo(f"{report.letters} letters in {len(report.files)} files")
    for path in report.files:
        click.echo(f"  {path}")
    if skipped:
        sys.exit(1)


@main.group()
def staff() -> None:
    """The agency's staff accounts (console)."""


@staff.command("add")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="The staff member's full name.")
@click.option("--role", "roles", multiple=True, type=click.Choice(["helpdesk", "administrator"]), required=True)
@click.pass_context
def staff_add(ctx: click.Context, username: str, display_name: str, roles: tuple[str, ...]) -> None:
    """Create a staff account; prints its activation code once (activate at /console/activate)."""
    from opendsp.accounts.services import issue_activation_code, register_staff

    platform = _platform(ctx)
    try:
        with platform.transaction() as session:
            account = register_staff(session=session, platform=platform, actor=SYSTEM, username=username,
                                     display_name=display_name, roles=list(roles))
            code = issue_activation_code(session=session, platform=platform, account=account, actor=SYSTEM)
    except ValueError as error:
        fail(str(error), 2)
    click.echo(f"staff account {account.login} created; activation code (shown once): {code}")


@main.group()
def organisations() -> None:
    """Organisations professionals act for."""


@organisations.command("add")
@click.option("--identifier", required=True)
@click.option("--name", required=True)
@click.option("--kind", required=True)
@click.option("--city", default=None)
@click.pass_context
def organisations_add(ctx: click.Context, identifier: str, name: str, kind: str, city: str | None) -> None:
    """Register an organisation."""
    from opendsp.professionals.services import RegistrationRefused, register_organisation

    platform = _platform(ctx)
    try:
        with platform.transaction() as session:
            register_organisation(session=session, platform=platform, actor=SYSTEM, identifier=identifier, name=name,
                                  kind=kind, city=city)
    except RegistrationRefused as error:
        fail(str(error), 2)
    click.echo(f"organisation {identifier} registered")


@main.group()
def professionals() -> None:
    """Health professionals and their accounts."""


@professionals.command("add")
@click.option("--licence", "licence_number", required=True)
@click.option("--family-name", required=True)
@click.option("--given-name", required=True)
@click.option("--profession", required=True)
@click.option("--specialty", "specialties", multiple=True)
@click.option("--organisation", "organisation_ids", multiple=True, required=True, help="An organisation identifier.")
@click.pass_context
def professionals_add(ctx: click.Context, licence_number: str, family_name: str, given_name: str, profession: str,
                      specialties: tuple[str, ...], organisation_ids: tuple[str, ...]) -> None:
    """Register a professional; prints the account's activation code once (activate at /pro/activate)."""
    from sqlalchemy import select

    from opendsp.accounts.services import account_of_professional, issue_activation_code
    from opendsp.professionals.models import Organisation
    from opendsp.professionals.services import RegistrationRefused, register_professional

    platform = _platform(ctx)
    try:
        with platform.transaction() as session:
            found = list(session.scalars(select(Organisation).where(Organisation.identifier.in_(organisation_ids))))
            missing = set(organisation_ids) - {o.identifier for o in found}
            if missing:
                raise RegistrationRefused(f"unknown organisation(s): {', '.join(sorted(missing))}")
            professional = register_professional(
                session=session, platform=platform, actor=SYSTEM, licence_number=licence_number,
                family_name=family_name, given_name=given_name, profession=profession, specialties=list(specialties),
                organisations=found,
            )
            account = account_of_professional(session=session, platform=platform, professional=professional)
            code = issue_activation_code(session=session, platform=platform, account=account, actor=SYSTEM)
    except RegistrationRefused as error:
        fail(str(error), 2)
    click.echo(f"professional {licence_number} registered; activation code (shown once): {code}")


@main.group()
def policy() -> None:
    """The access policy and its rights matrix."""


@policy.command("check")
@click.argument("matrix_file", type=click.Path(path_type=Path), required=False)
@click.pass_context
def policy_check(ctx: click.Context, matrix_file: Path | None) -> None:
    """Validate a rights matrix file (by default the one configured)."""
    from opendsp.policy.matrix import DEFAULT_MATRIX, MatrixInvalid, load_matrix

    path = matrix_file or ctx.obj["settings"].rights_matrix or DEFAULT_MATRIX
    try:
        matrix = load_matrix(path)
    except MatrixInvalid as error:
        fail(str(error), 2)
    click.echo(f"{path}: valid ({len(matrix.professions)} professions, {len(matrix.specialties)} specialty rules)")


@policy.command("render")
@click.pass_context
def policy_render(ctx: click.Context) -> None:
    """Print docs/access-policy.md from the rules and the rights matrix."""
    from opendsp.policy.render import render_access_policy

    click.echo(render_access_policy(_platform(ctx).matrix), nl=False)


@main.group()
def search() -> None:
    """The keyword search index."""


@search.command("reindex")
@click.option("--all", "everything", is_flag=True, help="Index every document again, not only those without tokens.")
@click.pass_context
def search_reindex(ctx: click.Context, everything: bool) -> None:
    """Index documents stored before the search index existed (or all of them with --all)."""
    from opendsp.access.system import PlatformJobs

    jobs = PlatformJobs(platform=_platform(ctx))
    wanted = jobs.documents_to_index(everything=everything)
    with progress_bar("indexing documents", len(wanted)) as advance:
        done = jobs.reindex(wanted, progress=advance)
    click.echo(f"{done} document(s) indexed")


@main.group()
def demo() -> None:
    """Demonstration data."""


@demo.command("load")
@click.option("--seed", default=20260101, show_default=True)
@click.pass_context
def demo_load(ctx: click.Context, seed: int) -> None:
    """Load the demo population once (does nothing if it is already there)."""
    from opendsp.demo.load import DemoConflict, load_demo

    platform = _platform(ctx)
    out = platform.settings.var_dir / "demo" / "identities.json"
    try:
        with staged_progress_bar() as (stage, advance):
            result = load_demo(platform, seed=seed, identities_path=out, progress=advance, stage=stage)
    except DemoConflict as error:
        fail(str(error), 2)
    if result is None:
        click.echo(f"demo data already loaded; identities in {out}")
    else:
        click.echo(f"demo data loaded: {json.dumps(result)}; identities in {out}")


@demo.command("code")
@click.argument("login")
@click.pass_context
def demo_code(ctx: click.Context, login: str) -> None:
    """Print the current authenticator code of a demo login (national number, licence or staff name)."""
    from opendsp.accounts import totp
    from opendsp.clock import SystemClock

    path = ctx.obj["settings"].var_dir / "demo" / "identities.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        fail(f"no demo identities at {path}: run `opendsp demo load` first", 2)
    secret = next(
        (
            entry.get("totp_secret")
            for group in ("persons", "professionals", "staff")
            for entry in data.get(group, [])
            if login in (entry.get("national_number"), entry.get("licence_number"), entry.get("login"))
        ),
        None,
    )
    if not secret:
        fail(f"{login} is not a demo login with an authenticator", 2)
    click.echo(totp.code_at(secret, SystemClock().now()))


if __name__ == "__main__":  # pragma: no cover
    main()
