"""End to end: the real `dagtui` command in tmux, driven with send-keys and read with capture-pane."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import SAMPLES

from dagtui.generate import generate, to_dot
from dagtui.helper_process import MIN_BYTES
from dagtui.model import ModelSpec, parse_strategy

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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the helper process forks on Linux only")
def test_large_files_load_through_the_helper_process_in_tmux(tmp_path):
    """Files large enough for the helper process: both panes fill, nothing but the app reaches the
    terminal, and quitting leaves no helper and no exchange folder behind."""
    spec = ModelSpec(layers=24, hidden_size=4096, heads=32, d_k=128, experts=64, top_k=2, batch_size=128, seq_len=1024)
    for name, strategy in (("current.dot", "EP64-TP8-PP2-DP1"), ("new.dot", "EP32-TP16-PP4-DP1")):
        (tmp_path / name).write_text(to_dot(generate(spec, parse_strategy(strategy))))
    assert sum(path.stat().st_size for path in tmp_path.glob("*.dot")) >= MIN_BYTES
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    dagtui = Path(sys.executable).with_name("dagtui")
    session = f"dagtui-e2e-large-{int(time.time() * 1000)}"
    command = (
        f"cd {tmp_path} && env -u COLUMNS -u LINES TMPDIR={scratch} XDG_CONFIG_HOME={tmp_path}/config "
        f"{dagtui} current.dot new.dot; echo DAGTUI-EXITED-$?; sleep 60"
    )
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    tmux("resize-window", "-t", session, "-x", "120", "-y", "40")
    try:
        saw_helper = False  # its exchange folder lives from the fork to the end of the load
        for _ in range(400):
            saw_helper = any(scratch.glob("dagtui-helper-*"))
            if saw_helper or "validating" in screen(session):
                break
            time.sleep(0.025)
        assert saw_helper or any(scratch.glob("dagtui-helper-*"))
        wait_for(session, "EP64-TP8-PP2-DP1", timeout=40)
        shown = wait_for(session, "EP32-TP16-PP4-DP1", timeout=40)
        for _ in range(200):  # both headers count findings once validated
            if shown.count("✖") >= 2 and "validating" not in shown:
                break
            time.sleep(0.2)
            shown = screen(session)
        assert shown.count("✖") >= 2 and "validating" not in shown, shown
        assert "Traceback" not in shown and "Error" not in shown.split("\n")[0]
        tmux("send-keys", "-t", session, "q")
        wait_for(session, "DAGTUI-EXITED-0")
        assert list(scratch.iterdir()) == []  # the exchange folder went with the helper
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)
