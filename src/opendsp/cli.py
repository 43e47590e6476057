"""The ``opendsp`` command: an adapter over the same services as the web."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
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
    """Create or upgrade the database schema."""
    from opendsp.migrations import upgrade

    settings: Settings = ctx.obj["settings"]
    if settings.database_kind == "sqlite":
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    upgrade(_platform(ctx).engine)
    err.print(f"database ready ({settings.database_kind})")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, envvar="PORT", type=int)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the platform over HTTP."""
    import uvicorn

    from opendsp.web.app import create_app

    from opendsp.content.keys import MasterKeyError
    from opendsp.policy.matrix import MatrixInvalid

    try:
        app = create_app(ctx.obj["settings"])
    except (InsecureSettings, MatrixInvalid, MasterKeyError) as error:
        fail(str(error), 2)
    from opendsp.web.access_log import server_options

    err.print(f"OpenDSP {__version__} on http://{host}:{port}")
    # uvicorn's own access log would write query strings and path secrets: ours logs route templates only.
    uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info", **server_options())


@main.command()
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@click.pass_context
def worker(ctx: click.Context, once: bool) -> None:
    """Send the notification e-mails waiting in the outbox, with retries (docs/notifications.md).

    Runs until SIGTERM or Ctrl-C, finishing the message being sent. Without
    OPENDSP_SMTP_HOST the e-mails are written as .eml files to OPENDSP_MAIL_DIR.
    """
    import logging
    import signal
    import threading

    from opendsp.accounts.mailer import mailer_from_settings, transport_from_settings
    from opendsp.notifications.worker import OutboxWorker

    settings: Settings = ctx.obj["settings"]
    try:
        settings.check_production()
    except InsecureSettings as error:
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
    tally = OutboxWorker(_platform(ctx), transport_from_settings(settings), stop=stop).run(once=once)
    click.echo(f"{tally.sent} sent, {tally.retried} to retry, {tally.failed} given up")


@main.group()
def outbox() -> None:
    """The e-mails of notifications waiting to be sent, or given up."""


@outbox.command("status")
@click.pass_context
def outbox_status(ctx: click.Context) -> None:
    """Count the messages in each state and list those given up."""
    from opendsp.notifications.services import given_up, outbox_counts

    with _platform(ctx).sessions() as session:
        counts = outbox_counts(session)
        failed = given_up(session)
    click.echo(", ".join(f"{count} {state}" for state, count in counts.items()))
    for message in failed:
        click.echo(f"failed {message.id} {message.kind} after {message.attempts} attempt(s): {message.last_error}")


@outbox.command("retry")
@click.argument("message_ids", nargs=-1)
@click.pass_context
def outbox_retry(ctx: click.Context, message_ids: tuple[str, ...]) -> None:
    """Send again the messages given up (all of them, or the ids named), with a fresh count of attempts."""
    import uuid

    from opendsp.notifications.services import retry_given_up

    try:
        ids = [uuid.UUID(value) for value in message_ids]
    except ValueError:
        fail("message ids are UUIDs, as `opendsp outbox status` prints them", 2)
    platform = _platform(ctx)
    with platform.transaction() as session:
        requeued = retry_given_up(session, platform, actor=SYSTEM, ids=ids)
    click.echo(f"{requeued} message(s) due again")


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
    from opendsp.population.importer import ExtractUnreadable, count_rows, import_population

    platform = _platform(ctx)
    try:
        total = count_rows(extract)
        with progress_bar(f"importing {extract.name}", total) as advance:
            report = import_population(extract, platform=platform, actor=SYSTEM, progress=advance)
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


@main.group()
def store() -> None:
    """The sealed content store."""


@store.command("check")
@click.option("--grace-minutes", type=int, default=None, help="Leave blobs younger than this (default from settings).")
@click.option("--dry-run", is_flag=True, help="Report orphans without removing them.")
@click.option("--verify", is_flag=True, help="Also decrypt every document and check its hash (slow).")
@click.pass_context
def store_check(ctx: click.Context, grace_minutes: int | None, dry_run: bool, verify: bool) -> None:
    """Remove content left by failed deposits and report missing or altered content."""
    platform = _platform(ctx)
    grace = timedelta(minutes=grace_minutes if grace_minutes is not None else platform.settings.orphan_grace_minutes)
    with platform.transaction() as session, progress_bar("checking content", None) as advance:
        report = platform.content.check(session, grace=grace, remove=not dry_run, verify=verify, progress=advance)
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
    if not report.healthy:
        sys.exit(1)


