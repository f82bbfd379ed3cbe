"""Run every benchmark (benchmarks/bench_*.py) and print its figures; `make bench` calls this.

Each benchmark measures enumlab against a baseline *in the same run* and reports ratios, so the
figures mean the same on any machine. Results also go to benchmarks/results/latest.json.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    selected = set(argv)
    results: dict[str, object] = {}
    sys.path.insert(0, str(HERE))
    import bench_capture

    bench_capture.bytecode()  # as an installed wheel has it (see bench_capture.bytecode)
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if selected and name not in selected:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"== {name}: {module.__doc__.strip().splitlines()[0]}", flush=True)
        start = time.perf_counter()
        results[name] = module.run()
        print(json.dumps(results[name], indent=2))
        print(f"   ({time.perf_counter() - start:.1f}s)\n", flush=True)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    latest = out / "latest.json"
    if selected and latest.exists():  # a selection updates its own figures, keeps the rest
        results = {**json.loads(latest.read_text()), **results}
    latest.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
