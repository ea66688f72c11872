"""Hostile and broken input (issue 12): a catalogue of files and faults in `tests/hostile/`, each run
through `dagtui check`, `dagtui info` and the explorer's loader with the exit code and the message
expected. Whatever the input, no run may hang, raise a traceback, grow memory without bound, let a
control character from the file reach the terminal, or start an output line with file content."""

from __future__ import annotations

import os
import re
import resource
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import SAMPLES, loaded

from dagtui.cli import main
from dagtui.tui.app import DagtuiApp
from dagtui.tui.issues import IssuePanel
from dagtui.tui.messages import IssueChosen

HOSTILE = Path(__file__).parent / "hostile"
ROOT = Path(__file__).resolve().parent.parent
# What must never reach a terminal from a file: C0 controls but tab and newline, DEL, C1.
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
RUN_SECONDS = float(os.environ.get("DAGTUI_TEST_HANG_SECONDS", "60"))  # a run that takes longer has hung


@dataclass(frozen=True)
class Inputs:
    """What one case hands dagtui: DOT files and options (paths inside the case's folder)."""

    files: list[str]
    model: str | None = None
    strategy: str | None = None
    output: str | None = None
    config: bytes | None = None  # dagtui.yaml in the folder `check` runs in
    env: dict[str, str] = field(default_factory=dict)

    def options(self, command: str) -> list[str]:
        options = [*(["--model", self.model] if self.model else []), *(["--strategy", self.strategy] if self.strategy else [])]
        if command == "check" and self.output:
            options += ["--output", self.output]
        return options


def stored(name: str, **options: str) -> Callable[[Path], Inputs]:
    """A case whose DOT file is kept in tests/hostile/."""
    return lambda folder: Inputs([str(HOSTILE / name)], **options)


def sample(**options) -> Callable[[Path], Inputs]:
    return lambda folder: Inputs([str(SAMPLES / "current.dot")], **options)


def fifo(folder: Path, name: str) -> str:
    path = folder / name
    os.mkfifo(path)
    return str(path)


def device_link(folder: Path, name: str, device: str = "/dev/zero") -> str:
    """A symlink with an innocent name to a device (`dagtui check f.dot` where f.dot -> /dev/zero)."""
    path = folder / name
    path.symlink_to(device)
    return str(path)


def written(folder: Path, name: str, data: bytes) -> str:
    path = folder / name
    path.write_bytes(data)
    return str(path)


def device(folder: Path, name: str) -> str:
    """A character device node like /dev/full, made here (root may), so that today's code, which
    replaces it, does no harm; the system's own node where mknod is not allowed."""
    path = folder / name
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except OSError:
        return "/dev/full"
    return str(path)


def hub_text(edges: int) -> str:
    """One node feeding `edges` others, each edge on a line of its own."""
    return 'digraph G {\n  hub [label="All-Reduce\\nGPU: 0"]\n' + "".join(f"  hub -> n{i}\n" for i in range(edges)) + "}\n"


SAMPLE = str(SAMPLES / "current.dot")


@dataclass(frozen=True)
class Case:
    """One hostile input: how to make it, and per runner the exit code and a fragment of what is
    shown (None: the runner does not take this input). `loader` is the fragment the explorer shows."""

    name: str
    make: Callable[[Path], Inputs]
    check: tuple[int, str] | None
    info: tuple[int, str] | None = None
    loader: str | None = None
    isolated: bool = False  # run in a child process with a memory limit: today's code may take gigabytes
    absent: tuple[str, ...] = field(default_factory=tuple)  # must not be shown by any runner