@main.group()
def trace() -> None:
    """The trace of every act."""


@trace.command("verify")
@click.pass_context
def trace_verify(ctx: click.Context) -> None:
    """Check every chain of the trace; name the first altered, removed or reordered entry."""
    from opendsp.trace.service import verify

    platform = _platform(ctx)
    with platform.sessions() as session, progress_bar("verifying chains", None) as advance:
        report = verify(session, progress=advance)
    if report.intact:
        click.echo(f"trace intact: {report.entries} entries in {report.chains} chains")
        return
    click.echo(f"trace BROKEN: {len(report.breaks)} chain(s) fail", err=True)
    click.echo(f"first: {report.first_break}", err=True)
    for problem in report.breaks:
        click.echo(f"  {problem}", err=True)
    sys.exit(1)


@main.group()
def keys() -> None:
    """Master keys and record data keys."""


@keys.command("rotate")
@click.pass_context
def keys_rotate(ctx: click.Context) -> None:
    """Add a new master key (keyring file) and rewrap every record's data key under it."""
    from opendsp.accounts import sealing as accounts_sealing
    from opendsp.content.keys import KeyringFileProvider, MasterKeyError
    from opendsp.records.services import trace_event

    platform = _platform(ctx)
    try:
        if isinstance(platform.keys, KeyringFileProvider):
            new_id = platform.keys.add_key(platform.randomness)
            click.echo(f"new master key {new_id} is current")
        with platform.transaction() as session, progress_bar("rewrapping data keys", None) as advance:
            count = platform.content.rotate(session, progress=advance)
            resealed = accounts_sealing.rotate(session, platform)
            platform.trace.append(
                session,
                trace_event(SYSTEM, "keys.rotate", record_id=None,
                            context={"master_key": platform.keys.current_key_id, "rewrapped": count,
                                     "authenticator_secrets": resealed}),
            )
    except MasterKeyError as error:
        fail(str(error), 2)
    click.echo(f"{count} data keys rewrapped and {resealed} authenticator secrets resealed under "
               f"{platform.keys.current_key_id}")


@main.command()
@click.option("--host", default=None, help="Address to listen on (default OPENDSP_MLLP_HOST).")
@click.option("--port", default=None, type=int, help="Port (default OPENDSP_MLLP_PORT, else 2575).")
@click.pass_context
def mllp(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Receive hospitals' HL7 v2 ADT messages over MLLP (admissions, transfers, discharges)."""
    from opendsp.stays.mllp import run_mllp

    settings: Settings = ctx.obj["settings"]
    host = host or settings.mllp_host
    port = port or settings.mllp_port or 2575
    err.print(f"MLLP listener on {host}:{port}")
    run_mllp(_platform(ctx), host, port)


@main.group()
def stays() -> None:
    """Hospitals that report stays: their care units and ADT senders."""


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


@stays.command("add-sender")
@click.option("--hospital", required=True, help="The hospital's organisation identifier.")
@click.option("--application", required=True, help="MSH-3, the sending application.")
@click.option("--facility", required=True, help="MSH-4, the sending facility.")
@click.pass_context
def stays_add_sender(ctx: click.Context, hospital: str, application: str, facility: str) -> None:
    """Allow a hospital's system to report its stays over HL7 v2."""
    from opendsp.stays.registry import RegistryError, register_adt_sender

    platform = _platform(ctx)
    try:
        with platform.transaction() as session:
            register_adt_sender(
                session=session, platform=platform, actor=SYSTEM, hospital=hospital, application=application,
                facility=facility,
            )
    except RegistryError as error:
        fail(str(error), 2)
    click.echo(f"sender {application}/{facility} registered for {hospital}")


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
    from opendsp.search.services import reindex, unindexed

    platform = _platform(ctx)
    with platform.sessions() as session:
        wanted = unindexed(session, everything=everything)
    with progress_bar("indexing documents", len(wanted)) as advance:
        done = reindex(platform, wanted, progress=advance)
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
        with progress_bar("loading demo data", None) as advance:
            result = load_demo(platform, seed=seed, identities_path=out, progress=advance)
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
