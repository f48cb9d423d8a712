"""`augment app`: every page on a tiny run with Streamlit's AppTest, the downloads' content, what a
missing piece shows, refusal of pickled weights, and the launcher's one-line refusals."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import socket
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from augment.app import dataset_stats, digits
from augment.app.locate import locate
from augment.app.main_path import MAIN_SCRIPT, RUN_ENV
from augment.core import schema
from augment.models.generator_file import load_generator
from augment.stages.gan import artifacts
from augment.stages.merged import merge as merged_stage
from augment.stages.merged.config import MergedConfig
from augment.stages.real import export as real_stage
from augment.stages.real.config import RealConfig
from augment.stages.report import evaluate as report_stage
from augment.stages.synthetic import generate as synthetic_stage
from augment.stages.synthetic.config import SyntheticConfig
from augment.stages.synthetic.synthesis import DigitScorer
from tests.conftest import assert_one_line_error
from tests.fixtures import tiny_report, write_tiny_dataset, write_untrained_models

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

PAGE_TIMEOUT_S = 120


def write_training_pictures(gan: Path, epochs: int = 2) -> None:
    generator, info = load_generator(str(gan))
    z, labels = artifacts.fixed_grid_inputs(info["spec"]["latent_dim"], 10, seed=0)
    rows = []
    for epoch in range(1, epochs + 1):
        artifacts.write_grid(str(gan), epoch, artifacts.sample_grid_png(generator, z, labels, nrow=10))
        rows.append({column: float(epoch) for column in artifacts.METRIC_COLUMNS} | {"acc_real": 0.5, "acc_fake": 0.25})
    artifacts.write_metrics_csv(str(gan), rows)
    artifacts.write_progress_gif(str(gan), epochs)


@pytest.fixture(scope="module")
def tiny_run(ray_local, tmp_path_factory) -> Path:
    """An `augment run`-shaped folder: gan/ (with pictures), judge/, real/, synthetic/, merged/, report/."""
    root = tmp_path_factory.mktemp("app-run")
    tiny = write_tiny_dataset(root / "data", n_train=200, n_test=100, learnable=True)
    gan, judge = write_untrained_models(root)
    write_training_pictures(gan)
    real_stage.run(RealConfig(out=str(root / "real"), data_root=str(tiny.root), download=False))
    synthetic_stage.run(SyntheticConfig(checkpoint=str(gan), judge=str(judge), n=300, out=str(root / "synthetic")))
    merged_stage.run(
        MergedConfig(
            real=str(root / "real"), synthetic=str(root / "synthetic"), out=str(root / "merged"), max_synthetic=100
        )
    )
    report_stage.run(tiny_report(gan, judge, root / "report", tiny.root))
    return root


def open_app(monkeypatch, run: Path | str | None, page: str = "Generate") -> AppTest:
    if run is None:
        monkeypatch.delenv(RUN_ENV, raising=False)
    else:
        monkeypatch.setenv(RUN_ENV, str(run))
    app = AppTest.from_file(str(MAIN_SCRIPT), default_timeout=PAGE_TIMEOUT_S).run()
    if page != "Generate":
        app.sidebar.radio(key="page").set_value(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def texts(app: AppTest) -> str:
    return "\n".join(
        e.value for kind in ("info", "warning", "error", "caption", "markdown") for e in getattr(app, kind)
    )


def test_locate_finds_every_piece_of_a_run_folder(tiny_run):
    layout = locate(str(tiny_run))
    assert layout.gan == str(tiny_run / "gan") and layout.judge == str(tiny_run / "judge")
    assert layout.report == str(tiny_run / "report")
    assert layout.datasets == {s: str(tiny_run / s) for s in ("synthetic", "merged", "real")}
    assert locate(str(tiny_run / "gan")).gan == str(tiny_run / "gan")
    assert locate(str(tiny_run / "synthetic")).datasets == {"synthetic": str(tiny_run / "synthetic")}
    assert locate(str(tiny_run / "report")).report == str(tiny_run / "report")


@pytest.mark.parametrize("page", ["Generate", "Training", "Dataset", "Report"])
def test_every_page_renders_on_a_tiny_run(tiny_run, monkeypatch, page):
    app = open_app(monkeypatch, tiny_run, page)
    assert not app.error, [e.value for e in app.error]
    assert app.header[0].value.startswith(page)
    if page == "Training":
        assert len(app.image) == 2  # the epoch's grid and progress.gif
        assert "epoch 2" in app.image[0].captions[0]
        app.select_slider[0].set_value(1).run()
        assert "epoch 1" in app.image[0].captions[0]
        assert list(app.dataframe[0].value.index) == [1.0, 2.0]  # one metrics row per epoch
    if page == "Dataset":
        metrics = {m.label: m.value for m in app.metric}
        assert metrics["Rows"] == "300" and metrics["Synthetic share"] == "100.0%"
        assert len(app.image[0].value) == 10  # a mean image per class
        assert [len(image.value) for image in app.image[1:]] == [8] * 10  # default random samples per class
        app.selectbox[0].set_value("merged").run()
        metrics = {m.label: m.value for m in app.metric}
        assert metrics["Rows"] == "300"  # 200 real + 100 synthetic
        assert metrics["Synthetic share"] == "33.3%"
        card = texts(app)  # the folder's README.md, its YAML header left to the Hub
        assert "## How the rows were made" in card and "### Hugging Face datasets" in card and "configs:" not in card
    if page == "Report":
        metrics = {m.label: m.value for m in app.metric}
        report = json.loads((tiny_run / "report" / "report.json").read_text())
        # led by classifiers that never saw the filter; this tiny run trained none, and says so
        assert "overall" not in report["independent_fidelity"] and metrics["Label fidelity"] == "not measured"
        agreed = f"The judge that filtered the rows agrees with {report['label_fidelity']['overall']:.2%} of them"
        assert agreed in texts(app)
        assert metrics["CAS (train synthetic, test real)"] == "not measured"
        assert "Not measured" in texts(app)
        assert len(app.image) == 2  # confusion and samples plots (no gain plot without a gain table)


def _captured_media(monkeypatch) -> list:
    """The in-memory media stores AppTest creates, so a download button's bytes can be read back."""
    import streamlit.testing.v1.app_test as app_test_module

    stores = []

    class RecordingStorage(app_test_module.MemoryMediaFileStorage):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            stores.append(self)

    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", RecordingStorage)
    return stores


