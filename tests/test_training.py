"""A tiny end-to-end run of the torch toolchain on CPU: dataset builder,
teacher training with resume, distillation, evaluation against peers."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from export import sources  # noqa: E402
from export.distill import DistillConfig, distill  # noqa: E402
from export.evaluate import main as evaluate_main  # noqa: E402
from export.train import TrainConfig, grow_from, train  # noqa: E402

from conftest import night_image  # noqa: E402

TINY_NET = {"unshuffle": 2, "channels": [8, 16], "blocks": [1, 1], "emb_dim": 16}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    user = tmp_path_factory.mktemp("user_footage")
    for i in range(12):
        cv2.imwrite(str(user / f"day{i}.png"), np.clip(night_image(220, 260, i)[..., ::-1] * 3.0, 0, 255).astype(np.uint8))
    out = tmp_path_factory.mktemp("data")
    index = sources.build(out, tmp_path_factory.mktemp("cache"), [user], with_packages=False)
    if not index["eval"]:  # the split is a fixed hash of names: make sure the test has one held-out frame
        name = index["train"].pop()
        (out / "train" / f"{name}.png").rename(out / "eval" / f"{name}.png")
        index["eval"].append(name)
        (out / "index.json").write_text(json.dumps(index))
    return out


# the held-out split of known names, pinned: a change of the hash, salt or
# fraction would move frames between train and eval across dataset rebuilds
KNOWN_SPLITS = {"opencv_Megamind": False, "opencv_tree": False, "opencv_lena": True, "opencv_baboon": True,
                "skimage_astronaut": True, "skimage_coffee": False, "skimage_rocket": True, "sklearn_china": False}


def test_builder_split_is_fixed_and_vtest_never_trained(dataset, tmp_path):
    index = json.loads((dataset / "index.json").read_text())
    assert index["train"] and index["eval"]
    assert not set(index["train"]) & set(index["eval"])
    assert {n: sources.is_eval(n) for n in KNOWN_SPLITS} == KNOWN_SPLITS
    assert sources._video_group("opencv_lena_00015") == "opencv_lena"  # frames of one video share a split
    held_out = sum(sources.is_eval(f"frame{i}") for i in range(4000)) / 4000
    assert abs(held_out - sources.EVAL_FRACTION) < 0.03  # a hash split, not all-or-nothing
    assert all(not sources.is_eval(sources._video_group(n)) for n in index["train"])
    assert not any("vtest" in n for n in index["train"])
    # re-running the builder on the same footage gives the same split, decided by the names alone
    user = {Path(src) for n, src in index["sources"].items() if n.startswith("user_")}
    again = [sources.build(tmp_path / f"again{k}", tmp_path / "cache", sorted(user), with_packages=False)
             for k in range(2)]
    assert again[0]["train"] == again[1]["train"] and again[0]["eval"] == again[1]["eval"]
    for name in again[0]["train"] + again[0]["eval"]:
        assert (name in again[0]["eval"]) == sources.is_eval(sources._video_group(name))
    assert set(index["train"]) <= set(again[0]["train"])  # the fixture only moves frames out of train


@pytest.mark.slow  # training
def test_tiny_teacher_trains_resumes_and_distils(dataset, tmp_path):
    cfg = TrainConfig(data=str(dataset), out=str(tmp_path / "teacher"), net=TINY_NET, iterations=3, batch=2,
                      crop=64, checkpoint_every=2, lr_warmup=1)
    last = train(cfg, quiet=True)
    state = torch.load(last, weights_only=False)
    assert state["step"] == 3 and state["history"][0]["hardware"]
    cfg.iterations = 5
    state = torch.load(train(cfg, quiet=True), weights_only=False)
    assert state["step"] == 5 and len(state["history"]) == 2  # resumed, not restarted
    dcfg = DistillConfig(data=str(dataset), teacher=str(last), out=str(tmp_path / "student"), iterations=2,
                         batch=2, crop=64)
    student = torch.load(distill(dcfg), weights_only=False)
    assert student["step"] == 2 and set(student["schedules"]) == {2, 3, 4} and student["teacher_step"] == 5
    cfg.iterations = 7
    train(cfg, quiet=True)  # the teacher's file trains on after the student began
    dcfg.iterations = 3
    student = torch.load(distill(dcfg), weights_only=False)
    assert student["step"] == 3 and student["teacher_step"] == 5  # provenance: the weights it started from
    out = tmp_path / "quality"
    assert evaluate_main(["--data", str(dataset), "--teacher", str(last), "--student", str(tmp_path / "student" / "last.pt"),
                          "--max-side", "64", "--limit", "1", "--no-flicker", "--out", str(out)]) == 0
    summary = json.loads(out.with_suffix(".json").read_text())["summary"]
    assert {"identity", "clahe_nlm", "gamma_wb_nlm", "teacher heun-16 (full)", "student 2-step (torch)"} <= set(summary)
    assert all(0 <= s["all"]["ssim"] <= 1 for s in summary.values())


@pytest.mark.slow  # training
def test_v2_recipe_trains_with_replay_print_and_bf16_then_distils(dataset, tmp_path):
    """The v2 recipe's parts together: context branch and exposure-normalised
    input, batches from the replay pool, print pasted into crops, edge loss,
    bf16 autocast; the student distils from it with the same data recipe."""
    net = {**TINY_NET, "global_branch": 8, "exposure_norm": True}
    cfg = TrainConfig(data=str(dataset), out=str(tmp_path / "t"), net=net, iterations=3, batch=2, crop=64,
                      lr_warmup=1, replay_pool=4, replay_fresh=1, print_fraction=0.5, edge_weight=0.5, bf16="on",
                      threads=1)
    state = torch.load(train(cfg, quiet=True), weights_only=False)
    assert state["step"] == 3 and state["net"]["global_branch"] == 8
    assert all(torch.isfinite(v).all() for v in state["ema"].values() if v.is_floating_point())
    dcfg = DistillConfig(data=str(dataset), teacher=str(tmp_path / "t" / "last.pt"), out=str(tmp_path / "s"),
                         steps=(2,), iterations=2, batch=2, crop=64, replay_pool=4, print_fraction=0.5, bf16="on",
                         white_point_jitter=0.15, colour_anchor=str(tmp_path / "t" / "last.pt"), colour_anchor_weight=1.0)
    student = torch.load(distill(dcfg), weights_only=False)
    assert student["step"] == 2 and set(student["schedules"]) == {2}


def test_white_point_jitter_tints_the_scene_and_keeps_its_brightness():
    from export.camera_model import srgb_to_linear
    from export.dataset import jitter_white_point

    grey = np.full((8, 8, 3), 128, np.uint8)
    tints = [jitter_white_point(grey, 0.15, np.random.default_rng(seed)) for seed in range(50)]
    lin = np.array([srgb_to_linear(t[0, 0] / 255.0) for t in tints])
    assert all((t == t[0, 0]).all() for t in tints)  # one illuminant per crop, not per pixel
    assert np.allclose(np.exp(np.log(lin).mean(axis=1)), srgb_to_linear(128 / 255), rtol=0.02)  # gains' geometric mean 1
    assert 0.08 < np.log(lin / lin.mean(axis=1, keepdims=True)).std() < 0.2  # log-gain spread near sigma
    assert (jitter_white_point(grey, 0.15, np.random.default_rng(1)) == tints[1]).all()  # seeded
    black_white = np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)
    assert jitter_white_point(black_white, 0.15, np.random.default_rng(2))[0, 0].tolist() == [0, 0, 0]


def test_replay_batches_refresh_the_pool_and_keep_pairs_aligned():
    from export.dataset import ReplayBatches

    def pairs():
        i = 0
        while True:
            i += 1
            night = torch.full((3, 4, 4), float(i))
            yield night, night * 2  # the clean frame of pair i is 2 i everywhere
    batches = ReplayBatches(pairs(), pool=6, fresh=2, batch=3, seed=0)
    seen = set()
    for _ in range(20):
        night, clean = next(batches)
        assert night.shape == (3, 3, 4, 4) and torch.equal(clean, night * 2)  # flips/transposes hit both alike
        seen |= set(night[:, 0, 0, 0].tolist())
    assert max(seen) > 6  # fresh pairs entered the pool


def test_replay_batches_carry_the_print_mask_through_flips_and_transposes():
    from export.dataset import ReplayBatches

    def triples():
        ramp = torch.arange(16.0).view(1, 4, 4)
        while True:
            yield ramp.expand(3, 4, 4).clone(), ramp.expand(3, 4, 4) * 2, ramp.clone()
    batches = ReplayBatches(triples(), pool=4, fresh=1, batch=2, seed=3)
    for _ in range(12):
        night, clean, mask = next(batches)
        assert mask.shape == (2, 1, 4, 4) and torch.equal(mask.expand_as(night), night)


def test_print_weight_scales_the_loss_only_where_print_lies():
    from export.losses import gradient_l1

    a, b = torch.zeros(1, 1, 6, 6), torch.zeros(1, 1, 6, 6)
    a[..., 1, 1] = 1.0  # one wrong pixel
    weight = torch.ones(1, 1, 6, 6)
    assert torch.isclose(gradient_l1(a, b, weight), gradient_l1(a, b))
    weight[..., :3, :3] = 5.0  # print covers the corner with the error
    assert torch.isclose(gradient_l1(a, b, weight), 5 * gradient_l1(a, b))
    weight[..., :3, :3], weight[..., 3:, 3:] = 1.0, 5.0  # print elsewhere: the error weighs as before
    assert torch.isclose(gradient_l1(a, b, weight), gradient_l1(a, b))


def test_distillation_with_truetype_print_and_print_weight(dataset, tmp_path):
    """The v5 data recipe: TrueType text beside Hershey, print pixels weighed more; a missing font file
    is one clear error before any work."""
    import yaml

    cfg = TrainConfig(data=str(dataset), out=str(tmp_path / "t"), net=TINY_NET, iterations=1, batch=2, crop=64,
                      lr_warmup=1, threads=1)
    teacher = train(cfg, quiet=True)
    font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # the tests' font; the recipe names others
    dcfg = DistillConfig(data=str(dataset), teacher=str(teacher), out=str(tmp_path / "s"), steps=(1, 2),
                         iterations=2, batch=2, crop=64, replay_pool=4, print_fraction=0.9, print_fonts=(font,),
                         print_weight=4.0, edge_weight=0.5, teacher_weight=0.0, threads=1)
    student = torch.load(distill(dcfg), weights_only=False)
    assert student["step"] == 2 and student["config"]["print_weight"] == 4.0
    assert all(torch.isfinite(v).all() for v in student["ema"].values() if v.is_floating_point())
    missing = tmp_path / "v5.yaml"
    missing.write_text(yaml.safe_dump({"data": str(dataset), "teacher": str(teacher), "out": str(tmp_path / "m"),
                                       "print_fonts": ["/nonexistent/Bold.ttf"]}))
    with pytest.raises(SystemExit, match="print_fonts: /nonexistent/Bold.ttf not found"):
        distill(DistillConfig.load(missing))
    assert not (tmp_path / "m" / "last.pt").exists()


@pytest.mark.slow  # training
def test_teacher_grows_a_full_resolution_stage_from_a_checkpoint(dataset, tmp_path):
    """Stage 2 of the teacher recipe: a trained coarse network gains the
    refinement stage, starts exactly where it was, and trains on cumulatively."""
    from export.network import Denoiser, NetConfig
    from export.onnx_export import load_denoiser

    base = TrainConfig(data=str(dataset), out=str(tmp_path / "stage1"), net=TINY_NET, iterations=2, batch=2,
                       crop=64, lr_warmup=1)
    stage1 = train(base, quiet=True)
    grown = TrainConfig(data=str(dataset), out=str(tmp_path / "stage2"), net={**TINY_NET, "refine": 4},
                        init_from=str(stage1), iterations=2, batch=2, crop=64, lr_warmup=1)
    model, ema = Denoiser(NetConfig(**grown.net)), Denoiser(NetConfig(**grown.net))
    assert grow_from(stage1, model, ema, torch.device("cpu"))[0] == 2
    x, cond, sigma = torch.randn(1, 3, 32, 32), torch.rand(1, 3, 32, 32), torch.tensor([0.3])
    with torch.no_grad():
        assert torch.equal(ema(x, sigma, cond), load_denoiser(stage1)(x, sigma, cond))  # refine starts as identity
    grown.iterations = 4
    state = torch.load(train(grown, quiet=True), weights_only=False)
    assert state["step"] == 4 and state["opt_start"] == 2 and state["net"]["refine"] == 4
    assert state["history"][1]["init_from"] == str(stage1) and any(k.startswith("net.refine.") for k in state["ema"])

    other = TrainConfig(data=str(dataset), out=str(tmp_path / "stage3"), net={**TINY_NET, "channels": [8, 24]},
                        init_from=str(stage1), iterations=1, batch=2, crop=64)
    with pytest.raises(SystemExit, match="networks differ beyond an added refinement stage"):
        train(other, quiet=True)
    with pytest.raises(SystemExit, match="no such checkpoint"):
        train(TrainConfig(data=str(dataset), out=str(tmp_path / "s4"), net=TINY_NET, init_from=str(tmp_path / "nope.pt")),
              quiet=True)


def test_learning_rate_warms_up_holds_and_anneals():
    from export.train import learning_rate

    cfg = TrainConfig(lr=1e-3, lr_warmup=10, iterations=200, lr_anneal_start=100, lr_anneal_to=0.1)
    assert learning_rate(cfg, 0) == pytest.approx(1e-4)
    assert learning_rate(cfg, 50) == learning_rate(cfg, 100) == pytest.approx(1e-3)
    assert learning_rate(cfg, 150) == pytest.approx(5.5e-4)
    assert learning_rate(cfg, 200) == learning_rate(cfg, 250) == pytest.approx(1e-4)
    fresh_optimiser = learning_rate(TrainConfig(lr=1e-3, lr_warmup=10), 1000, opt_start=995)
    assert fresh_optimiser == pytest.approx(6e-4)  # a grown network's new optimiser warms up
    assert learning_rate(TrainConfig(lr=1e-3, lr_warmup=1), 10**6) == pytest.approx(1e-3)  # no anneal by default
    from export.train import annealed

    assert [annealed(1.0, step, 10, 0.1, 20) for step in (0, 10, 15, 20, 30)] == pytest.approx([1, 1, 0.55, 0.1, 0.1])
    assert annealed(1.0, 10**6, 0, 0.1, 20) == 1.0  # start 0: constant (the students' default)


def test_config_rejects_unknown_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"iterations": 3, "learning_rate": 0.1}))
    with pytest.raises(SystemExit, match="unknown keys"):
        TrainConfig.load(path)


@pytest.mark.parametrize("text, message", [
    ("lr: fast\n", "lr: Input should be a valid number"),
    ("steps: [1, two]\n", "steps.1: Input should be a valid integer"),
    ("- lr\n", "a list, not a mapping"),
    ("lr: [\n", "not valid YAML"),
    ("exposure_range: [0.5, 0.1]\n", "allowed 0 < low <= high <= 1"),
])
def test_a_bad_recipe_is_one_error_line_naming_the_key(tmp_path, text, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    with pytest.raises(SystemExit) as exc:
        DistillConfig.load(path)
    line = str(exc.value)
    assert line.startswith(f"error: {path}") and message in line and "allowed" in line and "\n" not in line


def test_every_committed_recipe_loads_with_its_types(tmp_path):
    """PyYAML reads 5e-05 (no dot) as a string: the loader turns it into the float it means."""
    from pathlib import Path

    path = tmp_path / "recipe.yaml"
    path.write_text("lr: 5e-05\nsteps: [1, 2]\nchannels: [24, 40]\n")
    cfg = DistillConfig.load(path)
    assert cfg.lr == 5e-05 and cfg.steps == (1, 2) and cfg.channels == (24, 40)
    for recipe in sorted((Path(__file__).parents[1] / "export" / "configs").glob("*.yaml")):
        loader = TrainConfig if recipe.name.startswith("teacher") else DistillConfig
        cfg = loader.load(recipe)
        assert isinstance(cfg.lr, float) and isinstance(cfg.iterations, int), recipe


def test_the_manifest_says_how_the_student_was_made():
    from export.pipeline import student_method

    assert "not distilled" in student_method(DistillConfig(), 0)
    assert "progressive distillation" in student_method(DistillConfig(teacher_weight=1.0), 10)
    own = student_method(DistillConfig(teacher_weight=0.0, steps=(1, 2), colour_anchor="a.pt",
                                       colour_anchor_weight=4.0), 6000)
    assert "1/2-step" in own and "own Euler schedules" in own and "anchored to a.pt" in own and "6000" in own
    assert "gradient L1" not in own
    assert "from v11.pt" in student_method(DistillConfig(teacher_weight=0.0, init="v11.pt", tone_anchor=24.0), 10)
    assert "from v13.pt @6808," in student_method(DistillConfig(teacher_weight=0.0, init="v13.pt"), 10, init_step=6808)
    assert "grown to 28/56 channels" in student_method(DistillConfig(teacher_weight=0.0, channels=(28, 56)), 10)
    assert "tone anchor" in student_method(DistillConfig(teacher_weight=0.0, tone_anchor=24.0), 10)
    assert "lr annealed to 0.1x from iteration 500" in student_method(DistillConfig(lr_anneal_start=500), 10)
    v8 = student_method(DistillConfig(teacher_weight=0.0, edge_weight=0.5, print_weight=4.0, print_dihedral=True), 10)
    assert "EDM L2 + gradient L1, print pixels weighed 5x, print in all 8 orientations" in v8
    with_ssim = student_method(DistillConfig(teacher_weight=0.0, ssim_weight=0.5, print_weight=4.0), 10)
    assert "EDM L2 + 0.5 x (1 - luma SSIM), print" in with_ssim


def test_mirrored_pair_target_undoes_its_mirror_and_averages_two_noises():
    from export.distill import mirrored_pair

    cond = torch.rand(2, 3, 8, 12)
    x0 = cond * 2 - 1
    sigma = torch.full((2,), 40.0)
    x = x0 + torch.randn_like(x0) * 40
    copy_cond = lambda x, s, c: 2 * c - 1  # noqa: E731 - ignores its noise: the pair must give it back unmirrored
    torch.testing.assert_close(mirrored_pair(copy_cond, x0, x, sigma, cond), x0)
    keep_noise = lambda x, s, c: x  # noqa: E731 - the pair of two noisy inputs: x0 plus half of each noise
    torch.manual_seed(0)
    pair = mirrored_pair(keep_noise, x0, x, sigma, cond)
    torch.manual_seed(0)
    other = x0 + torch.randn_like(x0) * 40
    torch.testing.assert_close(pair, (x + other) / 2)


def test_distillation_with_the_mirrored_pair_term(dataset, tmp_path):
    cfg = TrainConfig(data=str(dataset), out=str(tmp_path / "t"), net=TINY_NET, iterations=1, batch=2, crop=64,
                      lr_warmup=1, threads=1)
    teacher = train(cfg, quiet=True)
    dcfg = DistillConfig(data=str(dataset), teacher=str(teacher), out=str(tmp_path / "s"), steps=(1,), iterations=3,
                         batch=2, crop=64, teacher_weight=0.0, pair_weight=1.0, threads=1, lr=1e-4,
                         lr_anneal_start=1, lr_anneal_to=0.1, ssim_weight=0.5)
    student = torch.load(distill(dcfg), weights_only=False)
    assert student["step"] == 3 and student["config"]["pair_weight"] == 1.0 and student["config"]["ssim_weight"] == 0.5
    assert student["optimizer"]["param_groups"][0]["lr"] == pytest.approx(5.5e-5)  # step 2: half-way down
    assert all(torch.isfinite(v).all() for v in student["ema"].values() if v.is_floating_point())


@pytest.mark.parametrize("sees_noise", [True, False])
def test_student_grows_a_full_resolution_stage_and_starts_as_its_teacher(dataset, tmp_path, sees_noise):
    """``refine``: the student is the starting network plus an identity-initialised full-resolution
    stage (seeing the noisy input or not); it trains on from there at its own learning rate, its
    checkpoint records the grown network, and it resumes."""
    from export.distill import frozen
    from export.grow import grown_student

    cfg = TrainConfig(data=str(dataset), out=str(tmp_path / "t"), net=TINY_NET, iterations=1, batch=2, crop=64,
                      lr_warmup=1, threads=1)
    teacher_path = train(cfg, quiet=True)
    teacher = frozen(torch.load(teacher_path, weights_only=False))
    student, net_cfg = grown_student(teacher, 4, sees_noise)
    assert net_cfg.refine == 4 and teacher.net.cfg.refine == 0
    assert student.net.refine.conv_in.in_channels == (9 if sees_noise else 6)
    x, cond, sigma = torch.randn(1, 3, 32, 32), torch.rand(1, 3, 32, 32), torch.tensor([40.0])
    with torch.no_grad():
        torch.testing.assert_close(student(x, sigma, cond), teacher(x, sigma, cond))
    dcfg = DistillConfig(data=str(dataset), teacher=str(teacher_path), out=str(tmp_path / "s"), steps=(1,),
                         iterations=2, batch=2, crop=64, teacher_weight=0.0, pair_weight=1.0, refine=4,
                         refine_sees_noise=sees_noise, refine_lr_scale=10.0, threads=1)
    state = torch.load(distill(dcfg), weights_only=False)
    assert state["net"]["refine"] == 4 and state["net"]["refine_sees_noise"] == sees_noise
    assert state["ema"]["net.refine.conv_out.weight"].abs().sum() > 0  # the stage trained
    assert [g["lr"] for g in state["optimizer"]["param_groups"]] == [dcfg.lr, dcfg.lr * 10]
    dcfg.iterations = 3
    assert torch.load(distill(dcfg), weights_only=False)["step"] == 3  # resumes into the grown network
    with pytest.raises(SystemExit, match="already has a refinement stage"):
        grown_student(frozen(state), 8)


def test_distillation_from_other_weights_over_a_widened_exposure_range(dataset, tmp_path):
    """``init`` starts the student from weights other than the pair teacher's; ``exposure_range`` widens
    what the camera model draws; the older networks' terms hold only up to ``old_model_max_exposure``."""
    from export.dataset import NightPairs, ReplayBatches, load_split
    from export.distill import frozen

    pairs = NightPairs(load_split(dataset, "train"), 32, seed=0, exposure_range=(0.3, 0.6), with_exposure=True)
    items = [item for item, _ in zip(pairs, range(6))]
    assert all(len(item) == 3 and item[2].shape == (1, 1, 1) and 0.3 <= float(item[2]) <= 0.6 for item in items)
    batch = next(ReplayBatches(iter(items * 2), pool=4, fresh=1, batch=2, seed=0))
    assert batch[2].shape == (2, 1, 1, 1)  # the exposure survives the pool's flips and transposes

    cfg = TrainConfig(data=str(dataset), out=str(tmp_path / "t"), net=TINY_NET, iterations=1, batch=2, crop=64,
                      lr_warmup=1, threads=1)
    teacher = train(cfg, quiet=True)
    other = train(TrainConfig(**{**cfg.__dict__, "out": str(tmp_path / "o"), "seed": 5}), quiet=True)
    dcfg = DistillConfig(data=str(dataset), teacher=str(teacher), init=str(other), out=str(tmp_path / "s"),
                         steps=(1,), iterations=2, batch=2, crop=64, teacher_weight=0.0, pair_weight=1.0,
                         exposure_range=(1 / 40, 0.6), old_model_max_exposure=0.25, threads=1)
    state = torch.load(distill(dcfg), weights_only=False)
    assert state["step"] == 2 and state["config"]["exposure_range"] == (1 / 40, 0.6)
    assert all(torch.isfinite(v).all() for v in state["ema"].values() if v.is_floating_point())
    # two steps at lr 1e-4 from `other` stay near it and far from the teacher
    near = frozen(torch.load(other, weights_only=False)).state_dict()
    far = frozen(torch.load(teacher, weights_only=False)).state_dict()
    key = "net.stem.weight"
    assert (state["model"][key] - near[key]).abs().max() < (state["model"][key] - far[key]).abs().max()


