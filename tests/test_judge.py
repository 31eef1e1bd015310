"""The video judge: detections matched with the planned boxes (a fake detector with known
boxes), and the whole path with a tiny random-weight OWLv2 built here (no downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from spa2v import api
from spa2v.cli import app
from spa2v.evaluation.judge import Detection, judge_video, score_frames
from spa2v.layout.vsl import VSL

LAYOUT = VSL(
    duration=2.0,
    caption="a cow on the left, a helicopter crossing",
    objects=[{"id": 0, "name": "cow"}, {"id": 1, "name": "helicopter"}],
    keyframes=[
        {"time": 0.0, "boxes": [{"id": 0, "box": [0.05, 0.45, 0.35, 0.95]},
                                {"id": 1, "box": [0.10, 0.05, 0.40, 0.35]}]},
        {"time": 2.0, "boxes": [{"id": 0, "box": [0.05, 0.45, 0.35, 0.95]},
                                {"id": 1, "box": [0.60, 0.05, 0.90, 0.35]}]},
    ],
)  # fmt: skip


class DrawnBoxes:
    """A fake detector: what the storyboard renderer drew, frame by frame, in order."""

    def __init__(self, layout: VSL, times: np.ndarray, fps: float, size: tuple[int, int]):
        from spa2v.generation.animatic import AnimaticGenerator
        from spa2v.generation.base import RenderRequest

        request = RenderRequest(layout=layout, fps=fps, width=size[0], height=size[1], seed=0)
        drawn = [d for _, d in AnimaticGenerator().render(request)]
        names = {o.id: o.name for o in layout.objects}
        w, h = size
        self.queue = []
        for t in times:
            frame = drawn[min(int(round(t * fps - 0.5)), len(drawn) - 1)]
            self.queue.append([Detection(names[oid], (x0 / w, y0 / h, x1 / w, y1 / h), 0.9)
                               for oid, (x0, y0, x1, y1) in frame.items()])  # fmt: skip

    def preflight(self) -> None:
        pass

    def detect(self, frame: np.ndarray, names: list[str]) -> list[Detection]:
        return [d for d in self.queue.pop(0) if d.name in names]


def test_a_storyboard_judged_against_its_layout_and_its_mirror(tmp_path: Path) -> None:
    video = api.render(LAYOUT, tmp_path / "v é.mp4", fps=12, width=256, height=160)
    times = LAYOUT.frame_times(6)
    right = judge_video(video, LAYOUT, DrawnBoxes(LAYOUT, times, 12, (256, 160)), samples=6,
                        sheet_path=tmp_path / "sheet.png")  # fmt: skip
    assert right["overall"]["detection_rate"] == 1.0
    assert right["overall"]["iou"] > 0.9 and right["overall"]["side_agreement"] == 1.0
    assert right["overall"]["centre_error"] < 0.02
    assert set(right["objects"]) == {"cow", "helicopter"} and (tmp_path / "sheet.png").is_file()
    from test_eval import _mirror

    mirror = _mirror(LAYOUT)
    wrong = judge_video(video, mirror, DrawnBoxes(LAYOUT, times, 12, (256, 160)), samples=6)
    assert wrong["overall"]["iou"] < 0.3 and wrong["overall"]["side_agreement"] < 0.5
    assert wrong["objects"]["cow"]["side_agreement"] == 0.0  # always on the other side


def test_scoring_by_hand() -> None:
    """One frame: the cow found exactly, the helicopter missed, a stray dog ignored."""
    times = np.array([1.0])
    found = [[Detection("cow", (0.05, 0.45, 0.35, 0.95), 0.8),
              Detection("dog", (0.5, 0.5, 0.6, 0.6), 0.9)]]  # fmt: skip
    s = score_frames(LAYOUT, times, found)
    assert s["objects"]["cow"] == {"frames": 1, "detection_rate": 1.0, "iou": 1.0,
                                   "centre_error": 0.0, "side_agreement": 1.0}  # fmt: skip
    assert s["objects"]["helicopter"]["detection_rate"] == 0.0
    assert s["overall"]["detection_rate"] == 0.5 and s["overall"]["iou"] == 0.5
    # the sound on the other side than box and detection: no agreement
    s = score_frames(LAYOUT, times, found, {0: np.array([0.9])})
    assert s["objects"]["cow"]["side_agreement"] == 0.0


def _tiny_owlv2(folder: Path) -> Path:
    torch = pytest.importorskip("torch")
    from diffusion_models import write_tokenizer
    from transformers import (
        CLIPTokenizer,
        Owlv2Config,
        Owlv2ForObjectDetection,
        Owlv2ImageProcessor,
        Owlv2Processor,
    )

    write_tokenizer(folder / "tok")
    tok = CLIPTokenizer(str(folder / "tok" / "vocab.json"), str(folder / "tok" / "merges.txt"),
                        model_max_length=16, pad_token="!")  # fmt: skip
    text = {
        "vocab_size": len(tok),
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 16,
        "bos_token_id": len(tok) - 2,
        "eos_token_id": len(tok) - 1,
        "pad_token_id": 1,
    }
    vision = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
              "num_attention_heads": 4, "image_size": 64, "patch_size": 16}  # fmt: skip
    torch.manual_seed(0)
    model = Owlv2ForObjectDetection(Owlv2Config(text_config=text, vision_config=vision,
                                                projection_dim=32))  # fmt: skip
    processor = Owlv2Processor(image_processor=Owlv2ImageProcessor(
        size={"height": 64, "width": 64}), tokenizer=tok)  # fmt: skip
    out = folder / "owlv2 tiny"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def test_eval_video_with_a_tiny_owlv2(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    model = _tiny_owlv2(tmp_path)
    from spa2v.audio.synth import render_preset

    render_preset("duet", duration_s=2.0, seed=0).save(tmp_path / "duet.wav")
    LAYOUT.save(tmp_path / "layout.json")
    api.render(LAYOUT, tmp_path / "v.mp4", fps=8, width=128, height=80,
               audio=tmp_path / "duet.wav")  # fmt: skip
    result = CliRunner().invoke(app, [
        "eval", "video", str(tmp_path / "v.mp4"), "--audio", str(tmp_path / "duet.wav"),
        "--layout", str(tmp_path / "layout.json"), "--detector", "owlv2", "--detector-model",
        str(model), "--samples", "3", "--contact-sheet", str(tmp_path / "sheet.png"),
        "-o", str(tmp_path / "scores.json")])  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "scores.json").read_text())
    judge = doc["judge"]
    assert judge["samples"] == 3 and set(judge["objects"]) == {"cow", "helicopter"}
    assert all(0.0 <= judge["overall"][k] <= 1.0 for k in ("detection_rate", "iou"))
    assert "av_align" in doc and (tmp_path / "sheet.png").is_file()


def test_judge_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api.render(LAYOUT, tmp_path / "v.mp4", fps=8, width=128, height=80)
    LAYOUT.save(tmp_path / "layout.json")
    runner = CliRunner()
    v = str(tmp_path / "v.mp4")
    cases = [
        (["--detector", "owlv2"], "--detector needs --layout"),
        (["--layout", str(tmp_path / "layout.json"), "--detector", "yolo"], "must be none, owlv2"),
        (["--layout", str(tmp_path / "layout.json"), "--detector", "owlv2",
          "--detector-model", str(tmp_path / "nope")], "does not exist"),
        ([], "give --audio"),
    ]  # fmt: skip
    for extra, message in cases:
        result = runner.invoke(app, ["eval", "video", v, *extra])
        assert result.exit_code == 2 and message in result.output, (extra, result.output)
        assert "Traceback" not in result.output


def test_run_judges_its_video(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    model = _tiny_owlv2(tmp_path)
    from spa2v.audio.synth import render_preset

    render_preset("duet", duration_s=2.0, seed=0).save(tmp_path / "duet.wav")
    result = api.run(tmp_path / "duet.wav", tmp_path / "out", judge="owlv2",
                     detector_model=str(model), judge_samples=2, width=128, height=80,
                     labels=["cow", "helicopter"])  # fmt: skip
    record = json.loads(result.files["run"].read_text())
    assert record["judge"]["detector"] == "owlv2" and record["judge"]["samples"] == 2
    assert set(record["judge"]["objects"]) == {"cow", "helicopter"}
    assert result.files["judge"].is_file() and result.judge == record["judge"]
    # without judging there is no judge.png and no record
    plain = api.run(tmp_path / "duet.wav", tmp_path / "plain", width=128, height=80)
    assert "judge" not in plain.files and not plain.judge


def _tiny_grounding_dino(folder: Path) -> Path:
    torch = pytest.importorskip("torch")
    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "a", "cow", "helicopter",
             *"abcdefghijklmnopqrstuvwxyz"]  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(dict.fromkeys(words)) + "\n")
    tok = BertTokenizer(str(folder / "vocab.txt"))
    swin = SwinConfig(window_size=7, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
                      image_size=64, out_features=["stage2", "stage3", "stage4"],
                      out_indices=[2, 3, 4])  # fmt: skip
    bert = BertConfig(
        vocab_size=len(tok),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=8,
        max_position_embeddings=32,
    )
    config = GroundingDinoConfig(
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=10,
        num_feature_levels=4, encoder_n_points=2, decoder_n_points=2, use_timm_backbone=False,
        backbone=None, use_pretrained_backbone=False, backbone_config=swin, text_config=bert,
        max_text_len=32,
    )  # fmt: skip
    torch.manual_seed(0)
    model = GroundingDinoForObjectDetection(config)
    processor = GroundingDinoProcessor(image_processor=GroundingDinoImageProcessor(
        size={"shortest_edge": 64, "longest_edge": 96}), tokenizer=tok)  # fmt: skip
    out = folder / "grounding dino tiny"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def test_eval_video_with_a_tiny_grounding_dino(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    model = _tiny_grounding_dino(tmp_path / "gd")
    LAYOUT.save(tmp_path / "layout.json")
    api.render(LAYOUT, tmp_path / "v.mp4", fps=8, width=128, height=80)
    result = CliRunner().invoke(app, [
        "eval", "video", str(tmp_path / "v.mp4"), "--layout", str(tmp_path / "layout.json"),
        "--detector", "grounding-dino", "--detector-model", str(model), "--samples", "2",
        "-o", str(tmp_path / "scores.json")])  # fmt: skip
    assert result.exit_code == 0, result.output
    judge = json.loads((tmp_path / "scores.json").read_text())["judge"]
    assert judge["samples"] == 2 and set(judge["objects"]) == {"cow", "helicopter"}
    assert 0.0 <= judge["overall"]["detection_rate"] <= 1.0


def test_bench_run_can_judge_rendered_plans(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    model = _tiny_owlv2(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["bench", "make", str(tmp_path / "bench"), "--scenes", "2",
                                 "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["bench", "run", str(tmp_path / "bench"), "--no-baseline",
                                 "--workers", "1", "--judge", "owlv2", "--detector-model",
                                 str(model)])  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "bench" / "results" / "cues" / "results.json").read_text())
    assert 0.0 <= doc["overall"]["judge_iou"] <= 1.0 and "judge_found" in doc["clips"][0]
    assert len(list((tmp_path / "bench" / "results" / "cues" / "videos").glob("*.mp4"))) == 2
    assert "j.IoU" in result.output


def test_more_samples_than_frames_and_a_layout_of_another_length(tmp_path: Path) -> None:
    from spa2v.evaluation.judge import JudgeError, read_frames

    video = api.render(LAYOUT, tmp_path / "v.mp4", fps=3, width=128, height=80)  # 6 frames
    times = LAYOUT.frame_times(16)
    frames = read_frames(video, times)
    # each sample is the frame at its time: the helicopter moves right, so the frames change
    firsts = [f.tobytes() for f in frames[:3]]
    assert firsts[0] == firsts[1] != frames[-1].tobytes()
    longer = VSL.model_validate({**LAYOUT.model_dump(by_alias=True), "duration": 12.0,
                                 "keyframes": [{**k.model_dump(by_alias=True), "time": 6 * k.time}
                                               for k in LAYOUT.keyframes]})  # fmt: skip
    with pytest.raises(JudgeError, match=r"2\.00 s long but its layout 12\.00 s"):
        judge_video(video, longer, DrawnBoxes(LAYOUT, times, 3, (128, 80)), samples=4)


def test_a_detector_folder_of_the_other_kind_is_refused_at_once(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from spa2v.evaluation.judge import JudgeError, ModelDetector

    owl = _tiny_owlv2(tmp_path)
    with pytest.raises(JudgeError, match="is a owlv2 model, not grounding-dino"):
        ModelDetector("grounding-dino", str(owl)).preflight()
    with pytest.raises(JudgeError, match=r"no readable config\.json"):
        ModelDetector("owlv2", str(tmp_path / "tok")).preflight()
    api.render(LAYOUT, tmp_path / "v.mp4", fps=8, width=128, height=80)
    result = CliRunner().invoke(app, ["eval", "video", str(tmp_path / "v.mp4"),
                                      "--contact-sheet", str(tmp_path / "s.png")])  # fmt: skip
    assert result.exit_code == 2 and "need --detector" in result.output


def test_detector_boxes_are_normalised_to_the_frame() -> None:
    """OWLv2 pads a frame to a square (boxes in the square's pixels), Grounding DINO gives
    (height, width) pixels: both come back normalised to the frame, names whole words."""
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    from spa2v.evaluation.judge import ModelDetector, _name_of

    class Processor:
        def __init__(self, kind: str) -> None:
            self.kind = kind

        def __call__(self, **kw):
            return SimpleNamespace(to=lambda device: {}, input_ids=torch.zeros((1, 3)))

        def post_process_grounded_object_detection(self, *args, **kw):
            self.sizes = kw["target_sizes"]
            box = [64.0, 20.0, 128.0, 60.0]  # pixels: x0, y0, x1, y1
            if self.kind == "owlv2":
                return [
                    {
                        "boxes": torch.tensor([box]),
                        "scores": torch.tensor([0.9]),
                        "labels": torch.tensor([1]),
                    }
                ]
            return [{"boxes": torch.tensor([box]), "scores": torch.tensor([0.8]),
                     "text_labels": ["a woman"]}]  # fmt: skip

    frame = np.zeros((80, 128, 3), np.uint8)  # height 80, width 128
    for kind, names in (("owlv2", ["man", "woman"]), ("grounding-dino", ["man", "woman"])):
        det = ModelDetector(kind, "unused")
        det._processor = Processor(kind)
        det._model = lambda **kw: None
        det._model.device = "cpu"  # type: ignore[attr-defined]
        found = det.detect(frame, names)
        assert [d.name for d in found] == ["woman"]
        assert found[0].box == pytest.approx((0.5, 0.25, 1.0, 0.75))
        side = (128, 128) if kind == "owlv2" else (80, 128)
        assert det._processor.sizes == [side]
    assert _name_of("", ["man"]) is None and _name_of(" . ", ["man"]) is None
    assert _name_of("a woman", ["man", "woman"]) == "woman"