CASES = [
    # -- terminal and markdown injection --------------------------------------------------------
    Case("control characters in ids and labels", stored("control_characters.dot"),
         check=(1, "undeclared␛[8m␇"), info=(0, "undeclared␛[8m␇"), loader="undeclared␛[8m␇"),
    Case("newline in an id", stored("newline_in_id.dot"),
         check=(1, "a⏎::error file=x,line=1::injected"), info=(0, "a⏎::error"), loader="a⏎::error"),
    Case("markdown in ids", stored("markdown_injection.dot"),
         check=(1, "<img src=x onerror=alert(1)>"), info=(0, "``<b>bold</b>|pipe``"), loader="<script>"),
    # -- files that are no files, or never end -------------------------------------------------
    Case("FIFO as the DOT file", lambda folder: Inputs([fifo(folder, "f.dot")]),
         check=(2, "is a named pipe (FIFO), not a regular file"), info=(2, "named pipe"), loader="named pipe"),
    Case("/dev/zero as the DOT file", lambda folder: Inputs([device_link(folder, "z.dot")]),
         check=(2, "is a character device, not a regular file"), info=(2, "character device"), loader="character device",
         isolated=True),
    Case("a file whose size stat does not tell", lambda folder: Inputs(["/proc/self/status"], env={"DAGTUI_MAX_BYTES": "200"}),
         check=(2, "larger than the 200-byte limit"), info=(2, "larger than the"), loader="larger than the"),
    Case("FIFO as --model", lambda folder: Inputs([SAMPLE], model=fifo(folder, "m.yaml")),
         check=(2, "m.yaml: is a named pipe (FIFO)"), info=(2, "named pipe"), loader="named pipe"),
    Case("/dev/zero as --model", lambda folder: Inputs([SAMPLE], model=device_link(folder, "m.yaml")),
         check=(2, "m.yaml: is a character device"), isolated=True),
    Case("binary --model", lambda folder: Inputs([SAMPLE], model=written(folder, "m.yaml", b"\xff\xfe\x00layers: 3")),
         check=(2, "not UTF-8 text (byte 0xff at offset 0)"), info=(2, "not UTF-8"), loader="not UTF-8"),
    Case("--model nested a million deep", lambda folder: Inputs([SAMPLE], model=written(folder, "m.yaml", b"layers: " + b"[" * 300_000)),
         check=(2, "nested too deeply"), info=(2, "nested too deeply")),
    Case("--model with a byte-order mark", lambda folder: Inputs([SAMPLE], model=written(folder, "m.yaml", "\ufefflayers: 16\n".encode())),
         check=(1, "ATT002")),
    Case("binary dagtui.yaml", lambda folder: Inputs([SAMPLE], config=b"\x89PNG\r\n\x1a\n\x00\x00"),
         check=(2, "dagtui.yaml: not UTF-8 text")),
    Case("FIFO as dagtui.yaml", lambda folder: fifo(folder, "dagtui.yaml") and Inputs([SAMPLE]),
         check=(2, "dagtui.yaml: is a named pipe (FIFO)")),
    # -- broken files: reported where the fault is ------------------------------------------------
    Case("two graphs, a comment between", stored("two_graphs.dot"),
         check=(1, "SYN002 More than one graph in the file line 6"), info=(0, "Only the first graph is read: more follows it from line 6"),
         loader="More than one graph"),
    Case("unterminated string", stored("unterminated_string.dot"),
         check=(1, "line 3, column 12: the string opened here is never closed"), info=(2, "dot:3:12: syntax error: the string opened here"),
         loader="line 3"),
    Case("unterminated comment", stored("unterminated_comment.dot"),
         check=(1, "line 3, column 3: the comment opened here is never closed"), info=(2, "dot:3:3"), loader="line 3"),
    Case("unterminated brace", stored("unterminated_brace.dot"),
         check=(1, "line 1, column 11: the `{` opened here is never closed"), info=(2, "dot:1:11"), loader="line 1"),
    Case("unterminated HTML label", stored("unterminated_html.dot"),
         check=(1, "line 3, column 12: the HTML label opened here has no closing `>` before the `->` at line 4"),
         info=(2, "dot:3:12"), loader="line 3"),
    Case("HTML label open to the end", lambda folder: Inputs([written(folder, "h.dot", b'digraph G {\n  a -> b\n  b [label=<<b>x</b>\n  c [label="y"]\n}\n')]),
         check=(1, "line 3, column 12: the HTML label opened here is never closed"), info=(2, "h.dot:3:12"), loader="line 3"),
    Case("file cut off inside an attribute list", lambda folder: Inputs([written(folder, "cut.dot", b'digraph G {\n  a -> b\n  c [label=\n')]),
         check=(1, "line 3, column 5: the attribute list `[` opened here is never closed"), info=(2, "cut.dot:3:5"), loader="line 3"),
    Case("1200 nested subgraphs", stored("deep_nesting.dot"),
         check=(2, "deep_nesting.dot:2: subgraphs nested more than 256 deep"), info=(2, "nested more than 256 deep"),
         loader="nested more than 256 deep"),
    Case("a node declared twice with conflicting labels", stored("conflicting_declarations.dot"),
         check=(1, "EXP004 Experts without a gate before them line 6"), info=(0, "Nodes: 3"), loader="declared at line 6"),
    Case("a node with 100k edges", lambda folder: Inputs([written(folder, "hub.dot", hub_text(100_000).encode())]),
         check=(0, "100000 node(s) appear only in edges")),
    # -- absurd numbers: never made into lists ----------------------------------------------------
    Case("layers 0-999999999999 in a stage label", stored("huge_layer_range.dot"),
         check=(1, "SYN003 Beyond dagtui's limits"), info=(0, "Pipeline stages"), loader="Beyond dagtui's limits", isolated=True),
    Case("GPU ranges of 10^12 ids", stored("huge_gpu_range.dot"),
         check=(1, "`n0` names `0-999999999990`"), info=(0, "Nodes: 40"), loader="Beyond dagtui's limits", isolated=True),
    Case("degrees of 10^11 in the graph label", lambda folder: Inputs([written(folder, "d.dot", b'digraph G {\n  label="EP99999999999-TP99999999999-PP2-DP2"\n  g [label="Gate\\nGPU: 0"]\n  e [label="Expert 0\\nGPU: 0"]\n  q [label="Q Projection\\nGPU: TP0"]\n  q -> g -> e\n}\n')]),
         check=(1, "== d (TP1-PP2-DP2)"), info=(0, "EP?-TP~1-PP2-DP2"), loader="EP?-TP~1-PP2-DP2", isolated=True),
    Case("numbers of 5000 digits", lambda folder: Inputs([written(folder, "n.dot", ('digraph G {\n  label="EP' + "9" * 5000 + '"\n  "layer' + "9" * 5000 + '_tp' + "9" * 5000 + '" [label="Layer ' + "9" * 5000 + '\\nGPU: ' + "9" * 5000 + '-' + "9" * 5000 + '\\nInput: [batch=' + "9" * 5000 + ']"]\n  a -> b\n}\n').encode())]),
         check=(0, "999999999999999999…"), info=(0, "Nodes: 3")),
    Case("layers: 10^23 in --model", lambda folder: Inputs([SAMPLE], model=written(folder, "m.yaml", b"layers: 99999999999999999999999\n")),
         check=(2, "layers is 99999999999999999999999, more than the 1,000,000 dagtui accepts"), info=(2, "more than the 1,000,000"),
         loader="more than the 1,000,000", isolated=True),
    Case("--strategy EP99999999999-TP8-PP2-DP2", sample(strategy="EP99999999999-TP8-PP2-DP2"),
         check=(2, "EP99999999999 is outside 1-1,000,000"), info=(2, "outside 1-1,000,000"), loader="outside 1-1,000,000"),
    Case("--strategy EP-1-TP8", sample(strategy="EP-1-TP8"),
         check=(2, "cannot read a parallel strategy from 'EP-1-TP8'"), info=(2, "cannot read a parallel strategy")),
    # -- where the report goes --------------------------------------------------------------------
    Case("-o at a FIFO", lambda folder: Inputs([SAMPLE], output=fifo(folder, "report.md")),
         check=(2, "report.md: is a named pipe (FIFO); dagtui replaces only regular files")),
    Case("-o at a device", lambda folder: Inputs([SAMPLE], output=device(folder, "full")),
         check=(2, "is a character device; dagtui replaces only regular files")),
    Case("-o at a missing folder/", lambda folder: Inputs([SAMPLE], output=str(folder / "missing") + "/"),
         check=(2, "missing/: names a folder; give a file name")),
    Case("UTF-8 byte-order mark", stored("utf8_bom.dot"), check=(1, "STR005"), info=(0, "Nodes: 2"), loader="RMSNorm",
         absent=("SYN001", "\ufeff")),
]