def test_distill_config_refuses_a_bad_exposure_range(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("exposure_range: [0.5, 0.2]\n")
    with pytest.raises(SystemExit, match=r"bad.yaml: exposure_range .*allowed 0 < low <= high <= 1"):
        DistillConfig.load(path)


def test_a_stage_that_sees_the_gained_frame_reads_the_stems_gained_view():
    """``refine_sees_gained``: the full-resolution stage's night-frame input is the frame gained to a
    normal exposure (the stem's third input), not the raw dark one; it needs ``exposure_norm``."""
    from export.network import Denoiser, NetConfig, apply_gain, frame_statistics

    with pytest.raises(ValueError, match="needs exposure_norm"):
        NetConfig(**TINY_NET, refine=4, refine_sees_gained=True)
    cfg = NetConfig(**{**TINY_NET, "global_branch": 8, "exposure_norm": True}, refine=4, refine_sees_noise=False,
                    refine_sees_gained=True)
    model = Denoiser(cfg).eval()
    seen = []
    model.net.refine.register_forward_hook(lambda mod, args, out: seen.append(args[2]))
    cond01 = torch.rand(1, 3, 32, 32) * 0.1  # a dark frame: its gain is well above 1
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32), torch.tensor([40.0]), cond01)
    _, gain = frame_statistics(cond01)
    assert float(gain.min()) > 2
    torch.testing.assert_close(seen[0], apply_gain(cond01, gain) * 2 - 1)


def test_a_gained_stage_on_a_network_without_exposure_norm_is_one_error_line(dataset, tmp_path):  # noqa: F811
    from export.distill import frozen
    from export.grow import grown_student

    cfg = TrainConfig(data=str(dataset), out=str(tmp_path / "t"), net=TINY_NET, iterations=1, batch=2, crop=64,
                      lr_warmup=1, threads=1)
    teacher = frozen(torch.load(train(cfg, quiet=True), weights_only=False))
    with pytest.raises(SystemExit, match="no exposure_norm"):
        grown_student(teacher, 4, False, (), True)
