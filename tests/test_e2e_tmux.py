"""End to end: the real `dagtui` command in tmux, driven with send-keys and read with capture-pane."""

from __future__ import annotations

import os
import re
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


# A private tmux server per test run: the user's sessions and their sizes do not interfere, nor
# does another run of these tests on the same machine (its kill-server would end ours).
SOCKET = f"dagtui-e2e-{os.getpid()}"


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


def wait_gone(session: str, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while text in screen(session):
        assert time.monotonic() < deadline, f"{text!r} never went:\n{screen(session)}"
        time.sleep(0.2)


def start_dagtui(tmp_path: Path, name: str, arguments: str, environment: str = "", after: str = "") -> str:
    """A tmux session of 120x40 running `dagtui arguments` in tmp_path with a private config dir;
    `DAGTUI-EXITED-<code>` is printed when it exits, then `after`."""
    dagtui = Path(sys.executable).with_name("dagtui")
    session = f"dagtui-e2e-{name}-{int(time.time() * 1000)}"
    command = (
        f"cd {tmp_path} && env -u COLUMNS -u LINES {environment} XDG_CONFIG_HOME={tmp_path}/config {dagtui} {arguments}; "
        f"echo DAGTUI-EXITED-$?; {after} sleep 60"
    )
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    tmux("resize-window", "-t", session, "-x", "120", "-y", "40")
    return session


def test_dagtui_in_tmux(tmp_path):
    for name in ("current.dot", "new.dot"):
        (tmp_path / name).write_text((SAMPLES / name).read_text())
    session = start_dagtui(
        tmp_path, "samples", f"current.dot new.dot --model {SAMPLES / 'model.yaml'}",
        after="echo TTY: $(stty -a | grep -oE '(^| )-?(icanon|echo)( |$)' | tr -d ' ');",
    )
    try:
        wait_for(session, "EP64-TP8-PP2-DP2")
        wait_for(session, "EP~32-TP~16-PP~4-DP~4")
        wait_for(session, "ATT002")
        tmux("send-keys", "-t", session, "n")
        shown = wait_for(session, "ATT002 node 1 of")  # the detail panel says which finding led here
        assert "layer0_attn_v" in shown
        tmux("send-keys", "-t", session, "e")
        wait_for(session, "Export findings to markdown")
        tmux("send-keys", "-t", session, "Enter")
        wait_for(session, "wrote")
        assert (tmp_path / "current-dagtui-report.md").read_text().startswith("# DAG Analysis Report")
        tmux("send-keys", "-t", session, "e")  # again: the file is there now, so it asks
        wait_for(session, "Export findings to markdown")
        tmux("send-keys", "-t", session, "Enter")
        wait_for(session, "exists. Replace it?")
        tmux("send-keys", "-t", session, "n")  # no: the report stays, the dialog closes
        wait_gone(session, "Replace it?")
        tmux("send-keys", "-t", session, "q")
        wait_for(session, "DAGTUI-EXITED-0")
        # The terminal is usable again: canonical mode with echo back on.
        tty = wait_for(session, "TTY:").split("TTY:")[1].split()
        assert "icanon" in tty and "echo" in tty and "-icanon" not in tty and "-echo" not in tty
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)


SGR = re.compile(r"\x1b\[([0-9;]*)m")


def styled_cells(text: str) -> list[list[tuple[str, dict]]]:
    """`capture-pane -e` output as rows of (character, attributes): fg, bg (None: the terminal's
    default), bold, underline, reverse."""
    rows = []
    for line in text.splitlines():
        state: dict = {"fg": None, "bg": None, "bold": False, "underline": False, "reverse": False}
        cells: list[tuple[str, dict]] = []
        position = 0
        for match in [*SGR.finditer(line), None]:
            end = match.start() if match else len(line)
            cells += [(character, dict(state)) for character in line[position:end]]
            if match is None:
                break
            position = match.end()
            _apply_sgr(state, [int(code) if code else 0 for code in match.group(1).split(";")])
        rows.append(cells)
    return rows