# -- runners ---------------------------------------------------------------------------------------

@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def shown(self) -> str:
        return self.out + self.err


def _in_thread(function: Callable[[], int]) -> int:
    """Run `function` on a thread; a run still going after RUN_SECONDS has hung (fail, not block)."""
    result: list[int] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(function())
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(RUN_SECONDS)
    if thread.is_alive():
        raise AssertionError(f"hung for {RUN_SECONDS} s")
    if errors:
        raise errors[0]
    return result[0]


def run_cli(capsys, folder: Path, args: list[str]) -> Run:
    """`dagtui ARGS` in this process, in `folder` (where dagtui.yaml is read)."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        code = _in_thread(lambda: main(args))
    finally:
        os.chdir(previous)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def _limit_memory() -> None:
    limit = 2 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_isolated(folder: Path, args: list[str]) -> Run:
    """`python -m dagtui ARGS` in a child process with 2 GB of address space."""
    try:
        result = subprocess.run(
            [sys.executable, "-m", "dagtui", *args], cwd=folder, capture_output=True, text=True, check=False,
            timeout=RUN_SECONDS, preexec_fn=_limit_memory, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"hung for {RUN_SECONDS} s") from None
    return Run(result.returncode, result.stdout, result.stderr)


def _prepare(case: Case, tmp_path: Path, monkeypatch) -> Inputs:
    inputs = case.make(tmp_path)
    if inputs.config is not None:
        (tmp_path / "dagtui.yaml").write_bytes(inputs.config)
    for name, value in inputs.env.items():
        monkeypatch.setenv(name, value)
    return inputs


def _assert_safe(run: Run, case: Case, github: bool = False) -> None:
    assert "Traceback" not in run.shown, run.shown[-3000:]
    assert not RAW_CONTROL.search(run.shown), RAW_CONTROL.findall(run.shown)
    for line in run.out.splitlines():
        if not github:
            assert not line.lstrip().startswith("::"), line  # a workflow command only github output writes
    for fragment in case.absent:
        assert fragment not in run.shown, fragment


def _release_fifos(folder: Path) -> None:
    """Open every FIFO of a case for writing, so that a reader blocked on it (today's code) ends."""
    for path in folder.rglob("*"):
        if path.is_fifo():
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass


@pytest.fixture
def case_folder(tmp_path):
    yield tmp_path
    _release_fifos(tmp_path)


def _cases(runner: str) -> list:
    in_process = [case for case in CASES if runner != "loader" or not case.isolated]
    return [pytest.param(case, id=case.name) for case in in_process if getattr(case, runner) is not None]


@pytest.mark.parametrize("case", _cases("check"))
def test_check(case: Case, case_folder: Path, capsys, monkeypatch):
    """The text report (a person's, at a terminal) says what is wrong."""
    inputs = _prepare(case, case_folder, monkeypatch)
    args = ["check", *inputs.files, *inputs.options("check"), *(["--format", "text"] if not inputs.output else [])]
    run = run_isolated(case_folder, args) if case.isolated else run_cli(capsys, case_folder, args)
    code, fragment = case.check
    assert fragment in run.shown, run.shown[-3000:]
    assert run.code == code, run.shown[-3000:]
    _assert_safe(run, case)


CONCISE_LINE = re.compile(r"^[^\n]+:\d+:\d+: [A-Z]{3}\d{3} \[(error|warning|info)\] |^(Found \d+ finding|No findings)")


@pytest.mark.parametrize("case", [param for param in _cases("check") if not param.values[0].isolated])
def test_check_concise(case: Case, case_folder: Path, capsys, monkeypatch):
    """The concise report, the default in a pipe: the same exit code, and one finding a line
    whatever the file holds."""
    inputs = _prepare(case, case_folder, monkeypatch)
    run = run_cli(capsys, case_folder, ["check", *inputs.files, *inputs.options("check")])
    assert run.code == case.check[0], run.shown[-3000:]
    if not inputs.output:
        assert all(CONCISE_LINE.match(line) for line in run.out.splitlines()), run.out[-3000:]
    _assert_safe(run, case)


@pytest.mark.parametrize("case", _cases("info"))
def test_info(case: Case, case_folder: Path, capsys, monkeypatch):
    inputs = _prepare(case, case_folder, monkeypatch)
    args = ["info", *inputs.files, *inputs.options("info")]
    run = run_isolated(case_folder, args) if case.isolated else run_cli(capsys, case_folder, args)
    code, fragment = case.info
    assert fragment in run.shown, run.shown[-3000:]
    assert run.code == code, run.shown[-3000:]
    _assert_safe(run, case)


def screen_text(app) -> str:
    """Every character the explorer's screen shows, as the terminal would get it (styles aside)."""
    update = app.screen._compositor.render_update(full=True)
    return "\n".join("".join(segment.text for segment in strip) for strip in update.strips)


async def _walk_every_view(app, pilot) -> list[str]:
    """What the explorer shows of the files: each pane, each node selected in turn (tree row,
    detail panel, neighbour list), each finding's toast, and the `e` export."""
    shown = [screen_text(app)]
    for pane, outline in enumerate(app.outlines):
        if outline.deployment is None:
            continue
        for node_id in list(outline.deployment.nodes)[:20]:
            app.jump_to(pane, node_id)
            await pilot.pause()
            shown.append(screen_text(app))
    panel = app.query_one(IssuePanel)
    for row in panel.visible_rows[:20]:
        app.post_message(IssueChosen(row))
        await pilot.pause()
        shown.append(screen_text(app))
    shown.extend(str(notification.message) for notification in app._notifications)
    return shown


@pytest.mark.parametrize("case", _cases("loader"))
async def test_explorer_loader(case: Case, case_folder: Path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(case_folder / "config"))
    inputs = _prepare(case, case_folder, monkeypatch)
    app = DagtuiApp(inputs.files, model=inputs.model, strategy=inputs.strategy)
    async with app.run_test(size=(160, 50)) as pilot:
        try:
            await loaded(app, pilot)
        finally:
            _release_fifos(case_folder)
        shown = await _walk_every_view(app, pilot)
        export = case_folder / "export.md"
        app._export(str(export))
        await pilot.pause()
        if export.exists():
            shown.append(export.read_text(encoding="utf-8"))
    text = "\n".join(shown)
    assert case.loader in text, text[-3000:]
    assert not RAW_CONTROL.search(text), RAW_CONTROL.findall(text)
    for fragment in case.absent:
        assert fragment not in text, fragment



# The explorer on one case, in a child process: what its panes and toasts show once loaded.
EXPLORER_PROBE = """
import asyncio, json, sys
from dagtui.tui.app import DagtuiApp

async def probe(files, model):
    app = DagtuiApp(files, model=model)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(1500):
            if app.loaded:
                break
            await asyncio.sleep(0.02)
        await pilot.pause()
        panes = [str(pane.render()) for pane in app.query(".pane-error, .pane-header")]
        toasts = [str(notification.message) for notification in app._notifications]
        rows = [row.finding.title for row in app.rows]
        print(json.dumps({"loaded": app.loaded, "shown": "\\n".join(panes + toasts + rows)}))

files = json.loads(sys.argv[1])
asyncio.run(probe(files["files"], files["model"]))
"""


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in CASES if case.isolated and case.loader])
def test_explorer_loader_in_a_child_process(case: Case, case_folder: Path, monkeypatch):
    import json

    monkeypatch.setenv("XDG_CONFIG_HOME", str(case_folder / "config"))
    inputs = _prepare(case, case_folder, monkeypatch)
    try:
        result = subprocess.run(
            [sys.executable, "-c", EXPLORER_PROBE, json.dumps({"files": inputs.files, "model": inputs.model})],
            cwd=case_folder, capture_output=True, text=True, check=False, timeout=RUN_SECONDS, preexec_fn=_limit_memory,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"hung for {RUN_SECONDS} s") from None
    assert result.returncode == 0, result.stderr[-3000:]
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert shown["loaded"] and case.loader in shown["shown"], shown

