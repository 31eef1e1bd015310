"""LLM planners against scripted local servers that speak the Gemini and OpenAI REST shapes.

No network: every request goes to 127.0.0.1. The real SDKs (google-genai, openai) are used.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from llm_server import Reply, ScriptedServer
from typer.testing import CliRunner

from spa2v.audio.cues import CueParams, compute_cues
from spa2v.audio.load import Audio
from spa2v.audio.synth import render_preset
from spa2v.cli import app
from spa2v.config import RunConfig
from spa2v.errors import ParameterError
from spa2v.evaluation.spatial import side_of_layout
from spa2v.layout.vsl import VSL
from spa2v.planning import PlanOptions, get_planner
from spa2v.planning.llm import LLMPlanner, LLMSettings
from spa2v.planning.llm.answer import AnswerError, extract_json
from spa2v.planning.llm.backends import LLMError, RetryPolicy
from spa2v.planning.llm.examples import ExampleBank, answer_from_layout, write_bank
from spa2v.planning.llm.prompt import PromptTemplate

SECRET = "sk-test-SECRET-0123456789"
BACKENDS = ("gemini", "openai")


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("SPA2V_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def duet() -> tuple:
    scene = render_preset("duet", duration_s=3.0, seed=2)
    cues = compute_cues(scene.audio, sr=scene.sr, params=CueParams(n_sources=2))
    return cues, Audio(scene.audio, scene.sr, 2), PlanOptions(labels=("cow", "helicopter"))


def _truthful(duet: tuple) -> dict:
    """An answer that agrees with the cue planner (the 'model' got it right)."""
    cues, _, options = duet
    return answer_from_layout(get_planner("cues").plan(cues, None, options), "cites cues")


def _settings(server: ScriptedServer, backend: str, **kw) -> tuple[LLMSettings, RetryPolicy]:
    url = server.gemini_url if backend == "gemini" else server.openai_url
    retry = kw.pop("retry", RetryPolicy(attempts=3, sleep=lambda s: None))
    return LLMSettings(base_url=url, **kw), retry


def _plan(duet: tuple, backend: str, settings: tuple[LLMSettings, RetryPolicy]) -> VSL:
    cues, audio, options = duet
    return LLMPlanner(backend, *settings[:1], retry=settings[1]).plan(cues, audio, options)


@pytest.mark.parametrize("backend", BACKENDS)
def test_valid_answer_is_used_and_request_is_complete(duet: tuple, backend: str) -> None:
    answer = _truthful(duet)
    answer["caption"] = "A cow grazes while a helicopter flies over."
    with ScriptedServer([Reply(json.dumps(answer))]) as srv:
        layout = _plan(duet, backend, _settings(srv, backend, cache=False))
    assert layout.caption == "A cow grazes while a helicopter flies over."
    assert layout.model_extra["planning"]["path"] == "model"
    assert layout.model_extra["planner"] == backend
    (req,) = srv.requests
    body = json.dumps(req.body)
    assert "Measured cues" in body and "S0 az/conf" in body  # the cue sheet as text
    assert "film director" in body  # the system instruction
    assert body.count("Plan the video for this recording") == 4  # 3 examples + the request
    if backend == "gemini":
        cfg = req.body["generationConfig"]
        assert cfg["temperature"] == 0.5 and cfg["seed"] == 0
        assert cfg["responseMimeType"] == "application/json" and "responseJsonSchema" in cfg
        assert "inlineData" in body  # the audio, for what is sounding
        assert req.headers.get("x-goog-api-key") == SECRET
    else:
        assert req.body["temperature"] == 0.5 and req.body["seed"] == 0
        assert req.body["response_format"]["type"] == "json_schema"
        assert "input_audio" not in body  # not sent to OpenAI-compatible servers by default


@pytest.mark.parametrize("backend", BACKENDS)
def test_json_in_a_markdown_fence(duet: tuple, backend: str) -> None:
    text = "Here is the plan:\n```json\n" + json.dumps(_truthful(duet)) + "\n```\nEnjoy."
    with ScriptedServer([Reply(text)]) as srv:
        layout = _plan(duet, backend, _settings(srv, backend, cache=False))
    assert layout.model_extra["planning"]["path"] == "model"
    assert [o.name for o in layout.objects] == ["cow", "helicopter"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncated_json_is_retried_with_the_error(duet: tuple, backend: str) -> None:
    good = json.dumps(_truthful(duet))
    with ScriptedServer([Reply(good[: len(good) // 2]), Reply(good)]) as srv:
        layout = _plan(duet, backend, _settings(srv, backend, cache=False))
    record = layout.model_extra["planning"]
    assert record["path"] == "retried" and "truncated" in record["first_error"]
    assert len(srv.requests) == 2
    assert "not a valid layout" in json.dumps(srv.requests[1].body)
    assert "truncated" in json.dumps(srv.requests[1].body)


def test_still_invalid_after_the_retry_falls_back_to_the_cue_plan(duet: tuple) -> None:
    cues, _, options = duet
    with ScriptedServer([Reply("I cannot plan this.")]) as srv:
        with pytest.warns(UserWarning, match="cue-based plan"):
            layout = _plan(duet, "openai", _settings(srv, "openai", cache=False))
    assert len(srv.requests) == 2
    assert layout.model_extra["planning"]["path"] == "fallback"
    cue = get_planner("cues").plan(cues, None, options)
    assert [kf.boxes for kf in layout.keyframes] == [kf.boxes for kf in cue.keyframes]


def test_boxes_out_of_range_and_unknown_ids_are_repaired(duet: tuple) -> None:
    answer = _truthful(duet)
    kf = answer["keyframes"]
    kf[0]["boxes"][0]["box"] = [-0.2, 0.5, 0.3, 1.4]  # outside the frame
    kf[1]["boxes"][0]["box"] = [0.3, 0.9, 0.05, 0.5]  # corners swapped
    kf[2]["boxes"].append({"id": 7, "box": [0.1, 0.1, 0.2, 0.2]})  # no such object
    answer["keyframes"] = kf[::-1]  # and in reverse order
    with ScriptedServer([Reply(json.dumps(answer))]) as srv:
        layout = _plan(duet, "gemini", _settings(srv, "gemini", cache=False))
    record = layout.model_extra["planning"]
    assert record["path"] == "repaired"
    text = " ".join(record["repairs"])
    for what in ("clamped", "ordered the corners", "unknown object id 7", "sorted"):
        assert what in text
    first = layout.keyframes[0].boxes[0].box
    assert first == (0.0, 0.5, 0.3, 1.0)
    assert layout.keyframes[1].boxes[0].box == (0.05, 0.5, 0.3, 0.9)
    assert all(b.id in (0, 1) for k in layout.keyframes for b in k.boxes)
    assert len(srv.requests) == 1  # repaired without asking again


def _mirrored(answer: dict, every: int = 1) -> dict:
    """The helicopter (object 1) drawn mirrored left/right in every ``every``-th keyframe."""
    out = json.loads(json.dumps(answer))
    for k, kf in enumerate(out["keyframes"]):
        if k % every == 0:
            for b in kf["boxes"]:
                if b["id"] == 1:
                    x0, y0, x1, y1 = b["box"]
                    b["box"] = [1 - x1, y0, 1 - x0, y1]
    return out


@pytest.mark.parametrize("trust", ["blend", "cues", "llm"])
def test_cue_lock_on_a_left_right_contradiction(duet: tuple, trust: str) -> None:
    cues, _, options = duet
    cue = get_planner("cues").plan(cues, None, options)
    answer = _mirrored(_truthful(duet))
    with ScriptedServer([Reply(json.dumps(answer))]) as srv:
        layout = _plan(duet, "openai", _settings(srv, "openai", cache=False, trust=trust))
    record = layout.model_extra["planning"]
    # keyframes that show the helicopter (it is absent until it is first heard)
    shows = [k for k, kf in enumerate(cue.keyframes) if any(b.id == 1 for b in kf.boxes)]
    heli_cue = [next(b.box for b in cue.keyframes[k].boxes if b.id == 1) for k in shows]
    heli = [next(b.box for b in layout.keyframes[k].boxes if b.id == 1) for k in shows]
    centres = np.array([(b[0] + b[2]) / 2 for b in heli])
    cue_centres = np.array([(b[0] + b[2]) / 2 for b in heli_cue])
    strong = np.abs(cue_centres - 0.5) >= 0.15
    assert strong.any()
    if trust == "llm":
        assert record["corrections"] == []
        assert np.all(np.sign(centres[strong] - 0.5) != np.sign(cue_centres[strong] - 0.5))
    else:
        # the helicopter was mirrored: it moved the wrong way, so it follows the cues everywhere
        assert record["corrections"] and "Cue lock" in layout.reasoning
        assert np.allclose(centres, cue_centres, atol=0.02)
        cow = [next(b.box for b in kf.boxes if b.id == 0) for kf in layout.keyframes]
        given = [tuple(b["box"]) for b in (kf["boxes"][0] for kf in answer["keyframes"])]
        if trust == "blend":  # the cow was right: untouched
            assert cow == given
        else:  # every position from the cues (here the same place, to rounding)
            assert np.allclose(cow, given, atol=0.002)
    # names and captions stay the model's
    assert layout.caption == answer["caption"]


def test_blend_fixes_only_the_keyframes_on_the_wrong_side(duet: tuple) -> None:
    cues, _, options = duet
    cue = get_planner("cues").plan(cues, None, options)
    answer = _truthful(duet)
    # the cow (object 0, clearly on the left) drawn on the right in one keyframe
    x0, y0, x1, y1 = answer["keyframes"][2]["boxes"][0]["box"]
    answer["keyframes"][2]["boxes"][0]["box"] = [1 - x1, y0, 1 - x0, y1]
    with ScriptedServer([Reply(json.dumps(answer))]) as srv:
        layout = _plan(duet, "gemini", _settings(srv, "gemini", cache=False))
    t2 = answer["keyframes"][2]["time"]
    assert f"{t2:g} s" in " ".join(layout.model_extra["planning"]["corrections"])
    assert side_of_layout(layout, 0) == side_of_layout(cue, 0) == "left"
    fixed = layout.keyframes[2].boxes[0].box
    assert (fixed[0] + fixed[2]) / 2 < 0.35
    # size and height are the model's
    assert fixed[3] - fixed[1] == pytest.approx(y1 - y0) and fixed[2] - fixed[0] == pytest.approx(
        x1 - x0
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_429_with_retry_after_is_honoured(duet: tuple, backend: str) -> None:
    delays: list[float] = []
    policy = RetryPolicy(attempts=3, sleep=delays.append)
    script = [Reply(status=429, headers={"Retry-After": "7"}), Reply(json.dumps(_truthful(duet)))]
    with ScriptedServer(script) as srv:
        layout = _plan(duet, backend, _settings(srv, backend, cache=False, retry=policy))
    assert delays == [7.0]
    assert len(srv.requests) == 2 and layout.model_extra["planning"]["path"] == "model"


@pytest.mark.parametrize("backend", BACKENDS)
def test_500_is_retried_with_backoff_then_falls_back(duet: tuple, backend: str) -> None:
    delays: list[float] = []
    policy = RetryPolicy(attempts=3, base_delay_s=1.0, sleep=delays.append)
    with ScriptedServer([Reply(status=500)]) as srv:
        with pytest.warns(UserWarning, match="gave up after 3 attempts"):
            layout = _plan(duet, backend, _settings(srv, backend, cache=False, retry=policy))
    assert len(srv.requests) == 3
    assert len(delays) == 2 and 0.75 <= delays[0] <= 1.25 and 1.5 <= delays[1] <= 2.5
    assert layout.model_extra["planning"]["path"] == "fallback"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_slow_answer_times_out_and_is_retried(duet: tuple, backend: str) -> None:
    script = [Reply(json.dumps(_truthful(duet)), delay_s=2.0), Reply(json.dumps(_truthful(duet)))]
    with ScriptedServer(script) as srv:
        layout = _plan(duet, backend, _settings(srv, backend, cache=False, timeout_s=0.5))
    assert len(srv.requests) == 2
    assert layout.model_extra["planning"]["path"] == "model"


def test_bad_key_fails_at_once_without_retrying(duet: tuple) -> None:
    with ScriptedServer([Reply(status=401)]) as srv:
        with pytest.warns(UserWarning, match="refused the API key"):
            _plan(duet, "openai", _settings(srv, "openai", cache=False))
    assert len(srv.requests) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_cache_hit_costs_no_request(duet: tuple, backend: str, tmp_path: Path) -> None:
    with ScriptedServer([Reply(json.dumps(_truthful(duet)))]) as srv:
        first = _plan(duet, backend, _settings(srv, backend, cache_dir=tmp_path / "c"))
        second = _plan(duet, backend, _settings(srv, backend, cache_dir=tmp_path / "c"))
        other = _plan(duet, backend, _settings(srv, backend, cache_dir=tmp_path / "c",
                                               temperature=0.9))  # fmt: skip
    assert len(srv.requests) == 2  # the second plan came from the cache; other settings did not
    assert first.model_extra["planning"]["cache"] == "miss"
    assert second.model_extra["planning"]["cache"] == "hit"
    assert other.model_extra["planning"]["cache"] == "miss"
    assert second.keyframes == first.keyframes


def test_labels_win_over_the_models_names(duet: tuple) -> None:
    answer = _truthful(duet)
    answer["objects"] = [{"id": 0, "name": "horse", "source": 0},
                         {"id": 1, "name": "plane", "source": 1}]  # fmt: skip
    with ScriptedServer([Reply(json.dumps(answer))]) as srv:
        layout = _plan(duet, "openai", _settings(srv, "openai", cache=False))
    assert [o.name for o in layout.objects] == ["cow", "helicopter"]


def _all_text_under(folder: Path) -> str:
    return "".join(
        p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file()
    )  # fmt: skip


def test_key_never_written_or_printed(tmp_path: Path) -> None:
    wav = tmp_path / "duet.wav"
    render_preset("duet", duration_s=2.0, seed=1).save(wav)
    runner = CliRunner()
    script = [Reply(status=500), Reply("not json at all"), Reply('{"objects": 3}')]
    with ScriptedServer(script) as srv:
        result = runner.invoke(
            app,
            ["run", str(wav), "-o", str(tmp_path / "out"), "--planner", "openai",
             "--base-url", srv.openai_url, "--fps", "6", "--label", "cow", "--label", "heli"],
            catch_exceptions=False,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        unauthorised = runner.invoke(
            app,
            ["plan", str(wav), "--planner", "gemini", "--base-url", srv.gemini_url, "-q"],
            catch_exceptions=False,
        )
    assert srv.requests and srv.requests[0].headers.get("authorization") == f"Bearer {SECRET}"
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["planning"]["path"] == "fallback"
    for text in (result.output, unauthorised.output, _all_text_under(tmp_path)):
        assert SECRET not in text


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_key_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, backend: str
) -> None:
    for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    wav = tmp_path / "a.wav"
    render_preset("static-left", duration_s=1.0).save(wav)
    result = CliRunner().invoke(app, ["plan", str(wav), "--planner", backend])
    assert result.exit_code == 2
    assert "API key" in result.output and ("GEMINI_API_KEY" in result.output or
                                           "OPENAI_API_KEY" in result.output)  # fmt: skip
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("backend", "module"), [("gemini", "google.genai"), ("openai", "openai")])
def test_missing_extra_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, backend: str, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    if module == "google.genai":
        monkeypatch.setitem(sys.modules, "google", None)
    wav = tmp_path / "a.wav"
    render_preset("static-left", duration_s=1.0).save(wav)
    result = CliRunner().invoke(app, ["run", str(wav), "-o", str(tmp_path / "o"),
                                      "--planner", backend])  # fmt: skip
    assert result.exit_code == 2
    assert "pip install 'spa2v[llm]'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


# --------------------------------------------------------------------------- pieces


def test_extract_json() -> None:
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('sure! ```json\n{"a": {"b": "}"}}\n``` done') == {"a": {"b": "}"}}
    assert extract_json('The plan is {"a": [1, 2]} as asked.') == {"a": [1, 2]}
    with pytest.raises(AnswerError, match="truncated"):
        extract_json('{"a": [1, 2')
    with pytest.raises(AnswerError, match="no JSON"):
        extract_json("no idea")
    with pytest.raises(AnswerError, match="not an object"):
        extract_json("[1, 2]")


def test_unrepairable_answers_name_the_problem(duet: tuple) -> None:
    from spa2v.planning.llm.answer import to_layout

    cases = [
        ({"objects": [], "keyframes": []}, "objects"),
        ({"objects": [{"id": 0, "name": "x"}]}, "keyframes"),
        (
            {"objects": [{"id": 0, "name": "x"}], "keyframes": [{"time": "soon", "boxes": []}]},
            "time must be a number",
        ),
        (
            {
                "objects": [{"id": 0, "name": "x"}],
                "keyframes": [{"time": 1, "boxes": [{"id": 0, "box": [0.1, 0.2]}]}],
            },
            "box must be",
        ),
        (
            {"objects": [{"id": -1, "name": "x"}], "keyframes": [{"time": 1, "boxes": []}]},
            "non-negative",
        ),
    ]
    for data, message in cases:
        with pytest.raises(AnswerError, match=message):
            to_layout(data, duration=3.0, width=512, height=320, camera={})


def test_prompt_template(tmp_path: Path) -> None:
    t = PromptTemplate.load()
    system = t.system.template
    for rule in ("leads", "louder", "approaching", "Pass-by", "Onsets", "Front/back"):
        assert rule in system
    broken = tmp_path / "p.md"
    broken.write_text("=== system ===\nhello\n")
    with pytest.raises(ParameterError, match="user, retry"):
        PromptTemplate.load(broken)
    with pytest.raises(ParameterError, match="not found"):
        PromptTemplate.load(tmp_path / "missing.md")


def test_custom_prompt_is_used(duet: tuple, tmp_path: Path) -> None:
    custom = tmp_path / "mine.md"
    custom.write_text("=== system ===\nYOU ARE A TEST DIRECTOR\n=== user ===\n$cues\nT: $times\n"
                      "=== retry ===\nfix: $errors\n")  # fmt: skip
    with ScriptedServer([Reply(json.dumps(_truthful(duet)))]) as srv:
        _plan(duet, "openai", _settings(srv, "openai", cache=False, prompt=custom, n_examples=0))
    body = json.dumps(srv.requests[0].body)
    assert "YOU ARE A TEST DIRECTOR" in body and "film director" not in body


def test_example_bank_retrieval(tmp_path: Path, duet: tuple) -> None:
    bank = ExampleBank.load()
    assert len(bank) >= 50
    ex = bank.examples[17]
    assert bank.nearest(ex.features, 3)[0] is ex
    families = {e.id.split(":")[1] for e in bank.examples}
    assert {"static-left", "left-to-right", "passby", "approach", "two", "three"} <= families
    # a user folder: a JSONL bank and a recording with its layout
    mine = tmp_path / "mine"
    mine.mkdir()
    write_bank(bank.examples[:2], mine / "a.jsonl")
    render_preset("static-right", duration_s=2.0).save(mine / "dog.wav")
    layout = VSL(
        duration=2.0,
        caption="A dog on the right.",
        objects=[{"id": 0, "name": "dog"}],
        keyframes=[{"time": 1.0, "boxes": [{"id": 0, "box": [0.7, 0.5, 0.9, 0.9]}]}],
    )
    layout.save(mine / "dog.layout.json")
    user = ExampleBank.load([mine], builtin=False)
    assert len(user) == 3 and user.examples[-1].answer["objects"][0]["name"] == "dog"
    assert "S0 az/conf" in user.examples[-1].cues
    (mine / "b.jsonl").write_text("{not json}\n")
    with pytest.raises(ParameterError, match=r"b\.jsonl:1"):
        ExampleBank.load([mine], builtin=False)
    with pytest.raises(ParameterError, match="not found"):
        ExampleBank.load([tmp_path / "nowhere"])


def test_settings_are_checked() -> None:
    with pytest.raises(ParameterError, match="trust"):
        LLMSettings(trust="maybe")
    with pytest.raises(ParameterError, match="temperature"):
        LLMSettings(temperature=5)
    with pytest.raises(LLMError):
        raise LLMError("x")


def test_bank_building_is_deterministic_and_consistent() -> None:
    from spa2v.planning.llm.examples import build_bank

    a = build_bank(1, seed=5, duration_s=2.0)
    b = build_bank(1, seed=5, duration_s=2.0)
    assert [e.to_json() for e in a] == [e.to_json() for e in b]
    assert len(a) == 10
    for e in a:
        n_sources = e.cues.count(" overall: ")
        assert len(e.answer["objects"]) == n_sources  # the cues support the answer's count
        assert [kf["time"] for kf in e.answer["keyframes"]] == e.times


def test_shipped_bank_matches_the_current_cue_text(duet: tuple) -> None:
    from spa2v.planning.llm.cuetext import cue_text

    cues, _, _ = duet
    current = cue_text(cues, [0.5, 1.5]).splitlines()
    header = next(line for line in current if line.startswith("t s |"))
    two = [e for e in ExampleBank.load().examples if e.id.startswith("synthetic:two:")]
    assert two and all(header in e.cues.splitlines() for e in two), "run make bank"
    assert all(e.cues.splitlines()[0].startswith("Recording:") for e in two)


def test_openai_planner_without_audio_does_not_load_it(duet: tuple) -> None:
    planner = get_planner("openai", RunConfig())
    assert planner.needs_audio is False
    assert get_planner("gemini", RunConfig()).needs_audio is True
    assert get_planner("gemini", RunConfig.build({"send_audio": False})).needs_audio is False


def test_openai_can_attach_the_audio(duet: tuple) -> None:
    with ScriptedServer([Reply(json.dumps(_truthful(duet)))]) as srv:
        layout = _plan(duet, "openai", _settings(srv, "openai", cache=False, send_audio=True))
    content = srv.requests[0].body["messages"][-1]["content"]
    parts = {p["type"]: p for p in content}
    assert parts["input_audio"]["input_audio"]["format"] == "wav"
    import base64

    wav = base64.b64decode(parts["input_audio"]["input_audio"]["data"])
    assert wav[:4] == b"RIFF" and len(wav) > 16_000 * 2 * 2.5  # mono 16 kHz, the whole clip
    assert layout.model_extra["planning"]["audio_sent"] is True
