"""The loader on two 19k-node DAGs (the explorer's large case), whole process from interpreter start:

1. in one process (`load_reviews`), against the same with its forked helper process (it reads
   both files and validates what the main process has not started, while the main process
   imports the interface and models them: `load_reviews(..., helper=...)`, helper_process.py),
   paired runs A B A B, both importing the explorer's interface (Textual) as `dagtui A B` does;
   the helper stays only if it saves 25% or more (issue 14). It needs the second core: run this
   where nothing else is busy, or the helper's work competes with the main process's;
2. how soon a load stops once cancelled (the explorer's `q` during a load): a thread loads both
   files, the caller cancels at a random moment and waits for the generator to end.

Run: python benchmarks/bench_loader.py [--runs 5]   (prints its figures; nothing here is asserted)
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import runs_argument, spread
from synthetic import synthetic_dot

_ONE_PROCESS = """
import time
START = time.perf_counter()
import sys
from dagtui.entry import collect_garbage_rarely
collect_garbage_rarely()
import dagtui.tui.app  # what the explorer imports before it loads
from dagtui.loader import reviews_of
from dagtui.settings import Settings
reviews = reviews_of(sys.argv[1:], Settings())
print(time.perf_counter() - START, sum(len(review.findings) for review in reviews))
"""
# The loader's helper option: the helper is forked first (before the interface is imported, as
# `dagtui A B` forks it), reads the files while this process imports the interface, and validates
# what this process has not come to.
_WITH_HELPER = """
import time
START = time.perf_counter()
import sys
from dagtui.entry import collect_garbage_rarely
collect_garbage_rarely()
from dagtui.helper_process import HelperProcess
from dagtui.settings import Settings
files, settings = sys.argv[1:], Settings()
helper = HelperProcess.start(files, settings=settings)
import dagtui.tui.app  # the explorer imports its interface while the helper reads
from dagtui.loader import Finished, load_reviews
*_, finished = load_reviews(files, settings, helper=helper)
helper.close()
print(time.perf_counter() - START, sum(len(review.findings) for review in finished.reviews))
"""
_CANCEL = """
import json, random, sys, threading, time
from dagtui.entry import collect_garbage_rarely
collect_garbage_rarely()
from dagtui.loader import load_reviews
from dagtui.settings import Settings
files, runs = sys.argv[1:3], int(sys.argv[3])
whole = time.perf_counter()
for _ in load_reviews(files, Settings()):
    pass
whole = time.perf_counter() - whole
latencies = []
for _ in range(runs):
    stop = threading.Event()
    worker = threading.Thread(target=lambda: [None for _ in load_reviews(files, Settings(), cancelled=stop.is_set)])
    worker.start()
    time.sleep(random.uniform(0.05, whole * 0.95))
    asked = time.perf_counter()
    stop.set()
    worker.join()
    latencies.append(time.perf_counter() - asked)
print(json.dumps({"whole": whole, "latencies": latencies}))
"""


def run(code: str, *args: str) -> str:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True).stdout




def main() -> None:
    runs = runs_argument()
    with tempfile.TemporaryDirectory() as folder:
        files = [Path(folder, name) for name in ("a.dot", "b.dot")]
        for path in files:
            path.write_text(synthetic_dot(layers=61))
        names = [str(path) for path in files]
        alone, helped = [], []
        for _ in range(runs):
            alone.append(float(run(_ONE_PROCESS, *names).split()[0]))
            helped.append(float(run(_WITH_HELPER, *names).split()[0]))
        saved = [1 - h / a for a, h in zip(alone, helped)]
        print(f"two {files[0].stat().st_size / 1e6:.1f} MB DAGs, read + model + validate, from interpreter start:")
        print(f"  one process (load_reviews): {spread(alone, ' s')}")
        print(f"  with the helper process:    {spread(helped, ' s')}")
        print(f"  saved by the helper: median {statistics.median(saved):.0%} (min {min(saved):.0%}, max {max(saved):.0%});"
              f" it stays if 25% or more")
        cancel = json.loads(run(_CANCEL, *names, str(max(runs, 5) * 2)))
        latencies = cancel["latencies"]
        print(f"cancel during a load of both ({cancel['whole']:.2f} s in all): the load ends "
              f"{statistics.median(latencies) * 1000:.0f} ms after it is asked (max {max(latencies) * 1000:.0f} ms, "
              f"{len(latencies)} random moments)")


if __name__ == "__main__":
    random.seed(14)
    main()
