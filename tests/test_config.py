from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException

from tests.conftest import compose_cfg
from xtransfer.config import CONF_DIR
from xtransfer.errors import ConfigError
from xtransfer.pipeline.chain import pretrained_start, train_payload
from xtransfer.config.build import build_cell, build_task
from xtransfer.cache.stages import StageStore, stage_key
from xtransfer.tasks import get_family
from xtransfer.engine.train import Start

GROUPS = ["model", "intermediate", "target", "trainer", "logger", "data", "paths", "experiment", "mlm", "offline",
          "benchmark"]
LABELS = {"sequential": "mnli>squad"}  # an intermediate's label in results, where it differs from the option
NEEDS = {"data": {"local": ["data.root=/datasets"]}, "mlm": {"mixed": ["intermediate=mnli"]}}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes_and_builds(group, option, tmp_path):
    cfg = compose_cfg([f"{group}={option}", *NEEDS.get(group, {}).get(option, [])], tmp_path)
    cell = build_cell(cfg)
    if group == "intermediate":
        assert (cell.intermediate is None) == (option == "none")
        if cell.intermediate:
            assert cell.intermediate.name == LABELS.get(option, option)
            assert all(get_family(part.task.family) for part in cell.intermediate.parts)
    if group == "target":   # every language of the task, but where XTREME and XTREME-R differ (conf/benchmark/)
        languages = cfg.benchmark.languages.get(option, cell.target.eval_task.languages)
        assert cell.target.name == option and set(cell.target.languages) == set(languages)
        assert set(cell.target.languages) <= set(cell.target.eval_task.languages)
    if group == "model":
        assert cell.model.name == option


def test_group_options_match_the_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for group in ["model", "intermediate", "target"]:
        for option in options(group):
            assert f"`{option}`" in readme, f"README does not list {group}={option}"


def test_unknown_option_lists_the_choices(tmp_path):
    with pytest.raises(MissingConfigException) as err:
        compose_cfg(["intermediate=mnil"], tmp_path)
    assert "mnli" in str(err.value) and "qqp" in str(err.value)


def test_unknown_key_is_rejected(tmp_path):
    with pytest.raises(ConfigCompositionException):
        compose_cfg(["target.optim.lrr=1e-5"], tmp_path)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['colums'\]"):
        build_task({"name": "t", "family": "classification", "languages": ["en"], "max_length": 8, "colums": {}})


def test_bad_target_languages_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match=r"languages \['xx'\] are not in task 'xnli'"):
        build_cell(compose_cfg(["target=xnli", "target.languages=[en,xx]"], tmp_path))


def test_demo_experiment_selects_tiny_model_and_local_demo_data(tmp_path):
    cell = build_cell(compose_cfg(["experiment=demo", "intermediate=mnli"], tmp_path))
    assert cell.model.tiny is not None and cell.demo_data_root == str(tmp_path / "demo_data")
    assert cell.intermediate.parts[0].task.source == "local" and cell.intermediate.optim.lr == 1e-3
    assert cell.target.train_task.local.root == str(tmp_path / "demo_data" / "glue" / "MNLI")


def target_key(tmp_path, overrides):
    cell = build_cell(compose_cfg(overrides, tmp_path))
    t = cell.target
    payload = train_payload(cell, Start("m", None, "upstream"), (t.part,), t.optim, None)
    return stage_key("target", payload)


def test_stage_key_changes_with_what_determines_the_weights_only(tmp_path):
    base = target_key(tmp_path, [])
    # The English dev split of the eval task selects the best epoch, so its spec counts too.
    for changed in (["target.optim.lr=3e-5"], ["seed=1"], ["target.train_task.max_length=128"],
                    ["target.eval_task.max_length=64"], ["trainer.precision=bf16-mixed"],
                    ["target.optim.epochs=3"], ["target.train_task.hub.revision=abc"]):
        assert target_key(tmp_path, changed) != base, changed
    for unrelated in (["trainer.eval_batch_size=7"], ["logger=csv"], ["trainer.num_workers=4"], ["tags=[x]"],
                      ["target.languages=[en,de]"], ["target.eval_splits=[test]"]):
        assert target_key(tmp_path, unrelated) == base, unrelated


def test_model_identity_names_the_upstream(tmp_path):
    store = StageStore(tmp_path)
    base = pretrained_start(build_cell(compose_cfg(["model=xlmr_base"], tmp_path)).model, store)[0]
    large = pretrained_start(build_cell(compose_cfg(["model=xlmr_large"], tmp_path)).model, store)[0]
    other_rev = pretrained_start(build_cell(compose_cfg(["model=xlmr_base", "model.revision=main"], tmp_path)).model,
                                 store)[0]
    assert len({base.key, large.key, other_rev.key}) == 3
    assert base.source == "FacebookAI/xlm-roberta-base" and base.revision == "e73636d4f797dec63c3081bb6ed5c7b0bb3f2089"
