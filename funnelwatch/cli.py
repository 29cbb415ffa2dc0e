"""The ``funnelwatch`` command: the Faust app's own command line plus custom commands.

``funnelwatch worker`` (and every other Faust command) comes from Faust; this module
adds ``db migrate``, ``topics create``, ``settings``, ``simulate`` and ``demo``.
"""

from __future__ import annotations

import sys
from typing import Any

import click

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
    """Print every setting: environment variable, current value, default, meaning."""
    if markdown:
        click.echo(settings_reference())
        return
    current = current_settings()
    for name, field in Settings.model_fields.items():
        value: Any = getattr(current, name)
        if name == "clickhouse_url":
            value = current.clickhouse_url_redacted
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


CUSTOM_COMMANDS = (
    db_group, topics_group, settings_command, simulate_command, demo_command, grafana_group,
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
