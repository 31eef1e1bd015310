"""The Wan 2.1 backbone on the CPU with random-weight models built here (no downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from diffusion_models import write_tiny_wan  # noqa: E402
from test_diffusion import LAYOUT  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from spa2v.cli import app  # noqa: E402
from spa2v.config import DiffusionSettings  # noqa: E402
from spa2v.errors import ParameterError  # noqa: E402
from spa2v.generation.diffusion import DiffusionGenerator  # noqa: E402
from spa2v.generation.diffusion.generator import windows  # noqa: E402
from spa2v.generation.diffusion.prompts import clip_prompt  # noqa: E402
from spa2v.generation.diffusion.wan import Wan  # noqa: E402
from spa2v.layout.vsl import VSL  # noqa: E402
from spa2v.media.video import probe_video  # noqa: E402

#: Wan 2.1 T2V 1.3B's transformer (its diffusers config)
WAN_1_3B = dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128,
                in_channels=16, out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960,
                num_layers=30, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
                rope_max_seq_len=1024)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_wan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_wan(tmp_path_factory.mktemp("tiny wan é"))


def _settings(model: Path, **kw) -> DiffusionSettings:
    return DiffusionSettings(**{"model": str(model), "steps": 3, "device": "cpu", **kw})


def test_the_backbone_is_read_from_the_model_folder(tiny_wan: Path) -> None:
    gen = DiffusionGenerator(_settings(tiny_wan, guidance_steps=1))
    frames = gen.generate(LAYOUT, width=32, height=48, seed=0)
    report = gen.report()
    # 2 s at Wan's 16 frames/s: 32 rounded up to 4k + 1 = 33 frames, 9 latent frames
    assert frames.shape == (33, 48, 32, 3) and frames.dtype == np.uint8
    assert report["backbone"] == "wan" and report["generated_frames"] == 33
    assert report["guided_layers"] == 2 and report["windows"] == 1
    assert gen.options.cfg_scale == 5.0 and gen.options.gradient_checkpointing
    # one prompt for the clip: the global caption, then the keyframes' captions in order
    assert report["prompts"] == [f"{LAYOUT.caption}. the cow on the left, then the "
                                 "helicopter on the right"]  # fmt: skip
    with pytest.raises(ParameterError, match="divisible by 16"):
        gen.generate(LAYOUT, width=40, height=48, seed=0)
    left = [
        n
        for n, m in gen.pipeline().transformer.named_modules()
        if type(getattr(m, "processor", None)).__name__ == "WanRecordingProcessor"
    ]
    assert left == []  # the transformer's own processors are back


def test_same_seed_same_frames(tiny_wan: Path) -> None:
    gen = DiffusionGenerator(_settings(tiny_wan, guidance_steps=1, frames=5))
    a = gen.generate(LAYOUT, width=32, height=32, seed=3)
    b = gen.generate(LAYOUT, width=32, height=32, seed=3)
    c = gen.generate(LAYOUT, width=32, height=32, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_guidance_lowers_the_layout_energy(tiny_wan: Path, seed: int) -> None:
    energy, inside = {}, {}
    for guided in (False, True):
        gen = DiffusionGenerator(_settings(tiny_wan, steps=4, layout_guidance=guided,
                                           guidance_steps=4, guidance_iterations=3,
                                           guidance_scale=20.0, gen_fps=8))  # fmt: skip
        gen.generate(LAYOUT, width=64, height=64, seed=seed)
        energy[guided], inside[guided] = gen.last_energy, gen.adherence
    assert energy[True] < energy[False] - 0.05, energy
    assert np.mean(list(inside[True].values())) > np.mean(list(inside[False].values())), inside


def test_checkpointing_changes_memory_not_the_result(tiny_wan: Path) -> None:
    runs = {}
    for checkpointing in (True, False):
        gen = DiffusionGenerator(_settings(tiny_wan, frames=5, guidance_steps=2,
                                           gradient_checkpointing=checkpointing))  # fmt: skip
        runs[checkpointing] = gen.generate(LAYOUT, width=32, height=32, seed=0), gen.energies
    assert runs[True][1] == pytest.approx(runs[False][1], rel=1e-5)
    assert np.abs(runs[True][0].astype(int) - runs[False][0]).max() <= 1


def test_long_clips_run_in_windows_each_with_its_prompt(tiny_wan: Path) -> None:
    layout = VSL.model_validate({**LAYOUT.model_dump(by_alias=True), "duration": 4.0,
                                 "keyframes": [{**k.model_dump(by_alias=True),
                                                "time": 4.0 * k.time / 2.0}
                                               for k in LAYOUT.keyframes]})  # fmt: skip
    # 4 s at 8 frames/s: 33 frames, 9 latent; windows of 17 frames (5 latent) every 8 (2)
    gen = DiffusionGenerator(_settings(tiny_wan, gen_fps=8, context_length=17,
                                       context_stride=8, guidance_steps=1))  # fmt: skip
    frames = gen.generate(layout, width=32, height=32, seed=0)
    report = gen.report()
    assert frames.shape[0] == 33 and report["windows"] == len(windows(9, 5, 2)) == 3
    # windows 0-4, 2-6, 4-8 of latent frames at 0.06, 0.5, 1.0, ... 3.5 s; keyframes at 0 and
    # 4 s: the first two windows tell the start, the last one (to the clip's end) both
    start = f"{LAYOUT.caption}. the cow on the left"
    assert report["prompts"] == [start, f"{start}, then the helicopter on the right"]
    # the guided groups (0-4, 4-9) read the prompts of the windows they overlap most
    cond = gen.backbone.conditioning(gen.pipeline(), layout, gen.backbone.latent_times(layout, 33),
                                     gen.options, "cpu", windows(9, 5, 2))  # fmt: skip
    assert [p.text for p in cond.window_prompts] == [start, start, report["prompts"][1]]
    assert cond.window(4, 9)[0] is cond.window(4, 8)[0] is not cond.window(0, 4)[0]
    assert set(gen.adherence) == {"cow", "helicopter"}


def test_wan_time_axis() -> None:
    assert [Wan.frame_count(n) for n in (1, 2, 5, 6, 80, 81, 160)] == [1, 5, 5, 9, 81, 81, 161]
    assert Wan.frame_count(4096) == 4093  # 4k + 1 within MAX_GENERATED_FRAMES
    assert [Wan.latent_frames(n) for n in (1, 5, 81, 161)] == [1, 2, 21, 41]
    layout = VSL.model_validate({**LAYOUT.model_dump(by_alias=True), "duration": 1.0,
                                 "keyframes": [{"time": 0.0, "boxes": []}]})  # fmt: skip
    t = Wan.latent_times(layout, 9)  # frames at (k + 0.5) / 9 s: the first alone, then 4 and 4
    assert np.allclose(t, [0.5 / 9, 3 / 9, 7 / 9])
    # a 10 s recording: 161 frames at 16 frames/s, 41 latent frames, 3 windows of 21
    s = DiffusionSettings(backbone="wan").for_backbone("wan")
    n = Wan.frame_count(s.generated_frames(10.0))
    spans = windows(Wan.latent_frames(n), Wan.latent_frames(s.context_length),
                    s.context_stride // Wan.time_compression)  # fmt: skip
    assert n == 161 and spans == [(0, 21), (10, 31), (20, 41)]


def test_clip_prompt_modes() -> None:
    layout = VSL(duration=3.0, caption="a dog and a bird.", objects=[{"id": 0, "name": "dog"}],
                 keyframes=[
        {"time": 0.0, "caption": "the dog on the left", "boxes": []},
        {"time": 1.0, "caption": "the dog on the left", "boxes": []},
        {"time": 2.0, "caption": "the bird flies right.", "boxes": []}])  # fmt: skip
    assert clip_prompt(layout, 0.0, 3.0, mode="global") == "a dog and a bird"
    assert clip_prompt(layout, 0.0, 3.0, mode="local") == ("the dog on the left, then the bird "
                                                           "flies right")  # fmt: skip
    assert clip_prompt(layout, 0.0, 1.5) == "a dog and a bird. the dog on the left"
    assert clip_prompt(layout, 2.5, 3.0) == "a dog and a bird. the bird flies right"
    planned = VSL(duration=2.0, caption="", objects=[{"id": 0, "name": "dog"}], keyframes=[
        {"time": 0.0, "caption": "The dog on the left", "boxes": []},
        {"time": 1.0, "caption": "NASA dog on the right", "boxes": []}])  # fmt: skip
    assert clip_prompt(planned, 0.0, 2.0) == "the dog on the left, then NASA dog on the right"


def test_window_options_must_fit_the_backbone(tiny_wan: Path, tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="4k \\+ 1"):
        DiffusionSettings(backbone="wan", context_length=16)
    # a shorter window without a stride gets about half of it, not the default 40
    short = DiffusionSettings(backbone="wan", context_length=33).for_backbone("wan")
    assert short.context_stride == 16
    assert DiffusionSettings(context_length=4).for_backbone("animatediff").context_stride == 2
    gen = DiffusionGenerator(_settings(tiny_wan, context_stride=6))  # wan known from the folder
    with pytest.raises(ParameterError, match="multiple of 4"):
        gen.preflight()
    layout = tmp_path / "layout.json"
    LAYOUT.save(layout)
    runner = CliRunner()
    result = runner.invoke(app, ["render", str(layout), "-o", str(tmp_path / "v.mp4"),
                                 "--generator", "diffusion", "--model", str(tiny_wan),
                                 "--backbone", "animatediff"])  # fmt: skip
    assert result.exit_code == 2 and "is a wan pipeline, but --backbone is animatediff" in (
        result.output
    )
    other = tmp_path / "xl"
    other.mkdir()
    index = {"_class_name": "StableDiffusionXLPipeline"}
    (other / "model_index.json").write_text(json.dumps(index))
    result = runner.invoke(app, ["render", str(layout), "-o", str(tmp_path / "v.mp4"),
                                 "--generator", "diffusion", "--model", str(other)])  # fmt: skip
    assert result.exit_code == 2 and "is a StableDiffusionXLPipeline" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "v.mp4").exists()


def test_render_with_wan_from_another_folder(tiny_wan: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from spa2v.audio.synth import render_preset

    work = tmp_path / "work ü"
    work.mkdir()
    LAYOUT.save(work / "layout.json")
    render_preset("duet", duration_s=2.0, seed=0).save(work / "duet.wav")
    monkeypatch.chdir(work)
    result = CliRunner().invoke(app, ["render", "layout.json", "-o", "clip é.mp4", "--audio",
                                      "duet.wav", "--generator", "diffusion", "--model",
                                      str(tiny_wan), "--steps", "2", "--width", "64",
                                      "--height", "48", "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    info = probe_video(work / "clip é.mp4")
    assert (info["width"], info["height"]) == (64, 48) and info["audio_channels"] == 2
    assert info["frames"] == 48 and "Loading" not in result.output  # no tqdm of its own
    assert "generated 33 frames with wan in 1 window(s)" in result.output


def test_a_guided_update_survives_the_unipc_step(tiny_wan: Path) -> None:
    """Guidance moves the latents before a step's prediction; UniPC's corrector would rebuild
    them from the previous step's. With the corrector off at the guided steps after the
    first, the next latents carry the whole update; left on, most of it is undone."""
    pipe = DiffusionGenerator(_settings(tiny_wan)).pipeline()

    def second_step(scheduler, nudge: float) -> torch.Tensor:
        scheduler.set_timesteps(4)
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(1, 16, 2, 4, 4, generator=gen)
        out = torch.randn(1, 16, 2, 4, 4, generator=gen)
        x = scheduler.step(out, scheduler.timesteps[0], x).prev_sample
        return scheduler.step(out, scheduler.timesteps[1], x + nudge).prev_sample  # guided

    guided = Wan.scheduler_for(pipe, 2)
    assert type(guided).__name__ == "UniPCMultistepScheduler"
    assert list(guided.config.disable_corrector) == [0] and pipe.scheduler is guided
    kept = float((second_step(guided, 0.5) - second_step(guided, 0.0)).mean())
    plain = type(guided).from_config(guided.config, disable_corrector=[])
    undone = float((second_step(plain, 0.5) - second_step(plain, 0.0)).mean())
    assert kept == pytest.approx(0.5, abs=0.02) and undone < 0.25, (kept, undone)


def test_the_recording_processor_is_wans_attention_with_frame_major_maps() -> None:
    """Recording changes nothing in the output (float32: equal to diffusers' processor), and
    the maps are laid out frame by frame, rows then columns, as the patches are."""
    from diffusers import WanTransformer3DModel

    from spa2v.generation.diffusion.guidance import AttentionStore
    from spa2v.generation.diffusion.wan import WanRecordingProcessor

    torch.manual_seed(0)
    model = WanTransformer3DModel(num_attention_heads=2, attention_head_dim=12, text_dim=32,
                                  ffn_dim=32, num_layers=1, rope_max_seq_len=32)  # fmt: skip
    attn = model.blocks[0].attn2
    frames, h, w = 3, 2, 5
    video = torch.randn(1, frames * h * w, 24)
    text = torch.randn(1, 7, 24)
    expected = attn(video, text)
    store = AttentionStore()
    store.active, store.frames = True, frames
    attn.set_processor(WanRecordingProcessor(store, "a", attn.processor))
    assert torch.allclose(attn(video, text), expected, atol=1e-5)
    maps = store.maps["a"]
    assert maps.shape == (frames, h * w, 7)
    assert torch.allclose(maps.sum(-1), torch.ones(frames, h * w), atol=1e-5)
    # token (f, y, x) of the flattened video is map[f, y * w + x]: check one by hand
    q = attn.norm_q(attn.to_q(video[:, 2 * h * w + 1 * w + 3]))  # frame 2, row 1, column 3
    k = attn.norm_k(attn.to_k(text[0]))
    heads = [(q.view(2, 12)[i] @ k.view(7, 2, 12)[:, i].T / 12**0.5).softmax(-1)
             for i in range(2)]  # fmt: skip
    assert torch.allclose(maps[2, 1 * w + 3], (heads[0] + heads[1]) / 2, atol=1e-5)


def test_wan_2_2_folders_and_a_missing_adapter_fall_through(
    tiny_wan: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spa2v.generation.diffusion.generator import DiffusionError
    from spa2v.weights import WeightsNotFoundError

    two = tmp_path / "wan22"
    two.mkdir()
    index = json.loads((tiny_wan / "model_index.json").read_text())
    (two / "model_index.json").write_text(json.dumps({**index, "boundary_ratio": 0.875}))
    with pytest.raises(DiffusionError, match=r"Wan 2\.2"):
        DiffusionGenerator(_settings(two)).preflight()
    # neither a model nor a backbone: AnimateDiff's default needs its model and its motion
    # adapter; with the adapter missing, Wan's default model is taken when it is here
    here = {"stable-diffusion-v1-5/stable-diffusion-v1-5": str(tiny_wan.parent),
            "Wan-AI/Wan2.1-T2V-1.3B-Diffusers": str(tiny_wan)}  # fmt: skip

    def resolve(ref: str, what: str) -> str:
        if ref not in here:
            raise WeightsNotFoundError(f"the {what} {ref!r} is not on this machine")
        return here[ref]

    monkeypatch.setattr("spa2v.weights.resolve_weights", resolve)
    gen = DiffusionGenerator(DiffusionSettings(device="cpu"))
    gen.preflight()
    assert gen.options.backbone == "wan" and gen.options.gen_fps == 16.0
    del here["Wan-AI/Wan2.1-T2V-1.3B-Diffusers"]
    with pytest.raises(WeightsNotFoundError, match=r"motion adapter.*or the Wan 2\.1 model"):
        DiffusionGenerator(DiffusionSettings(device="cpu")).preflight()


def test_model_folders_are_checked_before_any_work(
    tiny_wan: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spa2v.generation.diffusion.generator import DiffusionError
    from spa2v.weights import WeightsNotFoundError

    def preflight(model: Path | str, **kw) -> None:
        DiffusionGenerator(DiffusionSettings(model=str(model), device="cpu", **kw)).preflight()

    with pytest.raises(ParameterError, match=r"blocks\.99: .*its blocks are blocks\.0, blocks\.1"):
        preflight(tiny_wan, guidance_layers=["blocks.99"])
    with pytest.raises(ParameterError, match=r"down_blocks\.1"):
        preflight(tiny_wan, guidance_layers=["down_blocks.1"])
    preflight(tiny_wan, guidance_layers=["blocks.1.attn2"])  # a finer name inside a block
    with pytest.raises(ParameterError, match="at most 64 frames"):
        DiffusionSettings(backbone="animatediff", context_length=65)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsNotFoundError, match="folder 'models ü/wna' does not exist"):
        preflight("models ü/wna")  # not a hub id: no download advice
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(WeightsNotFoundError, match="is a file"):
        preflight("weights.bin")
    for index, message in (([1, 2], "names no pipeline class"), ({"a": 1}, "names no pipeline"),
                           ("{", "is not JSON")):  # fmt: skip
        folder = tmp_path / f"m{len(message)}"
        folder.mkdir()
        text = index if isinstance(index, str) else json.dumps(index)
        (folder / "model_index.json").write_text(text)
        with pytest.raises(DiffusionError, match=message):
            preflight(folder)
    two = tmp_path / "wan22"
    two.mkdir()
    data = {**json.loads((tiny_wan / "model_index.json").read_text()), "boundary_ratio": 0.9}
    (two / "model_index.json").write_text(json.dumps(data))
    with pytest.raises(DiffusionError, match=r"is a wan pipeline, but diffusion\.backbone is anim"):
        preflight(two, backbone="animatediff")  # the mismatch first, then the version


def test_a_relative_model_folder_is_recorded_absolute(
    tiny_wan: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spa2v.config import RunConfig, read_config

    monkeypatch.chdir(tiny_wan.parent)
    cfg = RunConfig.build(model="wan", tagger_model="someone/some-model")
    record = cfg.record()
    assert record["diffusion"]["model"] == str(tiny_wan)  # a folder here: absolute
    assert record["tagging"]["tagger_model"] == "someone/some-model"  # a hub id: as it is
    assert f'model = "{tiny_wan}"' in cfg.to_toml()
    # in a config file, a relative folder is relative to the file's folder, read from anywhere
    conf = tiny_wan.parent / "conf.toml"
    conf.write_text('[diffusion]\nmodel = "wan"\n[tagging]\ntagger_model = "someone/model"\n')
    monkeypatch.chdir(tmp_path)
    options = read_config(conf)
    assert Path(options["diffusion"]["model"]) == tiny_wan
    assert options["tagging"]["tagger_model"] == "someone/model"


def test_full_size_hooks_and_maps_on_the_meta_device() -> None:
    """Wan 2.1 1.3B's transformer (random weights, no memory: the meta device) at 480x832 and
    81 frames: one recording hook on each block's text cross-attention and nowhere else; each
    map is (21 latent frames, 30 x 52 patches, 512 text tokens)."""
    from diffusers import WanTransformer3DModel

    from spa2v.generation.diffusion.guidance import AttentionStore

    with torch.device("meta"):
        model = WanTransformer3DModel(**WAN_1_3B)
    assert 1.3e9 < sum(p.numel() for p in model.parameters()) < 1.5e9
    pipe = type("Pipe", (), {"transformer": model})()
    store = AttentionStore()
    s = DiffusionSettings(backbone="wan").for_backbone("wan")
    with Wan.hooks(pipe, s.guidance_layers, store) as names:
        hooked = [
            n
            for n, m in model.named_modules()
            if type(getattr(m, "processor", None)).__name__ == "WanRecordingProcessor"
        ]
        assert names == hooked == [f"blocks.{i}.attn2" for i in range(30)]
        n_latent = Wan.latent_frames(s.context_length)
        store.active, store.frames = True, n_latent
        x = torch.empty(1, 16, n_latent, 480 // 8, 832 // 8, device="meta")
        text = torch.empty(1, 512, 4096, device="meta")
        with torch.no_grad():
            Wan.predict(pipe, x, torch.tensor(500.0, device="meta"), text)
    assert sorted(store.maps) == sorted(names)
    assert {tuple(m.shape) for m in store.maps.values()} == {(21, 30 * 52, 512)}
    assert not any(type(getattr(m, "processor", None)).__name__ == "WanRecordingProcessor"
                   for m in model.modules())  # fmt: skip


@pytest.mark.full_arch
def test_full_size_wan_generates_on_the_cpu(tmp_path: Path) -> None:
    """Wan 2.1 1.3B's transformer and VAE with random weights (a 2-layer UMT5 of the real
    width for the 24-layer text encoder) through the whole generator: 32x32, 5 frames,
    1 guided step with gradient checkpointing."""
    from diffusers import (
        AutoencoderKLWan,
        UniPCMultistepScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )
    from diffusion_models import write_t5_tokenizer
    from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel

    tok = AutoTokenizer.from_pretrained(write_t5_tokenizer(tmp_path / "tok"))
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(
        UMT5Config(vocab_size=len(tok), d_model=4096, d_kv=64, d_ff=10240, num_layers=2,
                   num_heads=64, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    )  # fmt: skip
    pipe = WanPipeline(
        tokenizer=tok, text_encoder=text_encoder, transformer=WanTransformer3DModel(**WAN_1_3B),
        vae=AutoencoderKLWan(), scheduler=UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0),
    )  # fmt: skip
    gen = DiffusionGenerator(DiffusionSettings(frames=5, steps=1, guidance_steps=1,
                                               device="cpu"))  # fmt: skip
    gen._prepare(pipe, "cpu")
    frames = gen.generate(LAYOUT, width=32, height=32, seed=0)
    assert frames.shape == (5, 32, 32, 3)
    assert gen.report()["guided_layers"] == 30 and np.isfinite(gen.energies).all()
    assert np.isfinite(gen.last_energy) and set(gen.adherence) == {"cow", "helicopter"}