# -- what reports made of hostile files render to ----------------------------------------------

INJECTION_FILES = ["control_characters.dot", "newline_in_id.dot", "markdown_injection.dot"]


def _tokens(tokens):
    for token in tokens:
        yield token
        yield from _tokens(token.children or [])


def test_markdown_report_renders_no_html_element_or_link_from_a_file():
    from markdown_it import MarkdownIt

    from dagtui.compare import compare
    from dagtui.report import render
    from dagtui.review import review_file

    reviews = [review_file(HOSTILE / name) for name in INJECTION_FILES]
    reports = [render("markdown", reviews), render("markdown", reviews[1:], compare(*reviews[1:]))]
    for renderer in (MarkdownIt("commonmark").enable("table"), MarkdownIt("gfm-like", {"linkify": True})):
        for report in reports:
            tokens = list(_tokens(renderer.parse(report)))
            kinds = {token.type for token in tokens}
            assert not kinds & {"html_inline", "html_block", "link_open", "image"}, report
            assert not re.search(r"<(img|script|b)\b", renderer.render(report)), report
            code = " ".join(token.content for token in tokens if token.type == "code_inline")
            assert "x` ‹img src=x onerror=alert(1)› [click](http://evil.example) `y" in code  # the id, whole and inert
    assert "``<b>bold</b>|pipe``" not in reports[0]


