"""Explorer benchmark, driven with App.run_test(): startup to first full paint (samples, and two
generated 19k-node DAGs), jump from a finding to its node, peak memory.

Run: python benchmarks/bench_tui.py   (prints its figures; nothing here is asserted)
"""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic_dot

from dagtui.tui.app import DagtuiApp

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


async def startup(files: list[str]) -> tuple[float, float, float, float]:
    """Seconds to the first full paint (trees, markers, issues); median jump latency; seconds to
    the screen's first frame; seconds until both trees are shown (before their findings)."""
    started = time.perf_counter()
    app = DagtuiApp(files)
    first_frame = trees = 0.0
    async with app.run_test(size=(120, 40)) as pilot:
        first_frame = time.perf_counter() - started
        panes = list(app.query("DeploymentPane"))
        while not app.loaded:
            if not trees and all(pane.outline is not None for pane in panes):
                trees = time.perf_counter() - started
            await asyncio.sleep(0.05)  # coarse: a busy poll would compete with the loading thread
        await pilot.pause()
        painted = time.perf_counter() - started
        jumps = []
        rows = [row for row in app.rows if row.targets()] or []
        targets = [row.targets()[0] for row in rows][:10] or [(0, next(iter(app.outlines[0].deployment.nodes)))]
        for pane, node_id in targets * 3:
            tree = app.query_one(f"#pane-{pane}").tree
            begin = time.perf_counter()
            app.jump_to(pane, node_id)
            # Until the tree's cursor is on the node (the detail panel is updated synchronously).
            while tree.current_node_id != node_id:
                await asyncio.sleep(0.001)
            jumps.append(time.perf_counter() - begin)
        jumps.sort()
    return painted, jumps[len(jumps) // 2], first_frame, trees or painted


def main() -> None:
    samples = [str(SAMPLES / "current.dot"), str(SAMPLES / "new.dot")]
    painted, jump, frame, trees = asyncio.run(startup(samples))
    print(f"samples:        first frame {frame:.2f} s, both trees {trees:.2f} s, full paint {painted:.2f} s, "
          f"median jump {jump * 1000:.0f} ms")
    with tempfile.TemporaryDirectory() as folder:
        big = []
        for name, ep in (("a.dot", 32), ("b.dot", 64)):
            path = Path(folder) / name
            path.write_text(synthetic_dot(61, 256, 8, ep))
            big.append(str(path))
        painted, jump, frame, trees = asyncio.run(startup(big))
        print(f"2 x 19k nodes:  first frame {frame:.2f} s, both trees {trees:.2f} s, full paint {painted:.2f} s, "
              f"median jump {jump * 1000:.0f} ms")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (whole run): {peak:.0f} MB")


if __name__ == "__main__":
    main()
