"""``funnelwatch contact-hash``: the hashes producers put in contact_hashes, from stdin."""

from __future__ import annotations

import os
import subprocess
import sys

from pydantic import SecretStr

from funnelwatch.connectors.contacts import contact_hashes


def _run(stdin: str, *args: str, salt: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELWATCH_")}
    if salt is not None:
        env["FUNNELWATCH_CONTACT_HASH_SALT"] = salt
    return subprocess.run(
        [sys.executable, "-m", "funnelwatch.cli", "contact-hash", *args],
        input=stdin, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_each_line_gets_the_hash_the_pipeline_computes_or_a_dash() -> None:
    done = _run(" Jane@Example.com\nnot an address\n", salt="cli-salt")
    assert done.returncode == 0, done.stderr
    (email,) = contact_hashes(SecretStr("cli-salt"), email="jane@example.com")
    assert done.stdout.splitlines() == [email, "-"]
    phones = _run("+49 30 1234567\n", "--phone", salt="cli-salt")
    assert phones.stdout.splitlines() == list(
        contact_hashes(SecretStr("cli-salt"), phone="+4930 1234567")
    )
    assert "cli-salt" not in done.stdout + done.stderr + phones.stdout + phones.stderr


def test_without_a_salt_the_command_fails_and_prints_no_hash() -> None:
    done = _run("jane@example.com\n", salt=None)
    assert done.returncode != 0
    assert "FUNNELWATCH_CONTACT_HASH_SALT" in done.stderr and done.stdout == ""
