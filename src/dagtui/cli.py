"""The `dagtui` command: open the explorer (default; the check report when standard output is no
terminal), or `check`, `compare`, `info`, `rules`, `generate` headless."""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import sys
from collections.abc import Iterator

from dagtui import __version__
from dagtui.errors import DagtuiError
from dagtui.report_formats import FORMATS
from dagtui.safe_text import visible

SUBCOMMANDS = ("check", "compare", "info", "rules", "generate", "open")
HEADLESS = ("check", "compare", "info", "rules", "generate")  # the commands that start no interface
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on usage errors already; keep its messages but our exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"dagtui: error: {visible(message)}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="M.yaml", help="model spec (layers, hidden size, heads, experts)")
    parser.add_argument("--strategy", metavar="S", help="parallel strategy, e.g. EP64-TP8-PP2-DP2 (overrides the file)")


def _hardware_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hardware", metavar="GPU", help="GPU profile for memory and time: h100, h200, a100, b200 or a YAML file")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dagtui", description="Review LLM deployment DAGs (Graphviz DOT).")
    parser.add_argument("--version", action="version", version=f"dagtui {__version__}")
    sub = parser.add_subparsers(dest="command")

    check = sub.add_parser("check", help="validate DOT files headless (CI, scripts)")
    check.add_argument("files", nargs="+", metavar="FILE")
    _common(check)
    check.add_argument("--format", choices=FORMATS, default=None,
                       help="default: text on a terminal, concise otherwise; with --output, from the file's ending "
                            "(.json, .md, .sarif), else text")
    check.add_argument("--output", "-o", metavar="PATH", help="write the report to PATH (atomically)")
    check.add_argument("--force", action="store_true", help="replace PATH if it exists (never a file the run reads)")
    check.add_argument("--select", metavar="CODES", help="only these rules or categories (comma-separated)")
    check.add_argument("--ignore", metavar="CODES", help="skip these rules or categories (comma-separated)")
    check.add_argument("--fail-on", choices=("error", "warning", "never"), default=None)
    _hardware_option(check)

    compare = sub.add_parser("compare", help="what changed between two deployments, and what each costs per GPU")
    compare.add_argument("current", metavar="CURRENT")
    compare.add_argument("new", metavar="NEW")
    _common(compare)
    _hardware_option(compare)
    compare.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    compare.add_argument("--output", "-o", metavar="PATH", help="write the report to PATH (atomically)")
    compare.add_argument("--force", action="store_true", help="replace PATH if it exists (never an input)")

    info = sub.add_parser("info", help="summarise what dagtui reads in each file")
    info.add_argument("files", nargs="+", metavar="FILE")
    _common(info)

    rules = sub.add_parser("rules", help="list the rules, or explain one")
    rules.add_argument("code", nargs="?")

    generate = sub.add_parser("generate", help="write a correct reference DAG for a model and a strategy")
    generate.add_argument("--model", required=True, metavar="M.yaml", help="model spec")
    generate.add_argument("--strategy", required=True, metavar="S", help="e.g. EP32-TP16-PP4-DP4")
    generate.add_argument("--output", "-o", metavar="PATH", help="write here (atomically) instead of stdout")
    generate.add_argument("--force", action="store_true", help="replace PATH if it exists (never the --model file)")
    generate.add_argument("--name", default="Generated Deployment", help="deployment name, in the graph label")
    generate.add_argument("--dp-replicas", choices=("one", "shown"), default="one",
                          help="draw one DP replica and state the others (default), or draw them all")
    generate.add_argument("--layers", type=int, metavar="N", help="only the first N layers, for a quick look")
    generate.add_argument("--house", default="reference", metavar="STYLE",
                          help="house style: reference, caps_clusters, opaque_html, hashed_agent, snake_terse, caps_agent")
    generate.add_argument("--ids", choices=("snake", "caps", "opaque", "hashed"), default="snake",
                          help="node id style: layer3_q_proj_tp2, L3_TP2_QPROJ, n123 or node_<hash>")

    tui = sub.add_parser("open", help="open the explorer (the default command)")
    tui.add_argument("files", nargs="+", metavar="FILE")
    _common(tui)
    _hardware_option(tui)
    tui.add_argument("--select", metavar="CODES", help="only these rules or categories (comma-separated)")
    tui.add_argument("--ignore", metavar="CODES", help="skip these rules or categories (comma-separated)")
    tui.add_argument("--theme", help="theme name (see themes/)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in SUBCOMMANDS and not argv[0].startswith("-"):
        argv.insert(0, "open")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.command == "check":
            return run_check(args)
        if args.command == "compare":
            return run_compare(args)
        if args.command == "info":
            return run_info(args)
        if args.command == "rules":
            with _stdout_errors():
                return run_rules(args)
        if args.command == "generate":
            return run_generate(args)
        if not sys.stdout.isatty():  # `dagtui A B | less`, or in a script: the report, not a full-screen app
            return run_check(_as_check(parser, args))
        return run_open(args)
    except DagtuiError as error:
        _complain(str(error))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


@contextlib.contextmanager
def _stdout_errors() -> Iterator[None]:
    """A report that cannot be written to standard output (a full disk, a closed pipe) is one
    message and exit 2, not a traceback, and not exit 1, which means findings."""
    try:
        yield
        sys.stdout.flush()
    except OSError as error:
        _discard_stdout()
        raise DagtuiError(f"cannot write to standard output: {error.strerror or error}") from None


def _discard_stdout() -> None:
    """Point standard output at /dev/null: what the failed write left buffered would otherwise fail
    again when the interpreter flushes it at exit, with a message of its own."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # no file descriptor (a test's captured stream): nothing will be flushed at exit


def _complain(message: str) -> None:
    """One line on stderr; messages quote file names and file text, made visible."""
    print(f"dagtui: {visible(message)}", file=sys.stderr)


def _as_check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """The arguments of `dagtui check` for the files and options the explorer was given."""
    options = [f"--{name}={value}" for name in ("model", "strategy", "hardware", "select", "ignore")
               if (value := getattr(args, name, None))]
    return parser.parse_args(["check", *options, "--", *args.files])


def _report_format(args: argparse.Namespace) -> str:
    """--format if given; else what --output's name asks for; else text for a person at a
    terminal and concise (one line a finding, never wrapped) for a pipe, a file or CI."""
    from dagtui.report_formats import format_for_path

    if args.format:
        return args.format
    if args.output:
        return format_for_path(args.output)
    return "text" if sys.stdout.isatty() else "concise"


def _expand(patterns: list[str]) -> list[str]:
    """Expand globs the shell left quoted (`'outputs/**/*.dot'`); keep plain names as given."""
    files: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) if any(c in pattern for c in "*?[") else []
        files.extend(matches or [pattern])
    return files


def _split(codes: str | None) -> list[str]:
    return [code.strip() for code in (codes or "").split(",") if code.strip()]


def _settings(args: argparse.Namespace):
    """dagtui.yaml with the command line's options over it (see `dagtui.settings`)."""
    from dagtui.settings import load_settings

    return load_settings(model=args.model, strategy=args.strategy, hardware=getattr(args, "hardware", None),
                         select=_split(getattr(args, "select", None)), ignore=_split(getattr(args, "ignore", None)),
                         fail_on=getattr(args, "fail_on", None))


def run_check(args: argparse.Namespace) -> int:
    from dagtui.compare import compare
    from dagtui.loader import reviews_of
    from dagtui.report import print_text_to_console, render, write_atomic

    settings = _settings(args)
    files = _expand(args.files)
    reviews = reviews_of(files, settings)
    comparison = compare(reviews[0], reviews[1], settings.spec, settings.hardware) if len(reviews) == 2 else None
    for review in reviews:
        if review.error:
            _complain(review.error)
    fmt = _report_format(args)
    if args.output:
        read = [*files, settings.model_path, settings.hardware_source, settings.config_file]  # never written over, even with --force
        target = write_atomic(args.output, render(fmt, reviews, comparison), inputs=read, force=args.force)
        _complain(f"wrote {fmt} report to {target}")
    elif fmt == "text":
        with _stdout_errors():
            print_text_to_console(reviews, comparison)
    else:
        with _stdout_errors():
            sys.stdout.write(render(fmt, reviews, comparison))
    if any(review.error for review in reviews):
        return EXIT_USAGE
    if settings.fail_on == "never":
        return EXIT_OK
    from dagtui.validate import Severity

    threshold = Severity(settings.fail_on)
    failed = any(f.severity.at_least(threshold) for review in reviews for f in review.findings)
    return EXIT_FINDINGS if failed else EXIT_OK


def run_compare(args: argparse.Namespace) -> int:
    """Two deployments side by side: exit 0, or 2 when a file cannot be read or written."""
    from rich.console import Console

    from dagtui.compare import compare
    from dagtui.loader import reviews_of
    from dagtui.report import write_atomic
    from dagtui.report.compare_report import print_compare, render_compare

    settings = _settings(args)
    files = [args.current, args.new]
    if args.output and not args.force and os.path.lexists(args.output):
        raise DagtuiError(f"{args.output} exists; pass --force to replace it")
    reviews = reviews_of(files, settings)
    comparison = compare(reviews[0], reviews[1], settings.spec, settings.hardware)
    model = settings.spec.name if settings.spec else None
    hardware = settings.hardware.name if settings.hardware else None
    for review in reviews:
        if review.error:
            _complain(review.error)
    if args.output:
        inputs = [*files, settings.model_path, settings.hardware_source, settings.config_file]  # never replaced
        text = render_compare(args.format, reviews, comparison, model, hardware)
        target = write_atomic(args.output, text, inputs=inputs, force=args.force)
        _complain(f"wrote {args.format} comparison to {target}")
    elif args.format == "text":
        with _stdout_errors():
            print_compare(reviews, comparison, model, Console())
    else:
        with _stdout_errors():
            sys.stdout.write(render_compare(args.format, reviews, comparison, model, hardware))
    return EXIT_USAGE if any(review.error for review in reviews) else EXIT_OK


def run_info(args: argparse.Namespace) -> int:
    from rich.console import Console

    from dagtui.loader import reviews_of
    from dagtui.report.summary import summary

    console = Console()
    status = EXIT_OK
    for review in reviews_of(_expand(args.files), _settings(args), validate=False):
        if review.deployment is None:
            _complain(review.error or review.syntax_error or f"{review.file}: not read")
            status = EXIT_USAGE
            continue
        with _stdout_errors():
            console.print(summary(review.deployment), soft_wrap=True)
            console.print()
    return status


def run_rules(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from dagtui.validate import RULES

    console = Console()
    if args.code:
        rule = RULES.get(args.code.upper())
        if rule is None:
            raise DagtuiError(f"no rule {args.code!r} (see `dagtui rules`)")
        console.print(Text.assemble((rule.code, "bold"), f" {rule.title}  ", (f"{rule.category}, {rule.severity.value}", "dim")))
        for name, text in rule.sections().items():
            heading = {"what": "What it checks", "why": "Why it matters", "example": "Example", "fix": "How to fix"}[name]
            console.print(Text(f"\n{heading}", style="bold"))
            console.print(Text(text))
        return EXIT_OK
    table = Table(title="dagtui rules")
    for column in ("code", "category", "severity", "title"):
        table.add_column(column)
    for rule in sorted(RULES.values(), key=lambda rule: rule.code):
        table.add_row(rule.code, rule.category, rule.severity.value, rule.title)
    console.print(table)
    return EXIT_OK


def run_generate(args: argparse.Namespace) -> int:
    from dagtui.generate import generate, to_dot
    from dagtui.model.spec import load_model_spec
    from dagtui.model.strategy import parse_strategy
    from dagtui.report import write_atomic

    spec, strategy = load_model_spec(args.model), parse_strategy(args.strategy)
    graph = generate(spec, strategy, name=args.name, style=args.ids, dp_replicas=args.dp_replicas, layers=args.layers,
                     house=args.house)
    text = to_dot(graph)
    if args.output:
        target = write_atomic(args.output, text, inputs=[args.model], force=args.force)
        _complain(f"wrote {len(graph.nodes)} nodes, {len(graph.edges)} edges to {target}")
    else:
        with _stdout_errors():
            sys.stdout.write(text)
    return EXIT_OK


def run_open(args: argparse.Namespace) -> int:
    from dagtui.dot import check_source

    if len(args.files) > 2:
        raise DagtuiError("the explorer opens one or two files; use `dagtui check` for more")
    # What would fail at once is said here, before the screen is taken over: a missing file, a
    # folder, a FIFO; a bad dagtui.yaml, --model, --strategy, --hardware or rule code. (A file that opens but does not parse is shown
    # in its pane, beside the other deployment.)
    for file in args.files:
        check_source(file)
    settings = _settings(args)
    from dagtui.helper_process import HelperProcess

    # Forked before Textual is imported (forking is safe only while no other thread runs): the
    # helper starts reading while this process imports the interface (~0.35 s). It steps aside
    # for small files and when DAGTUI_HELPER_PROCESS=0 (see README).
    helper = HelperProcess.start(args.files, settings)
    from dagtui.tui.app import DagtuiApp

    # The explorer's loading thread is CPU-bound Python and shares the GIL with the screen: longer
    # slices cut the handovers between the two (two 19k-node files load ~10% faster,
    # benchmarks/bench_tui.py) and keys still get the GIL within 50 ms. Process-wide, so set here.
    sys.setswitchinterval(0.05)
    app = DagtuiApp(args.files, theme_name=args.theme, helper=helper, settings=settings)
    app.run()
    return app.return_code or EXIT_OK
