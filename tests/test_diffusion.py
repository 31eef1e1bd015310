"""The diffusion generator on the CPU with random-weight models built here (no downloads)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from diffusion_models import tokenizer, write_tiny_models  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from spa2v.cli import app  # noqa: E402
from spa2v.generation.base import RenderRequest  # noqa: E402
from spa2v.generation.diffusion import DiffusionGenerator, DiffusionSettings  # noqa: E402
from spa2v.generation.diffusion.guidance import layout_energy  # noqa: E402
from spa2v.generation.diffusion.prompts import (  # noqa: E402
    PromptTooLongError,
    frame_prompts,
    locate,
)
from spa2v.generation.render import render_video  # noqa: E402
from spa2v.layout.vsl import VSL  # noqa: E402
from spa2v.media.video import probe_video  # noqa: E402

TINY_LAYERS = ("down_blocks.0", "up_blocks.1")  # the tiny UNet's cross-attention blocks

LAYOUT = VSL(
    duration=2.0,
    caption="a cow is on the left while a helicopter moves from left to right",
    objects=[{"id": 0, "name": "cow"}, {"id": 1, "name": "helicopter"}],
    keyframes=[
        {"time": 0.0, "caption": "the cow on the left",
         "boxes": [{"id": 0, "box": [0.0, 0.4, 0.4, 1.0]}, {"id": 1, "box": [0.1, 0.0, 0.4, 0.3]}]},
        {"time": 2.0, "caption": "the helicopter on the right",
         "boxes": [{"id": 0, "box": [0.0, 0.4, 0.4, 1.0]}, {"id": 1, "box": [0.6, 0.0, 0.9, 0.3]}]},
    ],
)  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_tiny_models(tmp_path_factory.mktemp("tiny"))


def _settings(tiny: tuple[Path, Path], **kw) -> DiffusionSettings:
    model, adapter = tiny
    base = {"model": str(model), "motion_adapter": str(adapter), "frames": 4, "steps": 3,
            "guidance_layers": TINY_LAYERS, "device": "cpu"}  # fmt: skip
    base.update(kw)
    return DiffusionSettings(**base)


def test_guided_run_gives_frames_of_the_right_shape(tiny: tuple[Path, Path]) -> None:
    gen = DiffusionGenerator(_settings(tiny, guidance_steps=2))
    frames = gen.generate(LAYOUT, width=64, height=48, seed=0)
    assert frames.shape == (4, 48, 64, 3) and frames.dtype == np.uint8
    assert len(gen.energies) == 2 and all(np.isfinite(gen.energies))
    # stretched over the clip at the video's rate, resized to the requested size
    request = RenderRequest(layout=LAYOUT, fps=6, width=66, height=50, seed=0)
    video = list(gen.frames(request))
    assert len(video) == request.n_frames == 12
    assert all(f.shape == (50, 66, 3) and f.dtype == np.uint8 for f in video)


def test_same_seed_same_frames(tiny: tuple[Path, Path]) -> None:
    gen = DiffusionGenerator(_settings(tiny, guidance_steps=1))
    a = gen.generate(LAYOUT, width=32, height=32, seed=3)
    b = gen.generate(LAYOUT, width=32, height=32, seed=3)
    c = gen.generate(LAYOUT, width=32, height=32, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_the_unets_own_processors_are_back_after_guidance(tiny: tuple[Path, Path]) -> None:
    gen = DiffusionGenerator(_settings(tiny, guidance_steps=1, steps=2))
    unet = gen.pipeline().unet
    before = {name: id(proc) for name, proc in unet.attn_processors.items()}
    gen.generate(LAYOUT, width=32, height=32, seed=0)
    assert gen.guided_layers  # some layers were guided ...
    assert {name: id(proc) for name, proc in unet.attn_processors.items()} == before  # ... then
    # restored, also when the generation stops half-way

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gen.generate(LAYOUT, width=32, height=32, seed=0, progress=stop)
    assert {name: id(proc) for name, proc in unet.attn_processors.items()} == before


@pytest.mark.parametrize("seed", [0, 1])
def test_guidance_lowers_the_layout_energy(tiny: tuple[Path, Path], seed: int) -> None:
    energy = {}
    for guided in (False, True):
        settings = _settings(tiny, steps=4, layout_guidance=guided, guidance_steps=4,
                             guidance_iterations=3, guidance_scale=20.0)  # fmt: skip
        gen = DiffusionGenerator(settings)
        gen.generate(LAYOUT, width=64, height=64, seed=seed, measure_energy=True)
        energy[guided] = gen.last_energy
    assert energy[True] < energy[False] - 0.005, energy


def test_chunked_guidance_matches_when_one_chunk_holds_all(tiny: tuple[Path, Path]) -> None:
    whole = DiffusionGenerator(_settings(tiny, guidance_steps=2))
    same = DiffusionGenerator(_settings(tiny, guidance_steps=2, guidance_chunk=4))
    pairs = DiffusionGenerator(_settings(tiny, guidance_steps=2, guidance_chunk=2))
    a = whole.generate(LAYOUT, width=32, height=32, seed=0)
    assert np.array_equal(a, same.generate(LAYOUT, width=32, height=32, seed=0))
    b = pairs.generate(LAYOUT, width=32, height=32, seed=0)
    assert b.shape == a.shape and np.isfinite(pairs.energies).all()
    assert whole.energies[0] == pytest.approx(pairs.energies[0], rel=0.05)


def _unet_calls(gen: DiffusionGenerator) -> list[tuple[int, torch.Tensor]]:
    """Spy on the UNet: (frames, conditional text embeddings) of each forward call."""
    calls = []
    unet = gen.pipeline().unet

    def hook(module, args, kwargs):
        sample, emb = args[0], kwargs["encoder_hidden_states"]
        calls.append((sample.shape[2], emb[emb.shape[0] // 2 :].detach().clone()))

    handle = unet.register_forward_pre_hook(hook, with_kwargs=True)
    gen._spy_handle = handle
    return calls


def test_windows_cover_the_clip_and_end_at_its_end() -> None:
    from spa2v.generation.diffusion.generator import windows

    assert windows(10, 16, 4) == [(0, 10)]
    spans = windows(80, 16, 4)
    assert all(b - a == 16 for a, b in spans) and spans[0][0] == 0 and spans[-1][1] == 80
    assert all(0 < b[0] - a[0] <= 4 for a, b in itertools.pairwise(spans))
    assert windows(18, 16, 4) == [(0, 16), (2, 18)]


@pytest.mark.parametrize(
    ("duration", "gen_fps", "frames", "expected"),
    [(2.0, 8.0, None, 16), (10.0, 8.0, None, 80), (2.0, 4.0, None, 8),
     (10.0, 12.0, None, 120), (0.05, 8.0, None, 1), (10.0, 8.0, 7, 7)],
)  # fmt: skip
def test_frames_follow_the_clip(duration: float, gen_fps: float, frames, expected: int) -> None:
    assert DiffusionSettings(gen_fps=gen_fps, frames=frames).generated_frames(duration) == expected


def test_long_clips_run_in_windows_with_each_frames_prompt(tiny: tuple[Path, Path]) -> None:
    layout = LAYOUT.model_copy(update={"duration": 2.5})
    gen = DiffusionGenerator(_settings(tiny, frames=None, gen_fps=4, context_length=4,
                                       context_stride=2, guidance_steps=1, steps=2))  # fmt: skip
    calls = _unet_calls(gen)
    try:
        frames = gen.generate(layout, width=32, height=32, seed=0)
    finally:
        gen._spy_handle.remove()
    assert frames.shape == (10, 32, 32, 3)  # 2.5 s at 4 frames/s
    assert gen.n_windows == 4 and max(f for f, _ in calls) == 4  # the UNet never sees more
    # the frame captions follow the keyframes: the first window's first frame and the last
    # window's last frame are prompted differently, frames of one keyframe alike
    first, last = calls[-4][1], calls[-1][1]
    assert not torch.allclose(first[0], last[-1]) and torch.allclose(first[0], first[1])
    report = gen.report()
    assert report["generated_frames"] == 10 and report["windows"] == 4


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_windowed_guidance_lowers_the_energy_and_keeps_attention_in_the_boxes(
    tiny: tuple[Path, Path], seed: int
) -> None:
    energy, inside = {}, {}
    for guided in (False, True):
        # random weights: the attention follows the latents only weakly, hence a large step
        settings = _settings(tiny, frames=8, context_length=4, context_stride=2, steps=4,
                             layout_guidance=guided, guidance_steps=4, guidance_iterations=3,
                             guidance_scale=200.0)  # fmt: skip
        gen = DiffusionGenerator(settings)
        gen.generate(LAYOUT, width=64, height=64, seed=seed)
        energy[guided] = gen.last_energy
        inside[guided] = gen.adherence
        assert set(gen.adherence) == {"cow", "helicopter"}
        assert all(0.0 <= v <= 1.0 for v in gen.adherence.values())
    assert energy[True] < energy[False] - 0.005, energy
    assert np.mean(list(inside[True].values())) > np.mean(list(inside[False].values())), inside


class _Canned(DiffusionGenerator):
    """Generated frames of known colours: frame k is all k * 50."""

    def generate(self, layout, *, width, height, seed=0, measure_energy=True, progress=None):
        n = self.settings.generated_frames(layout.duration)
        return np.stack([np.full((height, width, 3), 50 * k, np.uint8) for k in range(n)])


def _moving(step: float) -> VSL:
    return VSL(duration=1.0, caption="a car", objects=[{"id": 0, "name": "car"}], keyframes=[
        {"time": 0.0, "boxes": [{"id": 0, "box": [0.0, 0.4, 0.1, 0.5]}]},
        {"time": 1.0, "boxes": [{"id": 0, "box": [step, 0.4, step + 0.1, 0.5]}]}])  # fmt: skip


def test_frames_sit_at_their_times_blended_or_held_when_an_object_jumps() -> None:
    # generated at 0.125, 0.375, 0.625, 0.875 s
    gen = _Canned(DiffusionSettings(gen_fps=4, backbone="animatediff"))
    request = RenderRequest(layout=_moving(0.2), fps=8, width=16, height=16, seed=0)
    slow = [int(f[0, 0, 0]) for f in gen.frames(request)]  # moves 0.05 a frame < its width
    assert slow == [0, 13, 38, 63, 88, 113, 138, 150]  # blended: a quarter of the way on
    request = RenderRequest(layout=_moving(0.9), fps=8, width=16, height=16, seed=0)
    fast = [int(f[0, 0, 0]) for f in gen.frames(request)]  # jumps 0.3 a frame > its width
    assert fast == [0, 0, 50, 50, 100, 100, 150, 150]  # the nearer frame held
    # an object appearing between two generated frames is no ghost: blended
    appear = VSL(duration=1.0, caption="a car", objects=[{"id": 0, "name": "car"}], keyframes=[
        {"time": 0.0, "boxes": []}, {"time": 0.5, "boxes": []},
        {"time": 0.6, "boxes": [{"id": 0, "box": [0.0, 0.4, 0.1, 0.5]}]}])  # fmt: skip
    request = RenderRequest(layout=appear, fps=8, width=16, height=16, seed=0)
    assert [int(f[0, 0, 0]) for f in gen.frames(request)] == [0, 13, 38, 63, 88, 113, 138, 150]
    # a single generated frame holds throughout
    one = _Canned(DiffusionSettings(frames=1, backbone="animatediff"))
    request = RenderRequest(layout=_moving(0.9), fps=8, width=16, height=16, seed=0)
    assert [int(f[0, 0, 0]) for f in one.frames(request)] == [0] * 8


def test_overlapping_windows_average_back_to_each_frames_prediction() -> None:
    """A UNet whose prediction depends on the frame's own value only: windowed averaging must
    give it back exactly, whatever the overlaps and weights."""
    from types import SimpleNamespace

    from spa2v.generation.diffusion.generator import windows

    class Echo:
        dtype = torch.float32

        def __call__(self, x, t, encoder_hidden_states):
            return SimpleNamespace(sample=x * 2.0)

    from spa2v.generation.diffusion.animatediff import FrameConditioning
    from spa2v.generation.diffusion.prompts import FramePrompt

    gen = DiffusionGenerator(DiffusionSettings(cfg_scale=3.0, context_length=4, context_stride=3,
                                               backbone="animatediff"))  # fmt: skip
    latents = torch.arange(11, dtype=torch.float32).reshape(1, 1, 11, 1, 1).repeat(1, 2, 1, 2, 2)
    emb = torch.zeros(11, 3, 8)
    spans = windows(11, 4, 3)
    assert len(spans) == 4 and spans[-1] == (7, 11)
    from spa2v.generation.diffusion.guidance import AttentionStore

    pipe = SimpleNamespace(unet=Echo(), scheduler=SimpleNamespace(scale_model_input=lambda x, t: x))
    cond = FrameConditioning(emb, emb, [FramePrompt("", {})] * 11)
    out = gen._predict(gen.options, gen.backbone, pipe, latents, 0, cond, spans, AttentionStore(),
                       measure=(False, None, None, None))  # fmt: skip
    assert torch.allclose(out, latents * 2.0)


def test_the_adherence_line_reads_partial_reports() -> None:
    from spa2v.cli import _adherence_line

    full = {"generated_frames": 80, "windows": 17, "layout_guidance": True,
            "attention_in_box": {"cow": 0.61, "car #1": 0.4}}  # fmt: skip
    assert _adherence_line(full) == ("generated 80 frames in 17 window(s); attention inside "
                                     "the boxes (last step): cow 61%, car #1 40% (layout "
                                     "guidance on)")  # fmt: skip
    assert _adherence_line({"generated_frames": 8}) == "generated 8 frames in ? window(s)"
    assert _adherence_line({"generated_frames": 33, "windows": 1, "backbone": "wan"}) == (
        "generated 33 frames with wan in 1 window(s)"
    )


def test_clip_length_limits_and_rounding() -> None:
    from spa2v.config import ConfigError
    from spa2v.errors import ParameterError

    assert DiffusionSettings(gen_fps=8).generated_frames(0.3125) == 3  # 2.5 rounds up
    with pytest.raises(ParameterError, match=r"lower diffusion\.gen_fps"):
        DiffusionSettings(gen_fps=8).generated_frames(600.0)
    with pytest.raises(ConfigError, match="guidance_chunk must be at most"):
        DiffusionSettings(context_length=8, guidance_chunk=9)


def test_guidance_groups_are_equal_and_objects_of_one_name_reported_apart(
    tiny: tuple[Path, Path],
) -> None:
    twins = VSL.model_validate({**LAYOUT.model_dump(by_alias=True), "objects": [
        {"id": 0, "name": "cow"}, {"id": 1, "name": "cow"}]})  # fmt: skip
    gen = DiffusionGenerator(_settings(tiny, frames=9, context_length=8, context_stride=4,
                                       guidance_steps=1, steps=1))  # fmt: skip
    calls = _unet_calls(gen)
    try:
        gen.generate(twins, width=32, height=32, seed=0)
    finally:
        gen._spy_handle.remove()
    guided = [f for f, _ in calls[:2]]  # the guided pass comes first: two groups, not 8 + 1
    assert guided == [4, 5]
    assert set(gen.adherence) == {"cow #0", "cow #1"} and gen.report()["layout_guidance"]


def test_run_json_reports_the_attention_inside_the_boxes(tiny: tuple[Path, Path],
                                                         tmp_path: Path) -> None:  # fmt: skip
    import json

    from spa2v import api
    from spa2v.audio.synth import render_preset

    clip = tmp_path / "duet.wav"
    render_preset("duet", duration_s=1.0, seed=0).save(clip)
    model, adapter = tiny
    result = api.run(clip, tmp_path / "out", generator="diffusion", model=str(model),
                     motion_adapter=str(adapter), steps=2, guidance_steps=1, gen_fps=4,
                     guidance_layers=list(TINY_LAYERS), device="cpu", width=64, height=48,
                     labels=["cow", "helicopter"])  # fmt: skip
    record = json.loads(result.files["run"].read_text())["generation"]
    assert record["generated_frames"] == 4 and record["windows"] == 1
    assert set(record["attention_in_box"]) == {"cow", "helicopter"}
    assert result.generation == record


def test_render_video_with_the_diffusion_generator(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    out = render_video(LAYOUT, tmp_path / "v.mp4", generator="diffusion", fps=8, width=64,
                       height=48, diffusion=_settings(tiny, steps=2, guidance_steps=1))  # fmt: skip
    info = probe_video(out)
    assert info["frames"] == 16 and (info["width"], info["height"]) == (64, 48)


def test_phrase_tokens(tmp_path: Path) -> None:
    tok = tokenizer(tmp_path / "tok")
    text, where = locate(
        tok, "a cow is on the left while a helicopter moves", {0: "cow", 1: "helicopter"}
    )
    ids = tok(text).input_ids
    assert tok.decode([ids[i] for i in where[0]]).strip() == "cow"
    assert tok.decode([ids[i] for i in where[1]]).strip() == "helicopter"
    # a name missing from the caption is appended
    text, where = locate(tok, "a dog runs across the field", {0: "dog", 1: "bird"})
    assert (
        text.endswith(", bird")
        and tok.decode([tok(text).input_ids[i] for i in where[1]]).strip() == "bird"
    )
    # per frame: the keyframe caption in force is mixed with the global one
    data = LAYOUT.model_dump(by_alias=True)
    data["keyframes"][1]["time"] = 1.0
    layout = VSL.model_validate(data)
    prompts = frame_prompts(layout, 4, tok, mode="mix")  # frames at 0.25, 0.75, 1.25, 1.75 s
    assert prompts[0].text.endswith("the cow on the left") and "helicopter" in prompts[0].text
    assert prompts[2].text.endswith("the helicopter on the right")
    assert frame_prompts(layout, 4, tok, mode="local")[2].text.startswith("the helicopter")
    assert frame_prompts(LAYOUT, 4, tok, mode="global")[0].text.startswith(LAYOUT.caption)
    many = {k: f"sound source {k}" for k in range(40)}
    with pytest.raises(PromptTooLongError, match="does not fit"):
        locate(tok, "a cow", many)


def test_energy_rewards_attention_inside_the_box() -> None:
    h = w = 8
    box = torch.tensor([[0.0, 0.0, 0.5, 0.5]])  # top-left quarter, one frame
    inside = torch.zeros(h, w)
    inside[:4, :4] = 1.0
    outside = torch.zeros(h, w)
    outside[4:, 4:] = 1.0
    tokens = [{0: [1]}]

    def energy(att: torch.Tensor, b: torch.Tensor) -> float:
        m = torch.full((1, h * w, 4), 0.01)
        m[0, :, 1] = att.reshape(-1) + 0.01
        return float(layout_energy({"l": m}, (h, w), tokens, {0: b}, topk=0.5,
                                   fg_weight=1.0, bg_weight=3.0))  # fmt: skip

    assert energy(inside, box) < 0.1 < energy(outside, box)
    absent = torch.full((1, 4), float("nan"))  # not in the frame: only the outside term
    assert energy(inside, absent) > energy(inside, box)
    # boxes are read per frame: the same maps, the box moved, the energy follows
    moved = torch.tensor([[0.5, 0.5, 1.0, 1.0]])
    assert energy(outside, moved) < energy(outside, box)


def test_missing_weights_and_extra_give_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = tmp_path / "layout.json"
    LAYOUT.save(layout)
    runner = CliRunner()
    nope = str(tmp_path / "nope")
    result = runner.invoke(app, ["render", str(layout), "-o", str(tmp_path / "v.mp4"),
                                 "--generator", "diffusion", "--model", nope])  # fmt: skip
    assert result.exit_code == 2 and "does not exist" in result.output
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never reach for the network in tests
    result = runner.invoke(app, ["render", str(layout), "-o", str(tmp_path / "v.mp4"),
                                 "--generator", "diffusion", "--model", "someone/not-cached",
                                 "--motion-adapter", "someone/not-cached-either"])  # fmt: skip
    assert result.exit_code == 2 and "Hugging Face cache" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "v.mp4").exists()
    if not torch.cuda.is_available():
        result = runner.invoke(app, ["render", str(layout), "-o", str(tmp_path / "v.mp4"),
                                     "--generator", "diffusion", "--device", "cuda"])  # fmt: skip
        assert result.exit_code == 2 and "no CUDA GPU" in result.output
    monkeypatch.setitem(sys.modules, "diffusers", None)
    result = runner.invoke(app, ["render", str(layout), "-o", str(tmp_path / "v.mp4"),
                                 "--generator", "diffusion"])  # fmt: skip
    assert result.exit_code == 2 and "pip install 'spa2v[diffusion]'" in result.output


def test_settings_are_checked() -> None:
    from spa2v.errors import ParameterError

    with pytest.raises(ParameterError, match="captions"):
        DiffusionSettings(captions="both")
    with pytest.raises(ParameterError, match="guidance_steps"):
        DiffusionSettings(steps=5, guidance_steps=6)
    with pytest.raises(ParameterError, match="frames"):
        DiffusionSettings(frames=0)
    for name in ("cfg_scale", "gen_fps", "guidance_scale"):  # not a range error: not finite
        with pytest.raises(ParameterError, match=f"{name}: Input should be a finite number"):
            DiffusionSettings(**{name: float("nan")})


@pytest.mark.full_arch
def test_full_architecture_hooks_find_the_real_layers(tmp_path: Path) -> None:
    """Stable Diffusion 1.5 + AnimateDiff v1-5-2 + CLIP ViT-L/14 text configurations, random
    weights, 64x64 pixels, 2 frames, 1 guided step: the guided layers are the real ones."""
    from diffusers import AnimateDiffPipeline, AutoencoderKL, DDIMScheduler, UNetMotionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from spa2v.config import DEFAULT_LAYERS

    tok = tokenizer(tmp_path / "tok")
    torch.manual_seed(0)
    unet = UNetMotionModel(  # SD 1.5's UNet with the v1-5-2 motion modules
        block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=768,
        num_attention_heads=8, norm_num_groups=32, sample_size=64, motion_max_seq_length=32,
        motion_num_attention_heads=8, use_motion_mid_block=True,
    )  # fmt: skip
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tok), hidden_size=768, intermediate_size=3072, num_attention_heads=12,
            num_hidden_layers=12, max_position_embeddings=77, hidden_act="quick_gelu",
            projection_dim=768, bos_token_id=len(tok) - 2, eos_token_id=len(tok) - 1,
            pad_token_id=len(tok) - 1,
        )
    )  # fmt: skip
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4,
    )  # fmt: skip
    pipe = AnimateDiffPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=unet, motion_adapter=None,
        scheduler=DDIMScheduler(beta_schedule="linear", clip_sample=False),
    )  # fmt: skip
    gen = DiffusionGenerator(
        DiffusionSettings(frames=2, steps=1, guidance_steps=1, device="cpu"), pipeline=None
    )
    gen._pipe = gen._prepare(pipe, "cpu")
    layout = VSL(
        duration=1.0, caption="a cow is on the left", objects=[{"id": 0, "name": "cow"}],
        keyframes=[{"time": 0.5, "boxes": [{"id": 0, "box": [0.0, 0.3, 0.5, 1.0]}]}],
    )  # fmt: skip
    frames = gen.generate(layout, width=64, height=64, seed=0, measure_energy=True)
    assert frames.shape == (2, 64, 64, 3)
    from spa2v.generation.diffusion.guidance import RecordingProcessor

    guided = sorted(gen.guided_layers)
    left = [n for n, m in gen.pipeline().unet.named_modules()
            if isinstance(getattr(m, "processor", None), RecordingProcessor)]  # fmt: skip
    assert left == []  # the UNet's own processors are back after the generation
    # SD 1.5: two transformer blocks per down block, three per up block, one attn2 each
    assert len(guided) == 2 + 2 + 3 + 3
    assert {n.split(".attentions")[0] for n in guided} == set(DEFAULT_LAYERS)
    assert all(n.endswith("transformer_blocks.0.attn2") for n in guided)
    assert np.isfinite(gen.energies[0]) and np.isfinite(gen.last_energy)


def test_guidance_steps_follow_steps_unless_given() -> None:
    from spa2v.errors import ParameterError

    assert DiffusionSettings(steps=2).guided_steps == 2
    assert DiffusionSettings(steps=25).guided_steps == 5
    assert DiffusionSettings(steps=2, guidance_steps=0).guided_steps == 0
    with pytest.raises(ParameterError, match=r"diffusion.steps \(2\), got 3"):
        DiffusionSettings(steps=2, guidance_steps=3)
