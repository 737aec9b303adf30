"""Where a `forecast` command's memory goes: run it in this process with a thread that
samples the resident memory every 10 ms and, at each change of more than 100 MB, writes
the seconds, the RSS and the innermost Python frames of the main thread.

    .venv/bin/python benchmarks/memory_trace.py train big.parquet --epochs 1 --model-dir m
    (writes the trace on stderr, or to the file in $MEMORY_TRACE)

Found the 3.9 GB peak of the 5,000-ticker `train` (BENCHMARKS.md, "Big inputs"): pandas'
`to_csv` of data.csv at the very end. A figure, not a test: the sampling is coarse.
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time
import traceback

STEP_MB = 100


def resident_mb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // (1 << 20)


def watch(main: int, out, started: float) -> None:
    last = 0
    while True:
        now = resident_mb()
        if abs(now - last) > STEP_MB:
            frame = sys._current_frames().get(main)
            stack = traceback.extract_stack(frame)[-6:] if frame else []
            where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}"
                                for f in reversed(stack))
            print(f"{time.time() - started:7.1f}s {now:6d} MB  {where}", file=out, flush=True)
            last = now
        time.sleep(0.01)


def main() -> None:
    target = os.environ.get("MEMORY_TRACE")
    out = open(target, "w") if target else sys.stderr
    threading.Thread(target=watch, args=(threading.main_thread().ident, out, time.time()),
                     daemon=True).start()
    sys.argv = ["forecast", *sys.argv[1:]]
    runpy.run_module("forecast", run_name="__main__")


if __name__ == "__main__":
    main()
