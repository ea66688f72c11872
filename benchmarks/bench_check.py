"""`dagtui check` as a user runs it (a fresh process, whole command), against Graphviz's own parser
in the same sitting (a fresh Python importing pygraphviz, parsing the file, counting its nodes).

Runs are paired (check, reference, check, reference, ...) because this machine is shared and
noisy; each pair gives a ratio, and the figures quoted are the median ratio with its min-max, and
the median times. Files: the synthetic 4 MB and 8 MB corpus-style DAGs (61 and 122 layers), the two
~3 MB real files of ../shared/corpus, and the samples (absolute time: the small-file target).
Also printed: what each command imports (python -X importtime, summed by top package).

Run: python benchmarks/bench_check.py [--runs 5]   (prints its figures; nothing here is asserted)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import runs_argument, spread
from synthetic import synthetic_dot

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
REAL = ["2025-12-05-15-18-00__llm_parallel_strategy.dot", "2025-12-01-14-11-15__llm_deployment_dag.dot"]
REFERENCE = "import sys, pygraphviz; g = pygraphviz.AGraph(sys.argv[1]); print(g.number_of_nodes())"


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def check_command(path: Path) -> list[str]:
    return [sys.executable, "-m", "dagtui", "check", str(path), "--format", "json"]


def paired(path: Path, runs: int) -> tuple[list[float], list[float]]:
    ours, reference = [], []
    for _ in range(runs):
        ours.append(timed(check_command(path)))
        reference.append(timed([sys.executable, "-c", REFERENCE, str(path)]))
    return ours, reference


def report(name: str, ours: list[float], reference: list[float]) -> None:
    ratios = [a / b for a, b in zip(ours, reference)]
    print(f"{name:44} check {spread(ours, ' s', width=5)}  graphviz {spread(reference, ' s', width=4)}  "
          f"ratio {spread(ratios, 'x', digits=1, width=4)}")


def import_cost() -> None:
    """Self time of every module each command imports, summed by top-level package (one run of
    `python -X importtime`, so a rough figure on a noisy machine), and whether Textual is among them."""
    sample = str(ROOT / "samples" / "current.dot")
    for name, arguments in (("check --format json", ["check", sample, "--format", "json"]), ("check (text)", ["check", sample]),
                            ("rules", ["rules"]), ("--version", ["--version"])):
        result = subprocess.run([sys.executable, "-X", "importtime", "-m", "dagtui", *arguments],
                                capture_output=True, text=True, check=False)
        per_package: Counter[str] = Counter()
        for line in result.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[0].strip().startswith("import time:") and parts[0].split(":")[1].strip().isdigit():
                per_package[parts[2].strip().split(".")[0]] += int(parts[0].split(":")[1])
        total = sum(per_package.values()) / 1e6
        top = ", ".join(f"{package} {micros / 1e6:.3f} s" for package, micros in per_package.most_common(5))
        textual = "imports Textual" if "textual" in per_package else "no Textual"
        print(f"imports of `dagtui {name}`: {total:.2f} s, {textual} ({top})")


def main() -> None:
    runs = runs_argument()
    with tempfile.TemporaryDirectory() as folder:
        four = Path(folder, "synthetic_4mb.dot")
        four.write_text(synthetic_dot(layers=61))
        eight = Path(folder, "synthetic_8mb.dot")
        eight.write_text(synthetic_dot(layers=122))
        files = [(f"synthetic {four.stat().st_size / 1e6:.1f} MB", four), (f"synthetic {eight.stat().st_size / 1e6:.1f} MB", eight)]
        files += [(f"{name[21:]} ({(CORPUS / name).stat().st_size / 1e6:.1f} MB)", CORPUS / name) for name in REAL
                  if (CORPUS / name).is_file()]
        medians, times = {}, {}
        for name, path in files:
            ours, reference = paired(path, runs)
            medians[path], times[path] = statistics.median(ours), ours
            report(name, ours, reference)
        eight_by_four = [late / early for early, late in zip(times[four], times[eight])]
        print(f"time(8 MB) / time(4 MB): {medians[eight] / medians[four]:.2f} (medians; per round: "
              f"{', '.join(f'{ratio:.2f}' for ratio in eight_by_four)})")
    samples = [timed(check_command(ROOT / "samples" / "current.dot")) for _ in range(runs)]
    print(f"samples/current.dot: check {spread(samples, ' s')}")
    import_cost()


if __name__ == "__main__":
    main()