def download(stores: list, button) -> bytes:
    name = button.proto.url.rsplit("/", 1)[-1]
    for store in reversed(stores):
        try:
            return store.get_file(name).content
        except Exception:  # noqa: BLE001 - not in this run's store
            continue
    raise AssertionError(f"no media file {name}")


def test_generating_20_digits_of_class_3_shows_20_images_and_a_20_row_parquet(tiny_run, monkeypatch):
    stores = _captured_media(monkeypatch)
    app = open_app(monkeypatch, tiny_run)
    app.multiselect[0].set_value([3])
    app.number_input[0].set_value(20)
    app.button[0].click().run()
    assert not app.exception and not app.error
    shown = app.image[0]
    assert len(shown.value) == 20
    assert all(caption.startswith("3 · ") for caption in shown.captions)

    parquet = next(b for b in app.get("download_button") if "Parquet" in b.proto.label)
    table = pq.read_table(pa.BufferReader(download(stores, parquet)))
    schema.check_schema(table.schema, where="download")
    assert table.num_rows == 20
    assert set(table["label"].to_pylist()) == {3}
    assert table["source"].cast(pa.string()).to_pylist() == ["synthetic"] * 20
    assert table["id"].to_pylist() == list(range(20))
    confidence = table["confidence"].to_numpy()
    assert ((0 <= confidence) & (confidence <= 1)).all()
    assert [f"3 · {p:.2f}" for p in confidence] == shown.captions  # captions are the stored rows' scores

    png = next(b for b in app.get("download_button") if "PNG" in b.proto.label)
    assert download(stores, png)[:8] == b"\x89PNG\r\n\x1a\n"


def test_digits_are_reproducible_and_temperature_and_truncation_act(tiny_run):
    scorer = DigitScorer(str(tiny_run / "gan"), str(tiny_run / "judge"))
    request = digits.DigitRequest(classes=(1, 7), count=11, seed=5)
    first, again = digits.make_digits(scorer, request), digits.make_digits(scorer, request)
    assert np.array_equal(first.images, again.images)
    assert first.labels.tolist() == [1] * 6 + [7] * 5
    z = digits.request_latents(digits.DigitRequest((0,), 500, seed=1, truncation=0.5), 128)
    assert float(z.abs().max()) <= 0.5 and float(z.std()) > 0.2
    cold = digits.request_latents(digits.DigitRequest((0,), 500, seed=1, temperature=0.5), 128)
    assert np.allclose(cold.numpy(), 0.5 * digits.request_latents(digits.DigitRequest((0,), 500, seed=1), 128).numpy())
    other = digits.make_digits(scorer, digits.DigitRequest(classes=(1, 7), count=11, seed=6))
    assert not np.array_equal(first.images, other.images)


