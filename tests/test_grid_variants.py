"""Multi-task and sequential intermediates, translated data, translate-train, MLM wiring, presets."""
import json
from pathlib import Path

import numpy as np
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from tests.conftest import FAST, compose_cfg
from xtransfer.errors import ConfigError
from xtransfer.engine.mixture import MixtureLoader, mixture_weights, steps_per_epoch
from xtransfer.pipeline.cell import run
from xtransfer.pipeline.chain import train_payload, training_chain
from xtransfer.config.build import build_cell
from xtransfer.config.schema import SamplingSpec, spec_from_conf
from xtransfer.cache.stages import stage_key
from xtransfer.engine.train import Start

# Enough to train and evaluate every stage, small enough for seconds per stage.
SMALL = [*FAST, "target.optim.max_train_examples=300", "target.optim.epochs=1",
         "intermediate.optim.max_train_examples=300", "intermediate.optim.max_val_examples=50",
         "target.optim.max_val_examples=50", "target.languages=[en,de]"]


# -- sampling ---------------------------------------------------------------------------------

def sampling(**overrides) -> SamplingSpec:
    return spec_from_conf(SamplingSpec, "sampling/default.yaml", **overrides)


def test_mixture_weights_match_hand_computed_rates():
    sizes = [900, 100]
    assert mixture_weights(sizes, sampling(kind="proportional")) == pytest.approx([0.9, 0.1])
    assert mixture_weights(sizes, sampling(kind="uniform")) == pytest.approx([0.5, 0.5])
    # T = 2: sqrt(900) = 30, sqrt(100) = 10
    assert mixture_weights(sizes, sampling(kind="temperature", temperature=2.0)) == pytest.approx([0.75, 0.25])
    # a cap of 300 examples: rates 300 : 100
    assert mixture_weights(sizes, sampling(kind="proportional", max_examples_per_task=300)) == pytest.approx([0.75, 0.25])
    batches = [29, 4]  # of 32 examples
    assert steps_per_epoch(sizes, batches, sampling()) == 29 + 4
    assert steps_per_epoch(sizes, batches, sampling(max_examples_per_task=300)) == 10 + 4  # ceil(29 / 3)


@pytest.mark.parametrize("sampling", [sampling(kind="proportional"), sampling(kind="temperature", temperature=3.0),
                                      sampling(kind="uniform"), sampling(max_examples_per_task=2000)])
def test_drawn_task_frequencies_match_the_configured_distribution(sampling):
    sizes = [5000, 1500, 300]
    weights = mixture_weights(sizes, sampling)
    loaders = [[{"task": i, "batch": b} for b in range(7)] for i in range(3)]  # lists restart like loaders
    mixture = MixtureLoader(loaders, weights, steps=20000, seed=3)
    tasks = np.array([batch["task"] for batch in mixture])
    frequencies = np.bincount(tasks, minlength=3) / len(tasks)
    # binomial standard error at 20k draws is < 0.0036: 4 sigma
    assert frequencies == pytest.approx(weights, abs=0.015)
    again = [batch["task"] for batch in MixtureLoader(loaders, weights, steps=20000, seed=3)]
    assert again == tasks.tolist()  # draws depend on (seed, epoch) only


def test_each_task_loader_is_consumed_in_order_and_restarted():
    loaders = [["a0", "a1"], ["b0", "b1", "b2"]]
    mixture = MixtureLoader(loaders, [0.5, 0.5], steps=12, seed=0)
    draws = mixture.draws(0)
    batches = list(mixture)
    for i, prefix in enumerate("ab"):
        mine = [b for b, d in zip(batches, draws) if d == i]
        expected = (loaders[i] * 12)[: len(mine)]
        assert mine == expected
    assert mixture.epoch == 1 and not np.array_equal(mixture.draws(1), draws)