def _apply_sgr(state: dict, codes: list[int]) -> None:
    index = 0
    while index < len(codes):
        code = codes[index]
        if code == 0:
            state.update(fg=None, bg=None, bold=False, underline=False, reverse=False)
        elif code in (1, 4, 7):
            state[{1: "bold", 4: "underline", 7: "reverse"}[code]] = True
        elif code in (22, 24, 27):
            state[{22: "bold", 24: "underline", 27: "reverse"}[code]] = False
        elif code in (38, 48):  # 38;5;N or 38;2;R;G;B
            length = 3 if codes[index + 1] == 5 else 5
            state["fg" if code == 38 else "bg"] = tuple(codes[index + 1:index + length])
            index += length - 1
        elif 30 <= code <= 37 or 90 <= code <= 97:
            state["fg"] = (code,)
        elif 40 <= code <= 47 or 100 <= code <= 107:
            state["bg"] = (code - 10,)
        elif code == 39:
            state["fg"] = None
        elif code == 49:
            state["bg"] = None
        index += 1


def test_no_color_and_resize_in_tmux(tmp_path):
    """NO_COLOR at a login node: no colour at all, never text in its background's colour; the
    cursor row in reverse video; after the terminal shrinks the selected node is still in view."""
    session = start_dagtui(
        tmp_path, "nocolor", f"{SAMPLES / 'current.dot'} {SAMPLES / 'new.dot'} --model {SAMPLES / 'model.yaml'}",
        environment="NO_COLOR=1 TERM=xterm-256color",
    )
    try:
        wait_for(session, "ATT002")
        tmux("send-keys", "-t", session, "n")
        wait_for(session, "ATT002 node 1 of")
        time.sleep(0.3)
        rows = styled_cells(tmux("capture-pane", "-p", "-e", "-t", session))
        visible = [attributes for row in rows for character, attributes in row if not character.isspace()]
        assert len(visible) > 1000
        assert not [a for a in visible if a["fg"] is not None and a["fg"] == a["bg"]]  # nothing unreadable
        assert not [a for a in visible if a["fg"] is not None or a["bg"] is not None]  # no colour at all
        assert _reverse_rows_with(rows, "layer0_attn_v")  # the selected node, in reverse video
        assert any(a["underline"] for a in visible) and any(a["bold"] for a in visible)

        tmux("resize-window", "-t", session, "-x", "80", "-y", "24")
        deadline = time.monotonic() + 10
        while not _stacked(screen(session)):  # the app has drawn its narrow layout (panes stacked)
            assert time.monotonic() < deadline, screen(session)
            time.sleep(0.2)
        time.sleep(0.3)
        shown = screen(session)
        rows = styled_cells(tmux("capture-pane", "-p", "-e", "-t", session))
        assert _stacked(shown) and len(rows) == 24 and _reverse_rows_with(rows, "layer0_attn_v"), shown
        footer = shown.splitlines()[-1]
        assert "? Help" in footer and "q Quit" in footer
        tmux("send-keys", "-t", session, "q")
        wait_for(session, "DAGTUI-EXITED-0")
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)
    assert not (tmp_path / "config").exists() or "ansi" not in "".join(
        path.read_text() for path in (tmp_path / "config").rglob("*") if path.is_file())


def _stacked(shown: str) -> bool:
    """Whether the screen shows the narrow layout: the second pane's header below the first's."""
    lines = shown.splitlines()
    headers = [number for number, line in enumerate(lines) if "Deployment · EP" in line]
    return len(headers) == 2 and headers[1] - headers[0] > 3 and all(len(line) <= 80 for line in lines)


def _reverse_rows_with(rows: list[list[tuple[str, dict]]], text: str) -> list[int]:
    """Rows where `text` is drawn in reverse video."""
    found = []
    for number, row in enumerate(rows):
        line = "".join(character for character, _ in row)
        start = line.find(text)
        if start >= 0 and all(attributes["reverse"] for _, attributes in row[start:start + len(text)]):
            found.append(number)
    return found


def test_a_missing_file_is_said_before_the_screen_is_taken_over(tmp_path):
    dagtui = Path(sys.executable).with_name("dagtui")
    session = f"dagtui-e2e-missing-{int(time.time() * 1000)}"
    command = f"cd {tmp_path} && {dagtui} missing.dot; echo DAGTUI-EXITED-$?; sleep 60"
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", command)
    try:
        shown = wait_for(session, "DAGTUI-EXITED-")
        assert "DAGTUI-EXITED-2" in shown and "dagtui: missing.dot: no such file" in shown
        assert tmux("display-message", "-p", "-t", session, "#{alternate_on}").strip() == "0"
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
