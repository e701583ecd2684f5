"""Data checks before anything trains: one cell (pipeline/preflight.py), a whole grid
(pipeline/grid_check.py, a Hydra callback), and the honest multi-task intermediate."""
import json
import logging
import shutil
from pathlib import Path

import pytest

from tests.conftest import compose_cfg
from tests.test_cli import xtransfer
from xtransfer.config.build import build_cell
from xtransfer.errors import DataError
from xtransfer.pipeline import preflight
from xtransfer.pipeline.demo_data import ensure_demo_data
from xtransfer.pipeline.hub_probe import WAYS_FORWARD, HubProbe

CCG_TRAIN = [f"{s:02d}" for s in range(2, 22)]


# ------------------------------------------------------------------------------ multi-task
def demo_multitask(workspace: Path, *overrides: str):
    ensure_demo_data(workspace / "demo_data")
    return build_cell(compose_cfg(["experiment=demo", "intermediate=multitask", "intermediate.tasks=[mnli,cosmosqa]",
                                   "intermediate.catalog.cosmosqa.local.root=/nowhere", *overrides], workspace))


def test_multitask_task_without_data_fails_the_cell_saying_how_to_provide_it_or_opt_out(workspace):
    with pytest.raises(DataError) as error:
        preflight.checked(demo_multitask(workspace))
    message = str(error.value)
    assert message.startswith("this cell lacks data; nothing was trained:")
    assert "missing file /nowhere/train.csv (task 'cosmosqa', split 'train', language 'en')" in message
    assert "missing file /nowhere/valid.csv (task 'cosmosqa', split 'validation', language 'en')" in message
    assert ("or train multitask without it: intermediate.allow_missing=true (the label then names the tasks "
            "trained), or intermediate.tasks=[mnli]") in message


def test_multitask_opt_out_trains_the_others_and_the_label_names_them(workspace, caplog):
    with caplog.at_level(logging.WARNING):
        cell = preflight.checked(demo_multitask(workspace, "intermediate.allow_missing=true"))
    assert cell.intermediate.name == "multitask[mnli]"
    assert [p.task.name for p in cell.intermediate.parts] == ["mnli"]
    assert "training without ['cosmosqa']" in caplog.text


def test_hub_multitask_of_the_nine_lacks_the_local_only_tasks(tmp_path):
    cell = build_cell(compose_cfg(["intermediate=multitask", "data=hub"], tmp_path))
    assert cell.intermediate.name == "multitask"   # the study's nine
    _, gaps = preflight.check_cell(cell)
    missing = {g.what.split(" (task ")[1].split("'")[1] for g in gaps}
    assert missing == {"cosmosqa", "ccg"}
    opted = build_cell(compose_cfg(["intermediate=multitask", "data=hub", "intermediate.allow_missing=true"], tmp_path))
    cell, gaps = preflight.check_cell(opted)
    assert gaps == [] and cell.intermediate.name == \
        "multitask[anli_plus,mnli,qqp,squad,squad_v2,hellaswag,commonsenseqa]"


# ------------------------------------------------------------------------------ the grid check
@pytest.fixture
def demo_without_ccg(workspace, tmp_path) -> Path:
    ensure_demo_data(workspace / "demo_data")
    copy = tmp_path / "demo_without_ccg"
    # without its manifest: the copy is a user's data missing files, not damaged demo data to regenerate
    shutil.copytree(workspace / "demo_data", copy, ignore=shutil.ignore_patterns("ccgbank_1_1", "MANIFEST.json"))
    return copy


