"""End to end: the real `dagtui` command in tmux, driven with send-keys and read with capture-pane."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import SAMPLES

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


SOCKET = "dagtui-e2e"  # a private tmux server: the user's sessions and their sizes do not interfere


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, "-f", "/dev/null", *args], capture_output=True, text=True, check=True).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def wait_for(session: str, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = screen(session)
        if text in shown:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared:\n{screen(session)}")


def test_dagtui_in_tmux(tmp_path):
    for name in ("current.dot", "new.dot"):
        (tmp_path / name).write_text((SAMPLES / name).read_text())
    dagtui = Path(sys.executable).with_name("dagtui")
    session = f"dagtui-e2e-{int(time.time() * 1000)}"
    command = (
        f"cd {tmp_path} && env -u COLUMNS -u LINES XDG_CONFIG_HOME={tmp_path}/config {dagtui} current.dot new.dot "
        f"--model {SAMPLES / 'model.yaml'}; echo DAGTUI-EXITED-$?; "
        "echo TTY: $(stty -a | grep -oE '(^| )-?(icanon|echo)( |$)' | tr -d ' '); sleep 60"
    )
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    tmux("resize-window", "-t", session, "-x", "120", "-y", "40")
    try:
        wait_for(session, "EP64-TP8-PP2-DP2")
        wait_for(session, "EP~32-TP~16-PP~4-DP~4")
        wait_for(session, "ATT002")
        tmux("send-keys", "-t", session, "n")
        shown = wait_for(session, "operator v_proj")
        assert "layer0_attn_v" in shown
        tmux("send-keys", "-t", session, "e")
        wait_for(session, "Export findings to markdown")
        tmux("send-keys", "-t", session, "Enter")
        wait_for(session, "wrote")
        assert (tmp_path / "current-dagtui-report.md").read_text().startswith("# DAG Analysis Report")
        tmux("send-keys", "-t", session, "q")
        wait_for(session, "DAGTUI-EXITED-0")
        # The terminal is usable again: canonical mode with echo back on.
        tty = wait_for(session, "TTY:").split("TTY:")[1].split()
        assert "icanon" in tty and "echo" in tty and "-icanon" not in tty and "-echo" not in tty
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)
