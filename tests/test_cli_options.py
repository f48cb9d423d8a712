"""Each option said once: the stage configs are the CLI's only declaration of every option, `augment
run` restates them with one preset, and --config / --print-config round-trip a command's settings."""

from __future__ import annotations

from dataclasses import fields

import pytest
import typer.main
import yaml

from augment.cli import app
from augment.cli_build import settings_of
from augment.core.errors import AugmentError
from augment.core.options import default_of, flag_of, option_fields
from augment.pipeline_config import RUN_PRESET, PipelineConfig, stage_config
from augment.stages.synthetic.config import SyntheticConfig
from tests.conftest import assert_one_line_error

COMMANDS = typer.main.get_command(app).commands


def _option(command: str, flag: str):
    [param] = [p for p in COMMANDS[command].params if flag in p.opts]
    return param


def test_every_option_of_run_is_a_stage_option_with_the_same_default_or_the_named_preset():
    restated = [spec for spec in option_fields(PipelineConfig) if spec.metadata.get("same_as")]
    assert len(restated) >= 15
    for spec in restated:
        stage_class, name = spec.metadata["same_as"]
        stage_spec = stage_class.__dataclass_fields__[name]
        stage_flag, run_flag = flag_of(stage_spec), flag_of(spec)
        stage_help, run_help = _option(stage_class.COMMAND, stage_flag).help, _option("run", run_flag).help
        assert run_help.startswith(stage_spec.metadata["help"]), run_flag  # the stage's own words
        if (stage_class, name) in RUN_PRESET:
            assert default_of(spec) == RUN_PRESET[stage_class, name] != default_of(stage_spec)
            assert "(augment run preset:" in stage_help, stage_flag
            assert f"augment {stage_class.COMMAND} alone:" in run_help, run_flag
        else:
            assert default_of(spec) == default_of(stage_spec), run_flag
            assert "preset" not in stage_help + run_help, run_flag


def test_generate_and_run_help_agree_on_temperature_and_the_filter():
    for flag, alone, preset in (("--temperature", 1.0, 2.0), ("--min-confidence", 0.0, 0.99)):
        assert _option("generate", flag).default == alone and _option("run", flag).default == preset
        assert f"(augment run preset: {preset})" in _option("generate", flag).help
        assert f"(augment run preset; augment generate alone: {alone})" in _option("run", flag).help
    assert _option("classifiers", "--seeds").default == 3 and _option("run", "--seeds").default == 1


def test_the_runs_stage_configs_carry_its_options():
    cfg = PipelineConfig(out="/tmp/run", n=5000, temperature=1.5, seed=3, limit=1000, classifier_epochs=2)
    synthetic = stage_config(cfg, "synthetic", workers=2)
    assert (synthetic.n, synthetic.temperature, synthetic.seed, synthetic.out) == (5000, 1.5, 3, "/tmp/run/synthetic")
    assert synthetic.workers is None  # generation sizes its own actor pool
    gan, judge = stage_config(cfg, "gan", 2), stage_config(cfg, "judge", 2)
    assert (gan.limit, gan.seed, gan.workers, judge.limit, judge.epochs) == (1000, 3, 2, 1000, 4)
    classifiers = stage_config(cfg, "classifier", 2)
    assert (classifiers.epochs, classifiers.cas_rows, classifiers.seeds) == (2, 5000, 1)
    assert stage_config(cfg, "report", 2).classifiers == "/tmp/run/classifier"


def test_the_runs_gan_and_judge_never_train_on_the_classifiers_validation_rows():
    # the default run holds out MNIST's last 5,000 train rows to pick each classifier's best epoch
    for options, rows in (
        ({}, 55_000),
        ({"limit": 58_000}, 55_000),
        ({"limit": 1_000}, 1_000),
        ({"validation_rows": 10_000}, 50_000),
        ({"validation_rows": 0}, None),  # no held-out rows: the whole split, as --limit says
        ({"validation_rows": 0, "limit": 58_000}, 58_000),
    ):
        cfg = PipelineConfig(out="/tmp/run", **options)
        assert (stage_config(cfg, "gan", 2).limit, stage_config(cfg, "judge", 2).limit) == (rows, rows), options
    assert stage_config(PipelineConfig(out="/tmp/run"), "classifier", 2).validation_rows is None  # its own 5,000


def test_bounds_live_with_the_declaration():
    with pytest.raises(AugmentError, match=r"--temperature must be in \(0, 3\] \(got 5\)"):
        SyntheticConfig(checkpoint="g", out="o", n=10, temperature=5)
    with pytest.raises(AugmentError, match="--classifier-epochs must be at least 1"):
        PipelineConfig(classifier_epochs=0)  # the run's flag names the run's option
    with pytest.raises(AugmentError, match="unknown --arch 'resnet': choose one of dcgan, sagan, mlp"):
        PipelineConfig(arch="resnet")


def test_print_config_then_config_repeats_a_command_and_the_command_line_wins(run_cli, tmp_path):
    printed = run_cli(
        "generate", "--checkpoint", "gan", "--out", "syn", "--n", 5, "--temperature", 1.5, "--print-config"
    )
    assert printed.returncode == 0, printed.stderr
    settings = yaml.safe_load(printed.stdout)
    assert settings["n"] == 5 and settings["temperature"] == 1.5 and settings["checkpoint"].endswith("/gan")
    assert "overwrite" not in settings  # what to do this time, not a setting
    assert set(settings) == {spec.name for spec in option_fields(SyntheticConfig)} - {"overwrite"}
    path = tmp_path / "generate.yaml"
    path.write_text(printed.stdout)
    again = run_cli("generate", "--config", path, "--print-config")
    assert yaml.safe_load(again.stdout) == settings
    changed = yaml.safe_load(run_cli("generate", "--config", path, "--seed", 7, "--print-config").stdout)
    assert changed == {**settings, "seed": 7}


def test_a_run_records_the_file_its_config_option_takes(tmp_path):
    cfg = PipelineConfig(out=str(tmp_path / "run"), n=1000, seeds=2)
    recorded = yaml.safe_load(yaml.safe_dump(settings_of(cfg)))
    assert PipelineConfig(**recorded) == cfg
    assert {"force", "stages", "overwrite"}.isdisjoint(recorded)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("nonsense: 1\n", "unknown option 'nonsense'"),
        ("- a list\n", "expected option: value lines"),
        ("n: [\n", "--config"),
    ],
)
def test_a_bad_config_file_is_one_line(run_cli, tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert_one_line_error(run_cli("run", "--config", path, "--out", tmp_path / "out"), fragment)
    assert not (tmp_path / "out").exists()


def test_a_missing_required_option_is_one_line(run_cli):
    assert_one_line_error(run_cli("merge", "--real", "r", "--out", "o"), "--synthetic is required")


def test_internal_fields_are_not_options():
    """A field without option() (a fault-injection hook) is no flag of its command."""
    from augment.stages.gan.config import GanConfig

    assert "fail_at_epoch" in {spec.name for spec in fields(GanConfig)}
    assert not any("--fail-at-epoch" in param.opts for param in COMMANDS["train"].params)
    assert any("--ema-decay" in param.opts for param in COMMANDS["train"].params)