def grid_check(tmp_path, overrides, sweep):
    """check_grid on the master config of `python -m xtransfer.run -m <overrides> <sweep axes>`."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict
    from xtransfer.config import CONF_DIR
    from xtransfer.pipeline.grid_check import check_grid
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"paths.outputs_root={tmp_path / 'out'}", "logger=none", *overrides],
                      return_hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.sweeper.params = sweep
        HydraConfig.instance().set_config(cfg)
        return check_grid(cfg)


def test_grid_with_missing_files_lists_every_one_before_anything_trains(demo_without_ccg, tmp_path):
    output = grid_check(tmp_path, ["experiment=phang2020", "offline=demo", f"data.root={demo_without_ccg}"],
                        {"intermediate": "none,ccg,multitask", "target": "tatoeba"})
    assert output.startswith("preflight: 2 of 3 cells lack data, so nothing was trained.")
    auto = demo_without_ccg / "ccgbank_1_1" / "data" / "AUTO"
    for section in CCG_TRAIN:
        assert f"missing file {auto / section / '*.auto'} (task 'ccg', split 'train', language 'en')" in output
    assert f"missing file {auto / '00' / '*.auto'} (task 'ccg', split 'validation', language 'en')" in output
    assert "needed by 2 cells: intermediate=ccg, intermediate=multitask" in output
    assert "or train multitask without it: intermediate.allow_missing=true" in output
    assert not (tmp_path / "out" / "cache").exists()   # nothing built, nothing tokenized
    assert grid_check(tmp_path, ["experiment=phang2020", "offline=demo", f"data.root={demo_without_ccg}"],
                      {"intermediate": "none,mnli", "target": "tatoeba"}) is None


@pytest.mark.slow
def test_the_whole_study_grid_stops_with_every_missing_ccg_file(demo_without_ccg, tmp_path):
    # the command of issue 15's "done when", as a user runs it
    proc = xtransfer("-m", "experiment=phang2020", "offline=demo", f"data.root={demo_without_ccg}", "logger=none",
                     outputs=tmp_path / "out")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "preflight: 18 of 99 cells lack data, so nothing was trained." in output
    assert all(f"AUTO/{section}/*.auto" in output for section in [*CCG_TRAIN, "00"])
    assert "Traceback" not in output and not list((tmp_path / "out" / "cache").rglob("*.safetensors"))  # nothing built
    assert not list((tmp_path / "out").rglob("results.json"))


@pytest.mark.slow
def test_preflight_false_skips_the_grid_check_and_the_cell_still_fails_before_training(demo_without_ccg, tmp_path):
    outputs = tmp_path / "out"
    proc = xtransfer("-m", "experiment=phang2020", "offline=demo", f"data.root={demo_without_ccg}", "logger=none",
                     "intermediate=ccg", "target=tatoeba", "preflight=false", outputs=outputs)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "preflight:" not in output
    error = json.loads(next(outputs.rglob("error.json")).read_text())
    assert error["error"] == "DataError" and error["message"].startswith("this cell lacks data; nothing was trained")
    assert not list((outputs / "cache" / "stages").glob("intermediate/*"))


def test_preflight_false_checks_nothing(caplog):
    from omegaconf import OmegaConf
    from xtransfer.pipeline.grid_check import Preflight
    with caplog.at_level(logging.INFO):
        Preflight().on_multirun_start(OmegaConf.create({"preflight": False}))   # no grid: it would fail to expand
    assert "preflight=false: the grid's data is not checked up front" in caplog.text


def test_hub_grid_offline_names_every_uncached_dataset_and_the_bucc_dev_set(tmp_path, monkeypatch):
    from huggingface_hub import constants
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict
    from xtransfer.config import CONF_DIR
    from xtransfer.pipeline.grid_check import check_grid
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):   # the master config of `-m target=xnli,bucc`
        cfg = compose("config", overrides=[f"paths.outputs_root={tmp_path / 'out'}", "logger=none"],
                      return_hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.sweeper.params = {"target": "xnli,bucc"}
        HydraConfig.instance().set_config(cfg)
        output = check_grid(cfg)
    assert output.startswith("preflight: 2 of 2 cells lack data")
    for dataset, task in [("nyu-mll/glue", "mnli"), ("facebook/xnli", "xnli"), ("mteb/BUCC", "bucc")]:
        assert f"hub dataset {dataset} @ " in output and f"(task '{task}'): not in the local Hugging Face " \
            f"cache, and HF_HUB_OFFLINE is set (offline)" in output
    sample = tmp_path / "out" / "data" / "bucc2018" / "de-en" / "de-en.sample.de"
    assert f"missing file {sample} (task 'bucc', split 'validation', language 'de') (read from local files " \
           f"even with data=hub: no hub copy has it)" in output
    assert "target.oracle_threshold=true" in output and "comparable.limsi.fr/bucc2018" in output
    assert "needed by 1 cell: target=bucc" in output and "needed by 1 cell: target=xnli" in output
    assert ("hub model FacebookAI/xlm-roberta-base @ e73636d4f797dec63c3081bb6ed5c7b0bb3f2089: not in the local "
            "Hugging Face cache, and HF_HUB_OFFLINE is set (offline)") in output
    assert "or model.name_or_path=<local model dir>" in output and "needed by 2 cells: target=xnli, target=bucc" in output
    assert output.endswith(WAYS_FORWARD) and "add offline=demo to this command" in WAYS_FORWARD


def test_hub_probe_uses_the_cache_then_the_network_once(tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    (tmp_path / "hub" / "datasets--org--cached" / "snapshots" / "abc").mkdir(parents=True)
    calls = []

    def dataset_info(self, repo_id, revision=None, timeout=None):
        calls.append(repo_id)
        raise ConnectionError("no route to host")

    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", dataset_info)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    probe = HubProbe()
    assert probe("org/cached", "abc") is None
    assert probe("org/a", "1") == ("not in the local cache, and the Hub did not serve it "
                                   "(ConnectionError: no route to host)")
    assert probe("org/b", "2") == "not in the local cache, and the Hub is not reachable (ConnectionError: no route to host)"
    assert calls == ["org/a"]   # after one failed connection, no more network calls
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    assert HubProbe()("org/c", "3") == "not in the local Hugging Face cache, and HF_DATASETS_OFFLINE is set (offline)"
