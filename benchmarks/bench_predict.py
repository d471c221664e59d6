"""Draw & Predict latency: from the end of a stroke to the updated prediction and feature maps.

Target (issue 7): under 30 ms for LeNet-5. Measures the whole hot path the view runs
after a stroke (render the strokes, MNIST-style preprocessing, forward pass with every
layer's activations, bar chart, input image, feature-map tiles) and its parts, offscreen.

    python benchmarks/bench_predict.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("CNNSTUDIO_CONFIG_DIR", "/tmp/cnnstudio-bench-config")

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def row(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    return f"| {name} | {statistics.median(ms):.2f} | {p90:.2f} | {ms[-1]:.2f} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    from cnnstudio.data.preprocess import preprocess_digit
    from cnnstudio.engine.network import Network
    from cnnstudio.io.model_file import TrainedModel
    from cnnstudio.model.project import Project
    from cnnstudio.ui.app import ensure_app
    from cnnstudio.ui.context import AppContext
    from cnnstudio.ui.predict import QtPredictView
    from cnnstudio.ui.predict.qt_predict_view import INK_SIZE
    from tests.archs import lenet5

    app = ensure_app()
    context = AppContext()
    context.project = Project()
    bundle = TrainedModel.from_network(Network.from_architecture(lenet5(), seed=0))
    context.project.set_trained(bundle)
    view = QtPredictView(context)
    view.resize(1200, 760)
    view.show()
    app.processEvents()
    t = np.linspace(0, 2 * np.pi, 80)
    view.pad.add_stroke([(0.5 + 0.18 * np.cos(a), 0.5 + 0.3 * np.sin(a)) for a in t])
    app.processEvents()

    network = bundle.network()
    ink = view.pad.ink_image(INK_SIZE)
    x = bundle.prepare(preprocess_digit(ink, (28, 28), invert=False)[None])

    def full_update():
        view.update_prediction()
        app.processEvents()  # the repaint the user sees

    with threadpool_limits(1):
        for _ in range(10):  # warm caches and buffers
            full_update()
        rows = [
            row(
                f"render strokes at {INK_SIZE} px",
                timed(lambda: view.pad.ink_image(INK_SIZE), args.repeats),
            ),
            row(
                "MNIST-style preprocessing",
                timed(lambda: preprocess_digit(ink, (28, 28), invert=False), args.repeats),
            ),
            row(
                "forward, probabilities only", timed(lambda: network.predict_proba(x), args.repeats)
            ),
            row(
                "forward, every layer's activations",
                timed(lambda: network.activations(x), args.repeats),
            ),
            row(
                "**stroke end -> prediction + feature maps on screen**",
                timed(full_update, args.repeats),
            ),
        ]
    table = "\n".join(
        [
            f"# Draw & Predict latency, LeNet-5, {date.today().isoformat()}",
            "",
            f"{args.repeats} repeats, 1 BLAS thread, offscreen Qt. Milliseconds.",
            "",
            "| step | median | p90 | max |",
            "|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    out = ROOT / "benchmarks" / "results" / f"predict-{date.today().isoformat()}.md"
    out.write_text(table + "\n", encoding="utf-8")
    view.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
