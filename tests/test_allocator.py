"""The CLI's processes run polars with freed pages dropped at once (postmortem/allocator.py), a user's own
allocator settings still winning."""

import os
import subprocess
import sys

SHOW = "import postmortem.cli, polars, os; print(os.environ['_RJEM_MALLOC_CONF'])"


def _conf(own: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    if own is not None:
        env["_RJEM_MALLOC_CONF"] = own
    out = subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, check=True).stdout
    return out.strip().split(",")


def _last(settings: list[str], key: str) -> str:
    return [s for s in settings if s.startswith(key + ":")][-1]


def test_cli_drops_freed_pages_at_once():
    assert _last(_conf(None), "muzzy_decay_ms") == "muzzy_decay_ms:0"


def test_a_users_own_setting_wins():
    settings = _conf("muzzy_decay_ms:2000,narenas:2")
    assert _last(settings, "muzzy_decay_ms") == "muzzy_decay_ms:2000"
    assert "narenas:2" in settings
