import json

import numpy as np
import pytest
import torch

from xtransfer.bench.__main__ import main
from xtransfer.bench.extras import feature_cache
from xtransfer.bench.measure import StepClock, device_peak, pad_fraction, train_flops
from xtransfer.bench.workloads import WORKLOADS, sample_lengths, synthetic_features

pytest.importorskip("accelerate", reason="transformers.Trainer needs accelerate (pip install accelerate)")


def test_train_flops_is_6NT_plus_the_attention_term():
    # 6 x 10 params x 5 tokens + 12 x 2 layers x 4 hidden x (2^2 + 3^2)
    assert train_flops(10, 2, 4, real_tokens=5, sum_sq_lengths=13) == 300 + 1248


@pytest.mark.parametrize("name, tflops", [("NVIDIA H100 80GB HBM3", 989.4), ("NVIDIA H100 PCIe", 756.0),
                                          ("NVIDIA H200", 989.4), ("NVIDIA A100-SXM4-80GB", 312.0)])
def test_gpu_peaks_are_dense_bf16(monkeypatch, name, tflops):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    peak, label = device_peak(torch.device("cuda"), None)
    assert peak == tflops * 1e12 and label == f"{name}: {tflops:g} TFLOPS dense bf16"


def test_no_peak_on_cpu_unless_given():
    assert device_peak(torch.device("cpu"), None) == (None, "n/a on CPU")
    assert device_peak(torch.device("cpu"), 100.0)[0] == 1e14


def test_step_clock_counts_only_timed_steps():
    clock = StepClock(warmup=1, total=3, device=torch.device("cpu"))
    masks = [torch.tensor([[1, 1, 1]]), torch.tensor([[1, 1, 0], [1, 0, 0]]), torch.tensor([[1, 1, 1, 1]])]
    for mask in masks:
        clock.step_started(mask)
        clock.step_ended()
    assert (clock.examples, clock.padded, int(clock.real), float(clock.sum_sq)) == (3, 10, 7, 4 + 1 + 16)
    assert clock.stop >= clock.start


def test_pad_fraction():
    assert pad_fraction([4, 2, 3, 3], [[0, 1], [2, 3]]) == pytest.approx(1 - 12 / 14)


def test_workload_lengths_look_like_mnli_and_squad():
    rng = np.random.default_rng(0)
    mnli = sample_lengths(WORKLOADS["mnli"], 5000, rng)
    assert 36 <= np.median(mnli) <= 44 and mnli.min() >= 8 and mnli.max() <= 256
    squad = sample_lengths(WORKLOADS["squad"], 5000, rng)
    assert 0.72 <= (squad == 384).mean() <= 0.78 and squad.min() >= 160 and squad.max() == 384


def test_synthetic_span_features_label_inside_the_context():
    ds = synthetic_features(WORKLOADS["squad"], 20, vocab_size=4000)
    for row in ds:
        assert len(row["input_ids"]) == len(row["offset_start"]) == row["length"]
        assert row["offset_start"][row["start_position"]] >= 0 and row["start_position"] <= row["end_position"]


def test_bench_runs_both_sides_end_to_end(tmp_path, capsys):
    out = tmp_path / "bench.json"
    main(["--steps", "2", "--warmup", "1", "--batch-size", "8", "--examples", "64", "--eval-batch-size", "16",
          "--skip-cache", "--device", "cpu", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "xtransfer " in printed and "transformers.Trainer" in printed and "ratio xtransfer/HF" in printed
    results = json.loads(out.read_text())
    for side in ("xtransfer", "transformers.Trainer"):
        r = results["train"][side]
        assert (r["steps"], r["examples"]) == (2, 16)  # 2 timed steps of 8 examples
        assert r["real_tokens"] <= r["padded_tokens"] and r["examples_per_s"] > 0 and r["mfu"] is None
    ratio = results["train"]["ratio"]["examples_per_s"]
    assert ratio == pytest.approx(results["train"]["xtransfer"]["examples_per_s"]
                                  / results["train"]["transformers.Trainer"]["examples_per_s"])
    ev = results["eval"]
    assert ev["fixed max_length"]["padding_fraction"] > ev["sorted"]["padding_fraction"]


def test_token_budget_side_trains_more_short_rows_per_step(tmp_path):
    out = tmp_path / "bench.json"
    main(["--steps", "2", "--warmup", "1", "--batch-size", "4", "--max-tokens", "1024", "--examples", "64",
          "--skip-cache", "--skip-eval", "--device", "cpu", "--json", str(out)])
    train = json.loads(out.read_text())["train"]
    assert train["transformers.Trainer"]["examples"] == 8 and train["xtransfer"]["examples"] > 8


def test_feature_cache_second_load_reads_the_cache(tmp_path):
    from xtransfer.demo import generate_demo_data

    root = generate_demo_data(tmp_path / "demo", train_size=6, eval_size=20)
    cache = feature_cache(str(root), eval_size=20)
    assert cache["rows"] == 20 and cache["first_s"] > 0 and cache["second_s"] > 0


def test_data_without_the_family_columns_is_a_one_line_error(tmp_path, capsys):
    import datasets

    path = tmp_path / "features"
    datasets.Dataset.from_dict({"input_ids": [[0, 5, 2]], "length": [3]}).save_to_disk(str(path))
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(path), "--skip-cache", "--skip-eval"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: --data {path}: no column(s) ['label'] for the mnli workload (classification features); "
                   "it has ['input_ids', 'length']")


def test_bench_trains_a_decoder_with_lora_on_both_sides(tmp_path, capsys):
    out = tmp_path / "bench.json"
    main(["--model", "tiny_decoder", "--lora", "--steps", "2", "--warmup", "1", "--batch-size", "8", "--examples",
          "64", "--skip-cache", "--skip-eval", "--device", "cpu", "--json", str(out)])
    assert ", LoRA" in capsys.readouterr().out
    results = json.loads(out.read_text())
    for side in ("xtransfer", "transformers.Trainer"):
        assert (results["train"][side]["steps"], results["train"][side]["examples"]) == (2, 16)
    # tiny_decoder's 2 layers of 128 wide (grouped KV 64 wide, feed-forward 256), 3 classes, r = 8 adapters on
    # q/k/v/o/gate/up/down: 2 x (2048 + 1536 + 1536 + 2048 + 3 x 3072) = 32768 adapter parameters
    from xtransfer.bench.models import model_config, our_model

    backbone = our_model("tiny_decoder", model_config("tiny_decoder"), lora=True)
    assert sum(p.numel() for p in backbone.parameters() if p.requires_grad) == 32768
    assert backbone.kind == "decoder" and backbone.pooling == "last"
