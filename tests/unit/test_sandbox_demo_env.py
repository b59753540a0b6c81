"""`python -m sandbox trigger` sends to a running `make run` with no secret exported, and only to it."""

from __future__ import annotations

import subprocess

import pytest

from sandbox import cli
from sandbox.stack import DEMO_SECRET, Ports, Stack, read_demo_env, write_demo_env

DEMO_RECEIVER = "http://127.0.0.1:18000/webhooks/stripe"


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("STACK_RUN_DIR", str(tmp_path))
    for name in ("SANDBOX_URL", "SANDBOX_WEBHOOK_URL", "STRIPE_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def demo_running(run_dir) -> None:
    write_demo_env(Stack(ports=Ports(sandbox=18100, web=18000, flower=15555)), run_dir)


def parsed(*options: str):
    return cli.build_parser().parse_args(["trigger", "payment", *options])


def test_the_running_demo_gives_the_addresses_and_the_secret(run_dir):
    demo_running(run_dir)
    args = parsed()
    assert (args.sandbox_url, args.webhook_url) == ("http://127.0.0.1:18100", DEMO_RECEIVER)
    assert cli._secrets(args) == [DEMO_SECRET]


def test_the_demo_receiver_gets_the_demo_secret_even_with_another_one_exported(run_dir, monkeypatch):
    demo_running(run_dir)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_of_some_other_receiver")
    assert cli._secrets(parsed()) == [DEMO_SECRET]
    other = parsed("--webhook-url", "https://connector.example.com/webhooks/stripe")
    assert cli._secrets(other) == ["whsec_of_some_other_receiver"]
    assert cli._secrets(parsed("--secret", "whsec_given")) == ["whsec_given"]


def test_a_stopped_demo_gives_nothing(run_dir):
    demo_running(run_dir)
    gone = subprocess.Popen(["true"])
    gone.wait()
    text = (run_dir / "demo.env").read_text()
    (run_dir / "demo.env").write_text(text.replace(text.split("\n", 1)[0], f"STACK_PID={gone.pid}"))
    assert read_demo_env() == {}
    args = parsed()
    assert args.webhook_url == cli.DEFAULT_WEBHOOK_URL
    with pytest.raises(cli.CliError, match="no webhook secret"):
        cli._secrets(args)


def test_without_a_demo_the_command_still_refuses_to_sign_with_nothing(run_dir):
    assert cli.main(["trigger", "payment"]) == 2
