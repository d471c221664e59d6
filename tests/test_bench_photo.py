"""benchmarks/bench_photo.py: the FLOP count its GEMM-peak fraction rests on, and the
networks it builds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from cnnstudio.engine import Conv2D, Dense, Flatten, Network

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_photo.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_photo", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_photo"] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


def test_training_flops_count_each_layers_output_positions():
    bench = _bench()
    net = Network(
        [Conv2D(4, 3, padding=1), Conv2D(3, 3, stride=2, padding=1), Flatten(), Dense(2)],
        input_shape=(2, 5, 5),
    )
    # conv 4@5x5 from 2 channels, 3x3: 4*2*9 weights at 25 positions; conv 3@3x3 (stride 2)
    # from 4 channels: 3*4*9 weights at 9 positions; dense 27 -> 2.
    macs = 4 * 2 * 9 * 25 + 3 * 4 * 9 * 9 + 27 * 2
    assert bench.forward_macs(net) == macs == 2826
    assert bench.training_flops(net) == 3 * 2 * macs


def test_benchmark_networks_have_the_shapes_it_reports():
    bench = _bench()
    vgg = Network.from_architecture(bench.vgg_architecture(), seed=0)
    assert vgg.shapes["maxpool3"] == (128, 4, 4)
    assert [vgg.shapes[nid][0] for nid in vgg.nodes if nid.startswith("conv")] == [
        32, 32, 64, 64, 128, 128,
    ]  # fmt: skip
    # LeNet-5 at 3@96x96: 5x5 convolutions and 2x2 pools give 16@21x21 before the dense layers.
    lenet = Network.from_architecture(bench.lenet_architecture(96), seed=0)
    assert lenet.input_shape == (3, 96, 96)
    assert lenet.shapes["maxpool2"] == (16, 21, 21)