@pytest.mark.parametrize("fmt", ["text", "markdown", "github", "sarif", "json"])
def test_no_report_line_starts_with_file_content(fmt, capsys):
    files = [str(HOSTILE / name) for name in INJECTION_FILES]
    assert main(["check", *files, "--format", fmt]) == 1
    out = capsys.readouterr().out
    assert not RAW_CONTROL.search(out)
    for line in out.splitlines():
        if fmt == "github":
            assert re.match(r"::(error|warning|notice) file=[^:]*::", line), line  # one annotation per line
        else:
            assert not line.lstrip().startswith("::"), line


# -- files dagtui writes ---------------------------------------------------------------------------

def test_output_never_replaces_what_is_not_a_regular_file(tmp_path, capsys):
    pipe, node = fifo(tmp_path, "pipe.md"), device(tmp_path, "full")
    for target in (pipe, node, str(tmp_path / "missing") + "/"):
        assert main(["check", SAMPLE, "-o", target]) == 2
    assert Path(pipe).is_fifo() and Path(node).is_char_device()
    assert not (tmp_path / "missing").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["full", "pipe.md"]  # no temporary file either


KILLED_WRITE = """
import os, sys
from dagtui.report import atomic
os.fsync = lambda descriptor: os.kill(os.getpid(), 9)  # killed after writing, before the rename
atomic.write_atomic(sys.argv[1], "partial " * 1000)
"""


