"""The ``funnelwatch`` command: the Faust app's own command line plus custom commands.

``funnelwatch worker`` (and every other Faust command) comes from Faust; this module
adds ``db migrate``, ``topics create``, ``settings``, ``simulate``, ``demo``,
``crm unmapped``, ``contact-hash`` and ``spend import``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from pydantic import SecretStr

from funnelwatch.connectors.spend import FORMAT_NAMES
from funnelwatch.connectors.spend.model import currency_code, report_time_of, zone_of
from funnelwatch.settings import Settings, current_settings


def _echo(line: str) -> None:
    click.echo(line, err=True)


@click.group(name="db")
def db_group() -> None:
    """ClickHouse schema commands."""


@db_group.command(name="migrate")
def db_migrate() -> None:
    """Apply the ClickHouse migrations not yet applied (safe to run again)."""
    from funnelwatch.clickhouse import connect
    from funnelwatch.schemas.migrate import migrate

    settings = current_settings()
    _echo(f"migrating {settings.clickhouse_url_redacted}")
    client = connect(settings.effective_clickhouse_url)
    try:
        applied = migrate(client, _echo)
    finally:
        client.close()
    _echo(f"{len(applied)} migration(s) applied" if applied else "already up to date")


@click.group(name="topics")
def topics_group() -> None:
    """Kafka topic commands."""


@topics_group.command(name="create")
def topics_create() -> None:
    """Create every catalogue topic with its partition count (existing ones are checked)."""
    from funnelwatch.streams.admin import ensure_topics
    from funnelwatch.streams.catalogue import catalogue

    s = current_settings()
    created = ensure_topics(s.kafka_bootstrap, catalogue(s).all(), s.replication_factor, _echo)
    _echo(f"{len(created)} topic(s) created" if created else "all topics exist")


@topics_group.command(name="list")
def topics_list() -> None:
    """Print the topic catalogue."""
    from funnelwatch.streams.catalogue import catalogue

    for t in catalogue(current_settings()).all():
        click.echo(f"{t.name:45} {t.partitions:3}  {t.purpose}")


@click.command(name="settings")
@click.option("--markdown", is_flag=True, help="Print the reference table of the README.")
def settings_command(markdown: bool) -> None:
    """Print every setting: environment variable, current value, default, meaning.

    Secrets are shown as set or unset only; the ClickHouse URL without its password."""
    if markdown:
        click.echo(settings_reference())
        return
    current = current_settings()
    for name, field in Settings.model_fields.items():
        value: Any = getattr(current, name)
        if name == "clickhouse_url":
            value = current.clickhouse_url_redacted
        elif isinstance(value, SecretStr):
            # a secret is shown as set or not, never as its value (nor its length)
            value = "(secret, set)" if value.get_secret_value() else ""
        click.echo(f"FUNNELWATCH_{name.upper()}={value}\n    {field.description}")


def settings_reference() -> str:
    """The settings as a Markdown table (the README embeds exactly this)."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, tuple):
            default = ",".join(map(str, default))
        shown = "(home)/.local/share/funnelwatch" if name == "data_dir" else default
        meaning = (field.description or "").replace("|", "\\|")
        lines.append(f"| `FUNNELWATCH_{name.upper()}` | `{shown}` | {meaning} |")
    return "\n".join(lines)


_PASSTHROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@click.command(name="simulate", context_settings=_PASSTHROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def simulate_command(args: tuple[str, ...]) -> None:
    """Send simulated funnel traffic to Kafka (``funnelwatch simulate --help``)."""
    import argparse

    from funnelwatch.streams.simulator.cli import add_simulate_arguments, run_simulate

    parser = argparse.ArgumentParser(prog="funnelwatch simulate")
    add_simulate_arguments(parser)
    sys.exit(run_simulate(parser.parse_args(list(args)), current_settings()))


@click.command(name="demo", context_settings=_PASSTHROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def demo_command(args: tuple[str, ...]) -> None:
    """Run Kafka (if none), the simulator and the worker with a live board (``--help``)."""
    from funnelwatch.demo.main import main as demo_main

    sys.exit(demo_main(list(args)))


@click.group(name="grafana")
def grafana_group() -> None:
    """Grafana boards and alert rules as code."""


@grafana_group.command(name="build")
@click.option("--check", is_flag=True, help="Only report provisioning files that are stale.")
def grafana_build(check: bool) -> None:
    """Regenerate grafana/provisioning from the board and alert-rule code."""
    from funnelwatch.grafana.build import main as build_main

    sys.exit(build_main(["--check"] if check else []))


@grafana_group.command(name="push")
@click.option("--url", default=None, help="Grafana base URL (default: FUNNELWATCH_GRAFANA_URL).")
@click.option(
    "--token",
    default=None,
    help="Service account token (default: FUNNELWATCH_GRAFANA_TOKEN; prefer the variable).",
)
def grafana_push(url: str | None, token: str | None) -> None:
    """Create or update the folder, boards, alert rules, contact point and policy."""
    from funnelwatch.grafana.push import PushError, push

    s = current_settings()
    target = url or s.grafana_url
    try:
        result = push(target, token or s.grafana_token.get_secret_value(), _echo)
    except PushError as exc:
        _echo(f"funnelwatch grafana push: error: {exc}")
        sys.exit(1)
    for warning in result.warnings:
        _echo(f"warning: {warning}")
    _echo(
        f"pushed to {target}: {len(result.created)} created, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged"
    )


@click.group(name="crm")
def crm_group() -> None:
    """CRM connectors (POST /ingest/crm/<provider>)."""


@crm_group.command(name="unmapped")
@click.option("--provider", default=None, help="Only this provider (hubspot, pipedrive, ...).")
@click.option(
    "--records", is_flag=True, help="Print the held records (JSON lines, no raw contacts)."
)
def crm_unmapped(provider: str | None, records: bool) -> None:
    """List CRM stages the mapping does not know, with their records held in ClickHouse."""
    import json

    from funnelwatch.clickhouse import connect
    from funnelwatch.connectors.crm.store import list_unmapped, unmapped_records

    client = connect(current_settings().effective_clickhouse_url)
    try:
        if records:
            for record in unmapped_records(client, provider):
                click.echo(json.dumps(record, sort_keys=True, ensure_ascii=False))
            return
        stages = list_unmapped(client, provider)
    finally:
        client.close()
    if not stages:
        _echo("no unmapped CRM stages")
        return
    click.echo(
        f"{'provider':10} {'pipeline':16} {'stage':24} {'records':>7}  first seen -> last seen"
    )
    for s in stages:
        click.echo(
            f"{s.provider:10} {s.pipeline or '-':16} {s.stage:24} {s.records:7}  "
            f"{s.first_seen:%Y-%m-%d %H:%M:%S} -> {s.last_seen:%Y-%m-%d %H:%M:%S}"
        )


@click.group(name="spend")
def spend_group() -> None:
    """Ad-platform spend reports -> the ad-spend topic."""


def _parsed(parse: Callable[[str], Any]) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback parsing an option's text with ``parse`` (ValueError: bad option)."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return callback


@spend_group.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    required=True,
    type=click.Choice(FORMAT_NAMES),
    help="The platform whose export FILE is.",
)
@click.option(
    "--timezone",
    "zone",
    default="UTC",
    show_default=True,
    callback=_parsed(zone_of),
    help="IANA time zone of the account, whose days and hours the report uses.",
)
@click.option("--account", default=None, help="Account id for a file without an account column.")
@click.option(
    "--currency",
    default=None,
    callback=_parsed(currency_code),
    help="ISO 4217 currency for a file that names none (must match one it names).",
)
@click.option(
    "--reported-at",
    "reported_at",
    default=None,
    callback=_parsed(report_time_of),
    help="When the platform made the report (ISO 8601 with a zone); "
    "default: the file's modification time.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Parse and validate, print the records (JSON lines), produce nothing.",
)
def spend_import(
    file: Path,
    fmt: str,
    zone: Any,
    account: str | None,
    currency: str | None,
    reported_at: datetime | None,
    dry_run: bool,
) -> None:
    """Import FILE, a spend report as the ad platform exports it, to the ad-spend topic.

    The whole file is parsed and validated first: one bad row and nothing is produced."""
    import json

    from funnelwatch.connectors.spend.importer import load_report
    from funnelwatch.connectors.spend.model import ImportOptions, SpendFileError
    from funnelwatch.connectors.spend.produce import ProduceError, produce
    from funnelwatch.processors.app import limits_of
    from funnelwatch.streams.catalogue import catalogue

    s = current_settings()
    topic = catalogue(s).spend.name
    options = ImportOptions(timezone=zone, account=account or None, currency=currency)
    try:
        report = load_report(file, fmt, options, reported_at=reported_at, limits=limits_of(s))
        if dry_run:
            for key, value in report.records():
                click.echo(json.dumps({"topic": topic, "key": key.decode(),
                                       "value": json.loads(value)}))  # fmt: skip
        else:
            produce(report.records(), topic, s)
    except (SpendFileError, ProduceError) as exc:
        _echo(f"funnelwatch spend import: error: {exc}")
        sys.exit(1)
    _echo(report.summary(topic, produced=not dry_run))


@click.command(name="contact-hash")
@click.option("--phone", "kind", flag_value="phone", help="The lines are phone numbers.")
@click.option("--email", "kind", flag_value="email", default=True, help="The lines are e-mails.")
def contact_hash_command(kind: str) -> None:
    """Print the contact hash of each e-mail (or phone) read from stdin, one per line
    ("-" when unusable), with the configured salt: what a producer writing to Kafka puts
    in a form's contact_hashes. Values come on stdin, never as arguments (shell history)."""
    from funnelwatch.connectors.contacts import ContactHashing

    hashing = ContactHashing.from_settings(current_settings())
    if hashing is None:
        raise click.ClickException("FUNNELWATCH_CONTACT_HASH_SALT is not set")
    for line in click.get_text_stream("stdin"):
        value = line.rstrip("\n")
        found = hashing.hashes(**{kind: value})
        click.echo(found[0] if found else "-")


CUSTOM_COMMANDS = (
    db_group, topics_group, settings_command, simulate_command, demo_command, grafana_group,
    crm_group, contact_hash_command, spend_group,
)  # fmt: skip


def main() -> None:
    custom = {c.name: c for c in CUSTOM_COMMANDS}
    if len(sys.argv) > 1 and sys.argv[1] in custom:
        # Our commands need no Faust app: run them without building the worker's.
        custom[sys.argv[1]].main(sys.argv[2:], prog_name=f"funnelwatch {sys.argv[1]}")
        return
    from faust.cli.faust import cli

    from funnelwatch.processors.app import create_pipeline

    for command in CUSTOM_COMMANDS:
        cli.add_command(command)  # listed in `funnelwatch --help` next to Faust's own
    create_pipeline().app.main()


if __name__ == "__main__":
    main()
