from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.nn.utils.parametrize import is_parametrized

from augment.core.errors import AugmentError
from augment.models.checkpoint import STATE_FILE, load_state, save_state
from augment.models.classifier import ClassifierSpec, DigitClassifier, fuse_for_inference
from augment.models.diff_augment import cutout, diff_augment, parse_policy, translate
from augment.models.fast_ops import MaxPool2ThenRelu, relu_
from augment.models.gan import ARCHS, GanSpec, build_discriminator, build_generator, init_weights
from augment.models.gan_step import GanStep, make_ema
from augment.models.generator_file import WEIGHTS_FILE, export_generator, load_generator
from augment.models.generator_inference import SubPixelTail, TransposedConvAsMatmul, for_inference


@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_maps_noise_and_labels_to_images_and_logits(arch):
    spec = GanSpec(arch=arch)
    generator, discriminator = build_generator(spec), build_discriminator(spec)
    images = generator(torch.randn(6, spec.latent_dim), torch.arange(6))
    assert images.shape == (6, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1  # tanh output, the data layer's GAN range
    assert discriminator(images, torch.arange(6)).shape == (6,)
    assert any(is_parametrized(m, "weight") for m in discriminator.modules())  # spectral norm on by default
    assert not any(is_parametrized(m) for m in build_discriminator(GanSpec(arch=arch, spectral_norm=False)).modules())


def test_generator_is_conditioned_on_the_label():
    torch.manual_seed(0)
    generator = build_generator(GanSpec()).eval()
    z = torch.randn(1, 128).repeat(2, 1)
    a, b = generator(z, torch.tensor([3, 7]))
    assert not torch.allclose(a, b)


def test_discriminator_is_conditioned_on_the_label():
    torch.manual_seed(0)
    discriminator = build_discriminator(GanSpec()).eval()
    images = torch.rand(1, 1, 28, 28).repeat(2, 1, 1, 1)
    logits = discriminator(images, torch.tensor([3, 7]))
    assert logits[0] != logits[1]


def test_sagan_adds_self_attention_to_both_networks():
    spec = GanSpec(arch="sagan")
    for network in (build_generator(spec), build_discriminator(spec)):
        assert any(type(m).__name__ == "SelfAttention" for m in network.modules())


@pytest.mark.parametrize("loss, policy", [("bce", ()), ("hinge", ()), ("bce", ("translation", "cutout"))])
def test_a_step_updates_both_networks_and_the_ema(loss, policy):
    torch.manual_seed(0)
    spec = GanSpec(width=16)
    generator, discriminator = build_generator(spec), build_discriminator(spec)
    generator.apply(init_weights)
    discriminator.apply(init_weights)
    before_g = [p.detach().clone() for p in generator.parameters()]
    before_d = [p.detach().clone() for p in discriminator.parameters()]
    ema = make_ema(generator, decay=0.5)
    step = GanStep(
        generator,
        discriminator,
        torch.optim.Adam(generator.parameters(), 2e-4, betas=(0.5, 0.999)),
        torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999)),
        ema,
        loss,
        spec.latent_dim,
        policy,
    )
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    stats = step(real, torch.arange(8) % 10)
    stats = step(real, torch.arange(8) % 10)
    assert stats.shape == (6,) and torch.isfinite(stats).all()
    assert 0 <= stats[2] <= 1 and 0 <= stats[3] <= 1  # D(x), D(G(z)) are probabilities
    assert any(not torch.equal(a, b) for a, b in zip(before_g, generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before_d, discriminator.parameters()))
    ema_weights = list(ema.module.parameters())
    assert any(not torch.equal(e, g) for e, g in zip(ema_weights, generator.parameters()))  # averaged, not copied


def _one_step(arch: str, autocast_dtype: torch.dtype | None):
    torch.manual_seed(0)
    spec = GanSpec(arch=arch, width=16)
    generator, discriminator = build_generator(spec), build_discriminator(spec)
    generator.apply(init_weights)
    discriminator.apply(init_weights)
    initial = [p.detach().clone() for p in (*generator.parameters(), *discriminator.parameters())]
    step = GanStep(
        generator,
        discriminator,
        torch.optim.Adam(generator.parameters(), 2e-4, betas=(0.5, 0.999)),
        torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999)),
        make_ema(generator, decay=0.5),
        "bce",
        spec.latent_dim,
        autocast_dtype=autocast_dtype,
    )
    real = torch.rand(32, 1, 28, 28) * 2 - 1
    stats = step(real, torch.arange(32) % 10)
    moved = [p.detach() - p0 for p, p0 in zip((*generator.parameters(), *discriminator.parameters()), initial)]
    return stats, moved, [*generator.parameters(), *discriminator.parameters(), *step.ema.parameters()]