def test_a_write_killed_half_way_is_cleaned_up_by_the_next_write_of_the_same_target(tmp_path):
    from dagtui.report import write_atomic

    target = tmp_path / "report.json"
    for _ in range(2):
        killed = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(target)], capture_output=True, check=False,
                                env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=RUN_SECONDS)
        assert killed.returncode == -9
    # Never a partial file under the target's name; the second write removed what the first left.
    assert not target.exists() and len(list(tmp_path.iterdir())) == 1
    other = tmp_path / "other.json"
    (tmp_path / f".{other.name}.dagtui-{os.getpid()}-live.tmp").write_text("a live write of another target")
    write_atomic(target, "{}")
    assert sorted(path.name for path in tmp_path.iterdir()) == [f".{other.name}.dagtui-{os.getpid()}-live.tmp", "report.json"]


@pytest.mark.parametrize("args", [["check", SAMPLE], ["check", SAMPLE, "--format", "github"], ["info", SAMPLE], ["rules"]])
def test_a_full_standard_output_is_one_message_and_exit_2(args):
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "dagtui", *args], stdout=full, stderr=subprocess.PIPE, text=True,
                                check=False, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=RUN_SECONDS)
    assert result.returncode == 2, result.stderr
    assert result.stderr == "dagtui: cannot write to standard output: No space left on device\n"


