"""Explorer benchmark, driven with App.run_test(): startup to first full paint (samples, and two
generated 19k-node DAGs), jump from a finding to its node, peak memory.

Each start runs in a fresh interpreter, as a user's does, and every time is counted from the
start of that interpreter, imports included, in the order `dagtui A B` takes: the helper
process is forked before Textual is imported. The two large DAGs load with the helper process
(the default) and without it, interleaved, three times each.

Run: python benchmarks/bench_tui.py   (prints its figures; nothing here is asserted)
"""

from __future__ import annotations

import time

PROCESS_START = time.perf_counter()  # before any import below: startup times include them

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic_dot

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


async def startup(files: list[str]) -> dict[str, float]:
    """Seconds from the interpreter's start: to the app's creation (imports, and the helper's
    fork), the screen's first frame, both trees shown (before their findings) and the first
    full paint (trees, markers, issues); and the median jump from a finding to its node."""
    from dagtui.helper_process import (
        HelperProcess,  # as `dagtui` does: the helper first, then Textual
    )

    helper = HelperProcess.start(files)
    from dagtui.tui.app import DagtuiApp

    sys.setswitchinterval(0.05)  # as `dagtui` sets it for the explorer (cli.run_open)

    app = DagtuiApp(files, helper=helper)
    times = {"created": time.perf_counter() - PROCESS_START, "trees": 0.0}
    async with app.run_test(size=(120, 40)) as pilot:
        times["frame"] = time.perf_counter() - PROCESS_START
        panes = list(app.query("DeploymentPane"))
        while not app.loaded:
            if not times["trees"] and all(pane.outline is not None for pane in panes):
                times["trees"] = time.perf_counter() - PROCESS_START
            await asyncio.sleep(0.05)  # coarse: a busy poll would compete with the loading thread
        await pilot.pause()
        times["painted"] = time.perf_counter() - PROCESS_START
        times["trees"] = times["trees"] or times["painted"]
        jumps = []
        rows = [row for row in app.rows if row.targets()] or []
        targets = [row.targets()[0] for row in rows][:10] or [(0, next(iter(app.outlines[0].deployment.nodes)))]
        for pane, node_id in targets * 3:
            tree = app.query_one(f"#pane-{pane}").deployment_tree
            begin = time.perf_counter()
            app.jump_to(pane, node_id)
            # Until the tree's cursor is on the node (the detail panel is updated synchronously).
            while tree.current_node_id != node_id:
                await asyncio.sleep(0.001)
            jumps.append(time.perf_counter() - begin)
        jumps.sort()
    times["jump"] = jumps[len(jumps) // 2]
    return times


def run_case(files: list[str]) -> dict[str, float]:
    """One startup in this process: its figures and peak memory (this process and its helper)."""
    figures = asyncio.run(startup(files))
    figures["memory"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["helper_memory"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return figures


def user_environment() -> dict[str, str]:
    """This environment, with bytecode caching allowed as for a user after the first start: some
    sandboxes forbid it, and every start then compiles dagtui from source (~0.2 s more)."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def fresh_process(files: list[str], helper: bool) -> dict[str, float]:
    """`run_case` in a new interpreter, as a user's start is, with or without the helper process."""
    env = {**user_environment(), "DAGTUI_HELPER_PROCESS": "1" if helper else "0"}
    output = subprocess.run([sys.executable, __file__, "--case", *files], env=env, check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.splitlines()[-1])


def describe(label: str, figures: dict[str, float]) -> str:
    helper = f" + helper {figures['helper_memory']:.0f} MB" if figures["helper_memory"] > 1 else ""
    return (f"{label + ':':<24}imports {figures['created']:.2f} s, first frame {figures['frame']:.2f} s, "
            f"both trees {figures['trees']:.2f} s, full paint {figures['painted']:.2f} s "
            f"({figures['painted'] - figures['created']:.2f} s after imports), "
            f"median jump {figures['jump'] * 1000:.0f} ms, memory {figures['memory']:.0f} MB{helper}")


def main(repeat: int = 3) -> None:
    samples = [str(SAMPLES / "current.dot"), str(SAMPLES / "new.dot")]
    warm_up = "import dagtui.cli, dagtui.helper_process, dagtui.tui.app"  # writes the bytecode cache
    subprocess.run([sys.executable, "-c", warm_up], env=user_environment(), check=True)
    print(describe("samples", fresh_process(samples, helper=True)))
    with tempfile.TemporaryDirectory() as folder:
        big = []
        for name, ep in (("a.dot", 32), ("b.dot", 64)):
            path = Path(folder) / name
            path.write_text(synthetic_dot(61, 256, 8, ep))
            big.append(str(path))
        # With the helper process (the default) and without, interleaved: this machine's speed
        # drifts, so only figures from the same stretch of time are compared.
        runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
        for attempt in range(repeat):
            for helper in (True, False):
                runs[helper].append(fresh_process(big, helper))
                print(describe(f"2 x 19k, {'helper' if helper else 'no helper'} #{attempt + 1}", runs[helper][-1]))
    median = {helper: statistics.median(run["painted"] for run in figures) for helper, figures in runs.items()}
    print(f"2 x 19k nodes, median full paint: {median[True]:.2f} s with the helper process, "
          f"{median[False]:.2f} s without ({median[True] / median[False]:.2f}x)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--case"]:
        print(json.dumps(run_case(sys.argv[2:])))
    else:
        main()