@pytest.mark.parametrize("arch", ARCHS)
def test_a_bf16_autocast_step_keeps_fp32_weights_and_follows_the_fp32_step(arch):
    stats32, moved32, _ = _one_step(arch, None)
    stats16, moved16, params16 = _one_step(arch, torch.bfloat16)
    assert all(p.dtype == torch.float32 for p in params16)  # weights, EMA and so Adam's state stay fp32
    assert torch.isfinite(stats16).all()
    assert not torch.equal(stats16, stats32)  # the forwards really ran in bf16
    assert torch.allclose(stats16[:4], stats32[:4], atol=0.005)  # loss_D, loss_G, D(x), D(G(z))
    # Adam's first update is about lr * sign(gradient): bf16 gradients point the same way.
    agree = torch.cat([(a.sign() == b.sign()).flatten() for a, b in zip(moved16, moved32)]).float().mean()
    assert agree > 0.9


def test_models_never_import_ray():
    code = (
        "import sys, augment.models.gan, augment.models.gan_step, augment.models.checkpoint, "
        "augment.models.generator_file; print(any(m == 'ray' or m.startswith('ray.') for m in sys.modules))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


def test_checkpoint_round_trip(tmp_path):
    model = build_generator(GanSpec(width=8))
    save_state(tmp_path, {"epoch": 3, "generator": model.state_dict()})
    state = load_state(tmp_path)
    assert state["epoch"] == 3
    for name, tensor in model.state_dict().items():
        assert torch.equal(state["generator"][name], tensor)


class _Payload:
    """Unpickling this would run `touch`; a safe loader must refuse before that happens."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_carrying_a_pickle_payload_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "payload-ran"
    torch.save({"epoch": 1, "evil": _Payload(marker)}, tmp_path / STATE_FILE)
    with pytest.raises(AugmentError, match="refusing to load .*pickled code or objects"):
        load_state(tmp_path)
    assert not marker.exists()


def test_exported_generator_loads_and_a_tampered_one_is_refused(tmp_path):
    torch.manual_seed(0)
    spec = GanSpec(arch="mlp")
    generator = build_generator(spec).eval()
    info = export_generator(str(tmp_path), generator, spec, dataset="mnist", epochs=1)
    loaded, loaded_info = load_generator(str(tmp_path))
    assert loaded_info["sha256"] == info["sha256"] and loaded_info["spec"]["arch"] == "mlp"
    z, labels = torch.randn(4, spec.latent_dim), torch.arange(4)
    with torch.no_grad():
        assert torch.equal(loaded(z, labels), generator(z, labels))
    weights = tmp_path / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(AugmentError, match="does not match the sha256"):
        load_generator(str(tmp_path))


def test_loading_a_folder_without_a_generator_is_a_clear_error(tmp_path):
    with pytest.raises(AugmentError, match="holds no exported generator"):
        load_generator(str(tmp_path))


def test_ema_warms_up_instead_of_clinging_to_the_initial_weights():
    torch.manual_seed(0)
    generator = build_generator(GanSpec(arch="mlp"))
    ema = make_ema(generator, decay=0.999)
    initial = [p.detach().clone() for p in generator.parameters()]
    for _ in range(200):
        with torch.no_grad():
            for p in generator.parameters():
                p.add_(0.01)
        ema.update_parameters(generator)
    # 200 updates at a fixed 0.999 would keep 82% of the start; the warmed-up EMA follows the weights.
    for start, now, averaged in zip(initial, generator.parameters(), ema.module.parameters()):
        assert (averaged - start).abs().mean() > 0.5 * (now - start).abs().mean()


def _digit_like(n: int) -> torch.Tensor:
    """Background -1 with a bright 6x6 block in the middle: easy to follow through a transform."""
    images = torch.full((n, 1, 28, 28), -1.0)
    images[:, :, 11:17, 11:17] = torch.linspace(0, 1, 36).view(6, 6)
    return images


def test_translation_shifts_each_image_whole_by_at_most_four_pixels_filling_background():
    torch.manual_seed(0)
    images = _digit_like(64)
    moved = translate(images)
    assert moved.shape == images.shape and moved.stride()[1] == 1  # channels_last, as the GAN runs
    offsets = set()
    for before, after in zip(images, moved):
        found = [
            (dy, dx)
            for dy in range(-4, 5)
            for dx in range(-4, 5)
            if torch.equal(torch.roll(before, (dy, dx), dims=(1, 2)), after)
        ]
        assert len(found) == 1  # an exact shift of the whole image; what rolls in is background
        offsets.add(found[0])
    assert len(offsets) > 20  # independent draws per image


def test_cutout_blanks_one_square_of_half_the_side_to_background():
    torch.manual_seed(1)
    images = torch.rand(256, 1, 28, 28) * 2 - 1 + 3  # no pixel is background before the cutout
    blanked = cutout(images) == -1.0
    counts = blanked.flatten(1).sum(1)
    assert counts.max() == 14 * 14 and counts.min() > 0  # whole squares, or clipped at the border
    for mask in blanked[:, 0]:
        rows, cols = mask.any(1).nonzero().ravel(), mask.any(0).nonzero().ravel()
        assert mask.sum() == len(rows) * len(cols) and len(rows) <= 14 and len(cols) <= 14  # one rectangle


def test_diff_augment_is_differentiable_seeded_and_policies_are_checked():
    images = _digit_like(8).requires_grad_()
    torch.manual_seed(2)
    first = diff_augment(images, ("translation", "cutout"))
    torch.manual_seed(2)
    assert torch.equal(first, diff_augment(images, ("translation", "cutout")))
    first.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert diff_augment(images, ()) is images
    assert parse_policy(" translation, cutout ") == ("translation", "cutout") and parse_policy(None) == ()
    with pytest.raises(ValueError, match="unknown --diff-augment policy 'color'"):
        parse_policy("translation,color")


@pytest.mark.parametrize("arch", ARCHS)
def test_the_inference_form_computes_the_same_images(arch):
    torch.manual_seed(0)
    spec = GanSpec(arch=arch, width=16)
    generator = build_generator(spec)
    generator.apply(init_weights)
    generator.train()
    for _ in range(3):  # non-trivial BatchNorm running statistics, which the inference form folds in
        generator(torch.randn(64, spec.latent_dim), torch.randint(0, 10, (64,)))
    generator.eval()
    fast = for_inference(generator)
    z, labels = torch.randn(256, spec.latent_dim), torch.arange(256) % 10
    with torch.inference_mode():
        expected, got = generator(z, labels), fast(z, labels)
        got_bf16 = for_inference(generator, torch.bfloat16)(z.bfloat16(), labels)
    assert got.shape == expected.shape == (256, 1, 28, 28)
    assert torch.allclose(got, expected, atol=1e-5)
    # bf16 keeps 8 significant bits: within a few uint8 steps of the fp32 image, most pixels exact
    steps = (got_bf16.float() - expected).abs() * 127.5
    assert got_bf16.shape == expected.shape  # conv archs sum their last layer in fp32 and return fp32
    assert steps.max() < 4 and steps.mean() < 0.25
    assert not generator.training and not fast.training
    assert sum(p.numel() for p in fast.parameters()) < sum(p.numel() for p in generator.parameters())


def test_the_fused_judge_computes_the_same_probabilities():
    torch.manual_seed(0)
    model = DigitClassifier(ClassifierSpec())
    model.train()
    for _ in range(3):
        model(torch.rand(32, 1, 28, 28) * 2 - 1)
    model.eval()
    images = torch.rand(64, 1, 28, 28) * 2 - 1
    with torch.inference_mode():
        expected = model(images)
        got = fuse_for_inference(model)(images.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(got, expected, atol=1e-5)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fuse_for_inference(model).modules())
    with torch.inference_mode():
        in_bf16 = fuse_for_inference(model, torch.bfloat16)(
            images.bfloat16().contiguous(memory_format=torch.channels_last)
        )
    probabilities = torch.softmax(expected, 1)
    assert (torch.softmax(in_bf16.float(), 1) - probabilities).abs().max() < 0.02


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_inference_form_stays_on_the_generators_device(arch, dtype):
    """CI has no GPU; the meta device catches a tensor the rearrangement leaves on the CPU."""
    fast = for_inference(build_generator(GanSpec(arch=arch)).to("meta"), dtype)
    tensors = [*fast.parameters(), *fast.buffers()]
    tensors += [m.bias for m in fast.modules() if isinstance(m, TransposedConvAsMatmul) and m.bias is not None]
    assert {t.device.type for t in tensors} == {"meta"}
    assert {t.dtype for t in tensors if t.is_floating_point()} <= {dtype, torch.float32}


def test_the_sub_pixel_tail_computes_the_two_transposed_convs():
    """Checked in fp32, where any slip in the phase bookkeeping would show far above rounding."""
    torch.manual_seed(0)
    up, last = torch.nn.ConvTranspose2d(32, 16, 4, 2, 1), torch.nn.ConvTranspose2d(16, 3, 4, 2, 1)
    x = torch.randn(8, 32, 7, 7).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        expected = last(torch.relu(up(x)))
        got = SubPixelTail(up, TransposedConvAsMatmul(last))(x)
        as_matmul = TransposedConvAsMatmul(last)(torch.relu(up(x)))
    assert got.shape == expected.shape == (8, 3, 28, 28)
    assert torch.allclose(got, expected, atol=1e-5) and torch.allclose(as_matmul, expected, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("size", [28, 14, 7])  # 7: the odd map the judge's last block pools (floor)
def test_fast_relu_and_pooling_give_exactly_the_library_values(dtype, size):
    torch.manual_seed(0)
    x = torch.randn(8, 16, size, size).to(dtype).contiguous(memory_format=torch.channels_last)
    x[0, 0, 0, :3] = torch.tensor([-0.0, 0.0, -1e-30])  # signed zero and a tiny negative
    expected = torch.relu(torch.nn.functional.max_pool2d(x, 2))
    got = MaxPool2ThenRelu()(x)
    assert got.dtype == dtype and got.shape == expected.shape and torch.equal(got, expected)
    assert torch.equal(relu_(x.clone()), torch.relu(x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fast_pooling_passes_the_library_gradient_back(dtype):
    # A dtype view (the bf16 bit trick) has no gradient: used on a tensor that needs one, everything
    # before the pooling silently stopped learning.
    torch.manual_seed(0)
    x = torch.randn(4, 8, 7, 7).to(dtype).requires_grad_()
    weights = torch.randn(4, 8, 3, 3).to(dtype)
    (MaxPool2ThenRelu()(x) * weights).sum().backward()
    got, x.grad = x.grad, None
    (torch.relu(torch.nn.functional.max_pool2d(x, 2)) * weights).sum().backward()
    assert got is not None and torch.equal(got, x.grad)


def test_the_classifier_trains_every_layer_in_channels_last():
    torch.manual_seed(0)
    model = DigitClassifier(ClassifierSpec())
    assert model.body[1][0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.nn.functional.cross_entropy(model(torch.randn(8, 1, 28, 28)), torch.arange(8)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_the_ema_warms_up_its_decay_in_one_fused_update_with_its_count_on_the_cpu():
    torch.manual_seed(0)
    generator = build_generator(GanSpec(width=16))
    ema = make_ema(generator, decay=0.9)
    assert set(ema.state_dict()) == {
        "n_averaged",
        *(f"module.{k}" for k in generator.state_dict()),
    }  # checkpoints unchanged
    ema.update_parameters(generator)  # the first update copies
    assert all(torch.equal(e, g) for e, g in zip(ema.module.parameters(), generator.parameters()))
    before = [p.detach().clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in generator.parameters():
            p.add_(1.0)
    ema.update_parameters(generator)  # t = 1: rate min(0.9, 2/11)
    rate = 2 / 11
    for old, new, current in zip(before, ema.module.parameters(), generator.parameters()):
        torch.testing.assert_close(new, old * rate + current * (1 - rate))
    later = [p.detach().clone() for p in ema.module.parameters()]
    for _ in range(200):
        ema.update_parameters(generator)
    assert int(ema.n_averaged) == 202 and ema.n_averaged.device.type == "cpu"
    first = next(iter(ema.module.parameters()))
    torch.testing.assert_close(first, next(iter(generator.parameters())), atol=1e-6, rtol=0)  # decay capped at 0.9
    assert not torch.equal(later[0], first)


def test_d_can_be_narrower_than_g_and_the_run_records_it_only_when_set():
    """--d-width: D is most of a training step's FLOPs (issue 39), so it has a width of its own."""
    from augment.stages.gan.config import GanConfig

    spec = GanSpec(width=32, d_width=16)
    generator, discriminator = build_generator(spec), build_discriminator(spec)
    assert discriminator.features[0].out_channels == 16 and generator.body[0].out_channels == 32
    assert discriminator(generator(torch.randn(4, 128), torch.arange(4)), torch.arange(4)).shape == (4,)
    assert GanSpec.from_dict(spec.to_dict()) == spec and "d_width" not in GanSpec().to_dict()
    legacy = GanConfig(out="/tmp/gan", width=64)  # the one width before per-device defaults
    assert "width" not in legacy.identity() and "d_width" not in legacy.identity()  # older runs keep theirs
    narrow = GanConfig(out="/tmp/gan", width=32, d_width=16)
    assert (narrow.identity()["width"], narrow.identity()["d_width"]) == (32, 16)
    assert narrow.spec(num_classes=10) == GanSpec(width=32, d_width=16)


def test_gan_widths_default_by_device_and_an_explicit_width_keeps_d_equal():
    """CPUs get the narrow pair (issue 39: the GAN is most of a CPU run's time, near the matmul rate),
    --gpu the wide one; --width alone means D as wide as G, as before; --d-width alone moves only D."""
    from augment.stages.gan.config import CPU_WIDTHS, GPU_WIDTHS, GanConfig

    cpu, gpu = GanConfig(out="/tmp/gan"), GanConfig(out="/tmp/gan", gpu=True)
    assert cpu.spec(10).width == CPU_WIDTHS[0] and (cpu.spec(10).d_width or cpu.spec(10).width) == CPU_WIDTHS[1]
    assert (gpu.width, gpu.d_width or gpu.width) == GPU_WIDTHS and "width" not in gpu.identity()
    assert cpu.identity()["width"] == CPU_WIDTHS[0]
    assert GanConfig(out="/tmp/gan", width=48).spec(10) == GanSpec(width=48)
    assert GanConfig(out="/tmp/gan", d_width=16).spec(10) == GanSpec(width=CPU_WIDTHS[0], d_width=16)
    assert GanConfig(out="/tmp/gan", width=32, d_width=32).d_width is None  # recorded as "D = G"


def test_gan_loss_defaults_by_device_and_enters_the_identity_resolved():
    """The hinge loss on CPUs (measured on the narrow GAN, issue 39), bce with --gpu (the wide GAN's
    measured recipe); an explicit --loss wins either way, and a run records the loss it trained with."""
    from augment.stages.gan.config import GanConfig

    assert GanConfig(out="/tmp/gan").loss == "hinge" and GanConfig(out="/tmp/gan", gpu=True).loss == "bce"
    assert GanConfig(out="/tmp/gan", loss="bce").identity()["loss"] == "bce"
    assert GanConfig(out="/tmp/gan", gpu=True, loss="hinge").identity()["loss"] == "hinge"


def test_d_lr_gives_d_its_own_learning_rate_and_enters_the_identity_only_when_set():
    """--d-lr: the two time-scale update rule (issue 39 asks for it measured); runs without it keep
    the identity they had."""
    from augment.stages.gan.config import GanConfig
    from augment.stages.gan.worker import _Nets

    ttur = GanConfig(out="/tmp/gan", lr=1e-4, d_lr=4e-4)
    nets = _Nets.build(ttur, ttur.spec(10), torch.device("cpu"), world=1)
    assert nets.g_optimizer.param_groups[0]["lr"] == 1e-4 and nets.d_optimizer.param_groups[0]["lr"] == 4e-4
    assert ttur.identity()["d_lr"] == 4e-4 and "d_lr" not in GanConfig(out="/tmp/gan").identity()
    same = GanConfig(out="/tmp/gan")
    nets = _Nets.build(same, same.spec(10), torch.device("cpu"), world=1)
    assert nets.d_optimizer.param_groups[0]["lr"] == same.lr == 2e-4


def test_lr_decay_sets_both_learning_rates_from_the_epoch_alone():
    """--lr-decay: G's and D's rates fall by the factor per epoch after the first, computed from the epoch
    (a resumed run gets the same rate); off by default and absent from the identity there."""
    from augment.stages.gan.config import GanConfig
    from augment.stages.gan.worker import _Nets

    cfg = GanConfig(out="/tmp/gan", lr=1e-4, d_lr=4e-4, lr_decay=0.5)
    nets = _Nets.build(cfg, cfg.spec(10), torch.device("cpu"), world=1)
    for epoch, factor in ((1, 1.0), (3, 0.25), (2, 0.5)):
        nets.set_learning_rates(cfg, epoch)
        assert nets.g_optimizer.param_groups[0]["lr"] == pytest.approx(1e-4 * factor)
        assert nets.d_optimizer.param_groups[0]["lr"] == pytest.approx(4e-4 * factor)
    assert cfg.identity()["lr_decay"] == 0.5 and "lr_decay" not in GanConfig(out="/tmp/gan").identity()
    constant = GanConfig(out="/tmp/gan")
    nets = _Nets.build(constant, constant.spec(10), torch.device("cpu"), world=1)
    nets.set_learning_rates(constant, 16)
    assert nets.g_optimizer.param_groups[0]["lr"] == nets.d_optimizer.param_groups[0]["lr"] == 2e-4