@pytest.mark.parametrize("backend", ["plain", "cgraph", "pydot"])
def test_deep_nesting_is_read_or_refused_clearly_by_every_backend(tmp_path, backend, monkeypatch):
    from dagtui.dot import read_dot
    from dagtui.dot.structure import MAX_NESTING
    from dagtui.errors import InputError
    from dagtui.review import review_file

    def nested(depth: int) -> Path:
        path = tmp_path / f"nested{depth}.dot"
        body = "subgraph cluster_x { " * depth + 'deep [label="MLP L0\\nGPU: 0"]' + " }" * depth
        path.write_text(f"digraph G {{\n  input -> deep\n  {body}\n}}\n")
        return path

    with pytest.raises(InputError, match=f"nested more than {MAX_NESTING} deep"):
        read_dot(nested(1200), backend)
    monkeypatch.setenv("DAGTUI_DOT_BACKEND", backend)
    review = review_file(nested(MAX_NESTING))  # the deepest dagtui reads: every layer copes
    if backend == "pydot" and review.error:
        assert "nested too deeply for the pydot parser" in review.error  # pyparsing recurses per level
    else:
        assert review.deployment is not None and "deep" in review.deployment.nodes



class _CountingPattern:
    """Wraps a compiled pattern and adds up the characters each search may examine (from where it
    starts to where it may end): a deterministic count of a scan's work, instead of a timing."""

    def __init__(self, pattern: re.Pattern[str], tally: list[int]) -> None:
        self.pattern, self.tally = pattern, tally

    def _count(self, string: str, pos: int = 0, endpos: int | None = None) -> None:
        self.tally[0] += (len(string) if endpos is None else min(endpos, len(string))) - pos

    def finditer(self, string: str, pos: int = 0, endpos: int | None = None):
        self._count(string, pos, endpos)
        return self.pattern.finditer(string, pos, len(string) if endpos is None else endpos)

    def search(self, string: str, pos: int = 0, endpos: int | None = None):
        self._count(string, pos, endpos)
        return self.pattern.search(string, pos, len(string) if endpos is None else endpos)

    def match(self, string: str, pos: int = 0, endpos: int | None = None):
        self._count(string, pos, endpos)
        return self.pattern.match(string, pos, len(string) if endpos is None else endpos)

    def __getattr__(self, name: str):
        return getattr(self.pattern, name)


def test_the_declaration_line_scan_is_linear_in_the_edges_of_a_hub(monkeypatch):
    from dagtui.dot import source_lines

    tally = [0]
    for name in ("_NODE_STATEMENT", "_LINE_START_ID", "_MENTION", "_ATTRIBUTE"):
        monkeypatch.setattr(source_lines, name, _CountingPattern(getattr(source_lines, name), tally))

    def scanned(edges: int) -> int:
        tally[0] = 0
        text = hub_text(edges)
        source_lines.declaration_lines(text, {"hub", *(f"n{i}" for i in range(edges))})
        return tally[0]

    small, large = scanned(10_000), scanned(40_000)
    assert small > 0
    assert large / small < 5, (small, large)  # 4x the edges: 4x the characters examined; a search per node gives 16x