# -- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides,message", [
    (["intermediate=multitask", "intermediate.tasks=[mnli,sqaud]"],
     r"unknown task\(s\) \['sqaud'\] in intermediate.tasks; available: \[.*'squad'.*\]"),
    (["intermediate=sequential", "intermediate.tasks=[]"], r"intermediate.tasks is empty; name the tasks to chain"),
    (["intermediate=multitask", "intermediate.sampling.kind=temperature", "intermediate.sampling.temperature=0"],
     r"temperature must be > 0"),
    (["intermediate=multitask", "intermediate.sampling.kind=square"], r"kind must be one of \['proportional'"),
    (["intermediate=multitask", "intermediate.tasks=[mnli,mnli]"], r"a task appears twice"),
    (["mlm=mixed"], r"mlm=mixed mixes MLM into intermediate training, but intermediate=none"),
    (["target=xnli", "target.train_languages=[en,ja]"], r"no training data in 'ja': task 'mnli' has \['en'\] "
                                                       r"and 'xnli_mt' has \[.*'zh'\]"),
    (["target=udpos", "target.train_languages=[]"], r"train_languages is empty"),
])
def test_bad_variant_configs_get_clear_messages(overrides, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        build_cell(compose_cfg(overrides, tmp_path))


# -- what each variant trains -----------------------------------------------------------------

def chain(tmp_path, overrides):
    cell = build_cell(compose_cfg(["experiment=demo", *overrides], tmp_path))
    return cell, [(kind, name, [(p.task.name, p.languages) for p in parts]) for kind, name, parts, *_ in
                  training_chain(cell)]


def test_training_chains(tmp_path):
    assert chain(tmp_path, ["intermediate=sequential", "intermediate.tasks=[mnli,squad,hellaswag]"])[1] == [
        ("intermediate", "mnli", [("mnli", ["en"])]), ("intermediate", "squad", [("squad", ["en"])]),
        ("intermediate", "hellaswag", [("hellaswag", ["en"])])]
    cell, stages = chain(tmp_path, ["intermediate=mnli", "mlm=before"])
    assert [s[:2] for s in stages] == [("mlm", "mlm_wiki"), ("intermediate", "mnli")]
    assert stages[0][2][0][1][:3] == ["ar", "bg", "de"]  # the demo corpus languages
    cell, stages = chain(tmp_path, ["intermediate=mnli", "mlm=mixed"])
    assert [s[:2] for s in stages] == [("intermediate", "mnli")] and [t for t, _ in stages[0][2]] == ["mnli", "mlm_wiki"]
    from xtransfer.config.labels import cell_tags
    assert cell_tags(cell)["intermediate"] == "mnli+mlm"
    cell, stages = chain(tmp_path, ["intermediate=mnli_mt"])
    assert stages[0][2][0][1] == ["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]
    assert [task.name for task, _ in cell.intermediate.parts[0].sources][:5] == ["xnli_mt"] * 4 + ["mnli"]
    cell, stages = chain(tmp_path, ["intermediate=squad_mt"])
    assert cell.intermediate.name == "squad_mt" and stages[0][:2] == ("intermediate", "squad")
    assert [(t.name, l) for t, l in cell.intermediate.parts[0].sources] == [("squad", "en")] + [
        ("squad_mt", l) for l in ["ar", "de", "el", "es", "hi", "ru", "th", "tr", "vi", "zh"]]


def test_translate_train_reads_translated_or_native_train_data(tmp_path):
    cell = build_cell(compose_cfg(["target=xnli", "target.train_languages=[en,de]"], tmp_path))
    assert [(t.name, l) for t, l in cell.target.part.sources] == [("mnli", "en"), ("xnli_mt", "de")]
    assert cell.target.setting == "translate-train"
    cell = build_cell(compose_cfg(["target=pawsx", "target.train_languages=all"], tmp_path))
    assert cell.target.part.languages == ["de", "en", "es", "fr", "ja", "ko", "zh"]
    cell = build_cell(compose_cfg(["target=panx", "target.train_languages=[de]"], tmp_path))
    assert [(t.name, l) for t, l in cell.target.part.sources] == [("panx", "de")] and cell.target.setting == "in-language"
    assert build_cell(compose_cfg(["target=panx"], tmp_path)).target.setting == "zero-shot"


def multitask_key(tmp_path, overrides):
    cell = build_cell(compose_cfg(["intermediate=multitask", "intermediate.tasks=[mnli,qqp]", *overrides], tmp_path))
    inter = cell.intermediate
    return stage_key("intermediate", train_payload(cell, Start("m", None, "up"), inter.parts, inter.optim, inter.sampling))


def test_multitask_stage_is_keyed_by_its_task_set_and_sampling(tmp_path):
    base = multitask_key(tmp_path, [])
    assert multitask_key(tmp_path, []) == base
    for changed in (["intermediate.tasks=[mnli,squad]"], ["intermediate.sampling.kind=uniform"],
                    ["intermediate.sampling.max_examples_per_task=1000"]):
        assert multitask_key(tmp_path, changed) != base, changed


# -- end to end -------------------------------------------------------------------------------

def cell_run(workspace, job, overrides):
    return run(compose_cfg([*SMALL, *overrides], workspace, job))


def test_sequential_chains_share_their_prefix_stage(workspace):
    short = cell_run(workspace, "seq-1", ["intermediate=sequential", "intermediate.tasks=[mnli]", "target=pawsx"])
    long = cell_run(workspace, "seq-2", ["intermediate=sequential", "intermediate.tasks=[mnli,qqp]", "target=pawsx"])
    first = [s for s in short["stages"] if s["kind"] == "intermediate"]
    chain = [s for s in long["stages"] if s["kind"] == "intermediate"]
    assert [s["name"] for s in chain] == ["mnli", "qqp"] and long["intermediate"] == "mnli>qqp"
    assert chain[0]["key"] == first[0]["key"] and chain[0]["reused"] and not chain[1]["reused"]
    qqp_stage = yaml_payload(chain[1])
    assert qqp_stage["upstream"] == chain[0]["key"]  # the second link starts from the first


def yaml_payload(stage):
    import yaml
    return yaml.safe_load((Path(stage["path"]) / "stage.yaml").read_text())["payload"]


def test_multitask_stage_trains_every_task_with_its_own_head(workspace):
    results = cell_run(workspace, "mt", ["intermediate=multitask", "intermediate.tasks=[mnli,squad,hellaswag]",
                                         "intermediate.sampling.kind=temperature", "target=pawsx"])
    assert results["intermediate"] == "multitask[mnli,squad,hellaswag]"
    stage = next(s for s in results["stages"] if s["kind"] == "intermediate")
    assert stage["name"] == "multitask"
    metrics = json.loads((Path(stage["path"]) / "metrics.json").read_text())
    assert metrics["tasks"] == ["mnli", "squad", "hellaswag"]
    assert metrics["train_examples"] == {"mnli": 300, "squad": 300, "hellaswag": 300}
    payload = yaml_payload(stage)
    assert payload["sampling"]["kind"] == "temperature"
    assert [p["task"]["name"] for p in payload["parts"]] == ["mnli", "squad", "hellaswag"]
    from safetensors import safe_open
    with safe_open(str(Path(stage["path"]) / "heads.safetensors"), "pt") as heads:
        assert {k.split(".")[0] for k in heads.keys()} == {"mnli", "squad", "hellaswag"}


def test_translate_train_cell_records_its_setting(workspace):
    results = cell_run(workspace, "tt", ["target=xnli", "target.train_languages=[en,de]"])
    assert results["setting"] == "translate-train" and results["train_languages"] == ["en", "de"]
    target = next(s for s in results["stages"] if s["kind"] == "target")
    train = yaml_payload(target)["parts"][0]["train"]
    assert [(t["task"], t["language"]) for t in train] == [("mnli", "en"), ("xnli_mt", "de")]
    assert json.loads((Path(target["path"]) / "metrics.json").read_text())["train_examples"] == {"mnli": 300}


def test_translated_squad_intermediate_validates_every_n_steps(workspace):
    results = cell_run(workspace, "squad-mt", ["intermediate=squad_mt", "target=tatoeba", "target.languages=[deu]",
                                               "intermediate.optim.val_every_n_steps=3"])
    assert results["intermediate"] == "squad_mt"
    stage = next(s for s in results["stages"] if s["kind"] == "intermediate")
    assert yaml_payload(stage)["optim"]["val_every_n_steps"] == 3   # part of the stage key
    metrics = json.loads((Path(stage["path"]) / "metrics.json").read_text())
    steps = metrics["steps"]
    assert metrics["train_examples"] == {"squad": 300} and steps == 10   # 300 windows, 32 per step (the demo)
    # every 3 optimizer steps, then once more at the end (jiant); the best of them is kept
    assert [step for step, _ in metrics["validations"]] == [3, 6, 9, 10]
    best = max(metrics["validations"], key=lambda v: v[1])
    assert metrics["best_step"] == best[0] and metrics["val_score_best"] == pytest.approx(best[1], abs=1e-4)


# -- presets ----------------------------------------------------------------------------------

def sweep(cfg) -> dict[str, list[str]]:
    """The preset's hydra.sweeper.params, each axis expanded to its values."""
    parser = OverridesParser.create()
    params = cfg.hydra.sweeper.params
    return {k: [str(v) for v in parser.parse_override(f"{k}={params[k]}").sweep_string_iterator()] for k in params}


def compose_preset(tmp_path, overrides):
    from hydra import compose, initialize_config_dir
    from xtransfer.config import CONF_DIR
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[f"paths.outputs_root={tmp_path}", *overrides], return_hydra_config=True)


@pytest.mark.parametrize("preset,axes,model", [
    ("phang2020", {"intermediate": 11, "target": 9}, "xlmr_large"),
    ("scale", {"model": 5, "intermediate": 4, "target": 4}, "xlmr_base"),
    ("scaling_xtremer", {"model": 17, "intermediate": 4, "target": 9}, "xlmr_base"),
    ("sequential", {"intermediate": 6, "target": 2}, "xlmr_base"),
    ("direct", {"intermediate": 3, "target": 3, "target.train_languages": 2}, "xlmr_base"),
])
def test_presets_define_their_sweep_and_run_offline_with_one_override(preset, axes, model, tmp_path):
    cfg = compose_preset(tmp_path, [f"experiment={preset}"])
    grid = sweep(cfg)
    assert {k: len(v) for k, v in grid.items()} == axes
    assert cfg.model.name == model and cfg.data.source == "hub"
    offline = compose_preset(tmp_path, [f"experiment={preset}", "offline=demo"])
    assert offline.model.name == "tiny" and offline.data.generate_demo
    if preset == "scale":
        assert grid["model"] == ["mbert", "xlmr_base", "xlmr_large", "xlmr_xl", "xlmr_xxl"]
        assert sweep(offline)["model"] == ["tiny", "tiny_large"]
    if preset == "scaling_xtremer":
        assert sweep(offline)["model"] == ["tiny", "tiny_large", "tiny_decoder", "tiny_decoder_large"]
        assert cfg.model.peft == offline.model.peft == "lora" and "qwen_72b" in grid["model"]
    if preset == "phang2020":
        assert grid["intermediate"][0] == "none" and "multitask" in grid["intermediate"]
    if preset == "sequential":
        cell = build_cell(compose_cfg(["experiment=sequential", "offline=demo", "intermediate=sequential"], tmp_path))
        assert cell.intermediate.name == "mnli>squad>hellaswag"
        cell = build_cell(compose_cfg(["experiment=sequential", "intermediate=multitask"], tmp_path))
        assert cell.intermediate.name == "multitask[mnli,squad,hellaswag]"