def test_dataset_figures_come_from_the_files(tiny_run):
    merged = dataset_stats.summarize(str(tiny_run / "merged"))
    table = pq.read_table(str(tiny_run / "merged" / "train"))  # the whole tiny table, to check the streamed figures
    labels, sources = table["label"].to_numpy(), np.array(table["source"].cast(pa.string()).to_pylist())
    for source in ("real", "synthetic"):
        assert merged.rows_by_source[source] == np.bincount(labels[sources == source], minlength=10).tolist()
    images = schema.images_to_numpy(table["image"]).astype(np.float64)
    expected = np.stack([images[labels == c].mean(axis=0) for c in range(10)])
    assert np.allclose(merged.mean_images, expected, atol=1e-3)
    assert merged.confidence_counts.sum() == 100  # only synthetic rows carry a confidence
    picked = dataset_stats.random_samples(str(tiny_run / "merged"), per_class=3, seed=0)
    assert sorted(picked) == list(range(10)) and all(len(images) == 3 for images, _ in picked.values())
    assert np.array_equal(picked[4][0], dataset_stats.random_samples(str(tiny_run / "merged"), 3, 0)[4][0])


def test_missing_pieces_give_messages_not_tracebacks(tiny_run, monkeypatch, tmp_path):
    bare = tmp_path / "bare-gan"
    shutil.copytree(tiny_run / "gan", bare, ignore=shutil.ignore_patterns("samples", "*.csv", "*.gif"))
    for page in ("Generate", "Training", "Dataset", "Report"):
        app = open_app(monkeypatch, bare, page)
        assert not app.error, (page, [e.value for e in app.error])
        shown = texts(app)
        if page == "Generate":
            assert "No judge" in shown and len(app.image) == 0
        else:
            assert "No " in shown or "no " in shown, (page, shown)
    for page in ("Generate", "Training", "Dataset", "Report"):
        app = open_app(monkeypatch, None, page)
        assert not app.error and "No run folder given" in texts(app)
    app = open_app(monkeypatch, tmp_path / "nowhere")
    assert "does not exist" in app.sidebar.error[0].value


def test_a_pickled_generator_is_refused_and_never_unpickled(tiny_run, monkeypatch, tmp_path):
    run = tmp_path / "evil"
    shutil.copytree(tiny_run / "gan", run)
    marker = tmp_path / "pickle-ran"
    payload = pickle.dumps(_Payload(str(marker)))
    (run / "generator.safetensors").write_bytes(payload)
    info = json.loads((run / "generator.json").read_text())
    info["sha256"] = hashlib.sha256(payload).hexdigest()  # the digest check alone would not stop it
    (run / "generator.json").write_text(json.dumps(info))
    app = open_app(monkeypatch, run)
    assert len(app.error) == 1 and "generator" in app.error[0].value
    assert "Traceback" not in app.error[0].value
    assert not marker.exists()


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _busy_port() -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


BAD_OPTIONS = {  # command line -> what its one-line refusal says
    "--host 0.0.0.0": "pass --allow-remote",
    "--host ::": "pass --allow-remote",
    "--port 70000": "--port must be 1-65535",
    "--run /nonexistent/run": "does not exist",
}


@pytest.mark.parametrize("options", BAD_OPTIONS)
def test_app_refuses_bad_options_in_one_line(run_cli, options):
    assert_one_line_error(run_cli("app", *options.split()), BAD_OPTIONS[options])


def test_app_refuses_a_port_in_use(run_cli):
    with _busy_port() as holder:
        port = holder.getsockname()[1]
        assert_one_line_error(run_cli("app", "--port", port), f"cannot serve on 127.0.0.1:{port}")


def test_app_without_streamlit_says_how_to_install_it(run_cli, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "streamlit" else real_find_spec(name, *a)
    )
    assert_one_line_error(run_cli("app"), "pip install 'augment[app]'")