def _hub_of_copies(copies: int) -> str:
    """`copies` row-parallel projections, each on its own GPU, between two collectives: every copy
    shares its consumer with all the others."""
    lines = ['digraph G {', '  a [label="All-Reduce" shape=ellipse]', '  b [label="All-Reduce" shape=ellipse]']
    lines += [f'  m{i} [label="Layer 0 MLP Down Projection\\nInput: [8, 128, 512]\\nOutput: [8, 128, 4096]\\nGPU: {i}"]'
              f"\n  a -> m{i}\n  m{i} -> b" for i in range(copies)]
    return "\n".join([*lines, "}"])


def test_the_row_parallel_copies_search_reads_each_consumer_once(tmp_path, monkeypatch):
    import networkx as nx

    from dagtui.review import review_file

    tally = [0]
    real = nx.DiGraph.predecessors

    def counted(graph, node):
        for neighbour in real(graph, node):
            tally[0] += 1
            yield neighbour

    monkeypatch.setattr(nx.DiGraph, "predecessors", counted)

    def walked(copies: int) -> int:
        path = tmp_path / f"hub{copies}.dot"
        path.write_text(_hub_of_copies(copies))
        tally[0] = 0
        review_file(path)
        return tally[0]

    small, large = walked(500), walked(2000)
    assert small > 0
    assert large / small < 5, (small, large)  # 4x the copies: 4x the predecessors walked; a walk per copy gives 16x


def test_a_node_declared_twice_is_cited_at_the_line_its_label_comes_from(capsys):
    import json

    assert main(["check", str(HOSTILE / "conflicting_declarations.dot"), "--format", "json"]) == 1
    issues = json.loads(capsys.readouterr().out)["deployments"][0]["issues"]
    on_expert = [issue for issue in issues if "expert" in issue["nodes"]]
    assert on_expert and all(issue["line"] == 6 for issue in on_expert)  # "Expert 1" is read, from line 6
    assert all("`expert` is declared at lines 3 and 6; its label is read from line 6." in issue["details"]
               for issue in on_expert)



# -- Ctrl-C and quitting ---------------------------------------------------------------------------

INTERRUPTED_WHILE_IMPORTING = """
import builtins, os, signal, sys
from importlib.metadata import entry_points

real_import = builtins.__import__

def interrupting_import(name, *args, **kwargs):
    if name == "rich.console":  # the command line's first heavy import: Ctrl-C comes now
        builtins.__import__ = real_import
        os.kill(os.getpid(), signal.SIGINT)
    return real_import(name, *args, **kwargs)

builtins.__import__ = interrupting_import
sys.argv = ["dagtui", "rules"]
command = next(point for point in entry_points(group="console_scripts") if point.name == "dagtui")
sys.exit(command.load()())
"""


def test_ctrl_c_while_the_command_imports_exits_130_quietly():
    result = subprocess.run([sys.executable, "-c", INTERRUPTED_WHILE_IMPORTING], capture_output=True, text=True,
                            check=False, timeout=RUN_SECONDS)
    assert (result.returncode, result.stderr) == (130, ""), result.stderr[-2000:]


QUIT_DURING_A_LONG_PHASE = """
import asyncio, sys, time
from dagtui import loader
from dagtui.tui.app import DagtuiApp

read = []

def slow_read(*args, **kwargs):  # a step with nowhere to stop, longer than any checkpoint's gap
    read.append(args[0])
    end = time.monotonic() + 30
    while time.monotonic() < end:
        pass

loader.read_raw = slow_read

async def main():
    app = DagtuiApp([sys.argv[1]])
    async with app.run_test() as pilot:
        await asyncio.sleep(0.5)
        assert read == [sys.argv[1]]  # the loader is in the slow step
        print(time.monotonic(), flush=True)
        await pilot.press("q")

asyncio.run(main())
"""


def test_q_during_a_long_load_phase_exits_at_once(tmp_path):
    import time

    process = subprocess.Popen([sys.executable, "-c", QUIT_DURING_A_LONG_PHASE, SAMPLE], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path)})
    try:
        pressed = float(process.stdout.readline())
        process.wait(timeout=RUN_SECONDS)
    finally:
        process.kill()
    assert time.monotonic() - pressed < 5  # today: the 30 s phase ends first
