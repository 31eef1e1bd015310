"""The run configuration: one tree, every front end, config files, runs that reproduce."""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import numpy as np
import pytest
import typer.main
from typer.testing import CliRunner

import spa2v
from spa2v.audio.synth import render_preset
from spa2v.batch import discover, run_batch
from spa2v.cli import app
from spa2v.config import (
    FIELDS,
    SECTIONS,
    ConfigError,
    DiffusionSettings,
    RunConfig,
    load_config,
    read_config,
)

runner = CliRunner()


def _cli(*args: str, cwd: Path | None = None):
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return runner.invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def duet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("in") / "duet é.wav"
    render_preset("duet", duration_s=2.0, seed=3).save(path)
    return path


def test_flat_and_nested_options_are_the_same_config() -> None:
    flat = RunConfig.build({"labels": ["cow"], "fps": 12, "steps": 3, "tagger": "none"})
    nested = RunConfig.build({"planning": {"labels": ["cow"]}, "render": {"fps": 12},
                              "diffusion": DiffusionSettings(steps=3),
                              "tagging": {"tagger": "none"}})  # fmt: skip
    assert flat == nested and flat.diffusion.guided_steps == 3
    assert flat.given() == {"planning": {"labels": ["cow"]}, "render": {"fps": 12.0},
                            "diffusion": {"steps": 3}, "tagging": {"tagger": "none"}}  # fmt: skip
    # later layers win, and what was set stays set (render sizes follow the layout otherwise)
    assert RunConfig.build(flat, {"fps": 6}).render.fps == 6
    assert "width" not in flat.planning.model_fields_set


@pytest.mark.parametrize(
    ("options", "needles"),
    [
        ({"lables": ["x"]}, ["unknown option(s): lables", "planning.labels"]),
        ({"render": {"model": "m"}}, ["render.model", "diffusion.model"]),
        ({"steps": 2, "guidance_steps": 3}, ["diffusion.guidance_steps", "diffusion.steps (2)"]),
        ({"labels": ["a", "b"], "sources": 3}, ["2 label(s) given for planning.sources 3"]),
        ({"fps": 0}, ["render.fps", "frame rate"]),
        ({"channels": "0"}, ["analysis.channels", "two channel indices"]),
        ({"planner": "oracle"}, ["planning.planner", "unknown planner 'oracle'"]),
        ({"diffusion": 3}, ["diffusion", "table of options"]),
    ],
)
def test_errors_name_the_fields(options: dict, needles: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        RunConfig.build(options)
    for needle in needles:
        assert needle in str(info.value), str(info.value)


def test_field_names_are_unique_and_every_section_is_documented() -> None:
    assert len(FIELDS) == sum(len(s.model_fields) for s in SECTIONS.values())
    for section in SECTIONS.values():
        for name, info in section.model_fields.items():
            assert info.description, f"{section.key}.{name} has no help text"


def test_cli_flags_are_the_field_names_with_dashes() -> None:
    command = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    flags = {p.opts[0] for p in command.params if p.opts[0].startswith("--")}
    own = {"--output", "--force", "--quiet", "--config", "--help"}
    assert flags - own == {"--" + name.replace("_", "-") for name in FIELDS}
    # the other commands take the sections they read, no more
    cues = typer.main.get_command(app).commands["cues"]  # type: ignore[attr-defined]
    assert {p.name for p in cues.params} >= {"sr", "channels", "hop_s", "max_delay_ms", "sources"}
    assert "fps" not in {p.name for p in cues.params}


def test_cli_errors_word_fields_as_flags(duet: Path) -> None:
    result = _cli("run", str(duet), "-o", "x", "--steps", "2", "--guidance-steps", "3")
    assert result.exit_code == 2
    assert "--guidance-steps must be within 0 … --steps (2), got 3" in result.output
    assert "diffusion." not in result.output


def test_toml_files_round_trip_and_flags_win(tmp_path: Path) -> None:
    (tmp_path / "ex").mkdir()
    toml = tmp_path / "run.toml"
    toml.write_text('[planning]\nlabels = ["cow"]\nkeyframes = 5\n[render]\nfps = 12\n'
                    '[llm]\nexamples = ["ex"]\n')  # fmt: skip
    cfg, sources = load_config(toml, {"fps": 6}, given_as="command line")
    assert cfg.render.fps == 6 and cfg.planning.keyframes == 5
    assert cfg.llm.examples == [tmp_path / "ex"]  # relative to the file's folder
    assert sources["fps"] == "command line" and sources["keyframes"] == f"file {toml}"
    assert sources["seed"] == "default"
    # spa2v config prints a file that reads back as the same configuration
    result = _cli("config", "--config", str(toml), "--fps", "6", "--no-cpu-offload")
    assert result.exit_code == 0, result.output
    assert "fps = 6.0  # command line" in result.stdout
    assert "seed = 0  # default" in result.stdout
    again = tmp_path / "again.toml"
    again.write_text(result.stdout)
    assert RunConfig.build(read_config(again)) == cfg
    json_file = tmp_path / "run.json"
    json_file.write_text(json.dumps({"render": {"fps": 8}, "sources": 2}))
    assert RunConfig.build(read_config(json_file)).planning.sources == 2
    for text, needle in (("[render]\nfps = ", "not valid TOML"),
                         ("[render]\ncolour = 1", "colour")):  # fmt: skip
        toml.write_text(text)
        bad = _cli("config", "--config", str(toml))
        assert bad.exit_code == 2 and needle in bad.output and "Traceback" not in bad.output
    missing = _cli("config", "--config", str(tmp_path / "nope.toml"))
    assert missing.exit_code == 2 and "config file not found" in missing.output


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_a_run_repeats_from_its_own_record(tmp_path: Path, duet: Path) -> None:
    a = tmp_path / "A run"
    first = _cli("run", str(duet), "-o", str(a), "-q", "--label", "cow", "--label", "bird",
                 "--fps", "10", "--seed", "7", "--keyframes", "5", "--fov-deg", "70",
                 "--width", "128", "--height", "80", "--hop-s", "0.025")  # fmt: skip
    assert first.exit_code == 0, first.output
    record = json.loads((a / "run.json").read_text())
    assert set(record["config"]) == set(SECTIONS)  # the full configuration, every field
    assert all(set(record["config"][s]) == set(SECTIONS[s].model_fields) for s in SECTIONS)
    # from another folder, with relative paths, all options from the record
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = _cli("run", os.path.relpath(duet, elsewhere), "-o", "B", "-q",
                 "--config", os.path.relpath(a / "run.json", elsewhere), cwd=elsewhere)  # fmt: skip
    assert again.exit_code == 0, again.output
    b = elsewhere / "B"
    assert (a / "layout.json").read_bytes() == (b / "layout.json").read_bytes()
    fa, fb = _frames(a / "video.mp4"), _frames(b / "video.mp4")
    assert len(fa) == len(fb) == 20 and fa[0].shape == (80, 128, 3)
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb, strict=True))
    # an option given with the record wins over it
    other = _cli("run", str(duet), "-o", str(tmp_path / "C"), "-q", "--config",
                 str(a / "run.json"), "--keyframes", "3")  # fmt: skip
    assert other.exit_code == 0
    assert len(json.loads((tmp_path / "C" / "layout.json").read_text())["keyframes"]) == 3


def test_the_api_takes_a_config_or_keywords(tmp_path: Path, duet: Path) -> None:
    cfg = RunConfig.build({"labels": ["cow", "bird"], "keyframes": 4})
    by_config = spa2v.plan(duet, cfg)
    by_keywords = spa2v.plan(duet, labels=["cow", "bird"], keyframes=4)
    assert by_config.to_json() == by_keywords.to_json()
    with pytest.raises(ConfigError, match="unknown option"):
        spa2v.plan(duet, colour="red")


def test_a_manifest_row_nested_by_section_reaches_the_generator(
    tmp_path: Path, duet: Path
) -> None:
    pytest.importorskip("diffusers")
    model = tmp_path / "models" / "sd 15"
    manifest = tmp_path / "list.jsonl"
    rows = [{"path": str(duet), "render": {"generator": "diffusion", "seed": 3},
             "diffusion": {"model": str(model), "steps": 4}},
            {"path": str(duet), "name": "flat", "generator": "diffusion", "model": str(model)},
            {"path": str(duet), "name": "bad", "diffusion": {"stepz": 4}}]  # fmt: skip
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = discover(manifest, RunConfig.build({"fps": 6}))
    assert items[0].config.diffusion.model == str(model) and items[0].config.render.seed == 3
    assert items[0].config.render.fps == 6  # the batch's own options below the row's
    assert items[1].config.diffusion.model == str(model)
    assert items[2].error and "diffusion.stepz" in items[2].error
    # the generator is asked for that model before any item runs: the folder does not exist
    with pytest.raises(spa2v.Spa2vError, match="sd 15"):
        run_batch(manifest, tmp_path / "out")


def test_file_errors_keep_the_files_names_and_suggest_the_right_place(tmp_path: Path) -> None:
    cases = (('[render]\nmodel = "x"\n', "render.model (did you mean diffusion.model?)"),
             ("[renderr]\nfps = 3\n", "renderr (did you mean the section render?)"),
             ('[planning]\nsources = "two"\n', "planning.sources"),
             ('{"render": {"fps": 10}, "fps": 20}', "given twice"),
             ('{"schema": "spa2v.run/1", "input": "a.wav"}', "another spa2v version"))  # fmt: skip
    for k, (text, needle) in enumerate(cases):
        path = tmp_path / (f"c{k}.json" if text.startswith("{") else f"c{k}.toml")
        path.write_text(text)
        result = _cli("config", "--config", str(path))
        assert result.exit_code == 2 and needle in result.output, result.output
        assert path.name in result.output and "--" not in result.output


def test_unset_values_and_paths_survive_a_config_written_elsewhere(tmp_path: Path) -> None:
    (tmp_path / "ex").mkdir()
    (tmp_path / "conf.toml").write_text('[llm]\nexamples = ["ex"]\n')
    written = _cli("config", "--config", "conf.toml", "--sr", "none", "--llm-seed", "none",
                   "-o", "sub dir/out.toml", cwd=tmp_path)  # fmt: skip
    assert written.exit_code == 0, written.output
    read, _ = load_config(tmp_path / "sub dir" / "out.toml")  # from another folder
    assert read.analysis.sr is None and read.llm.llm_seed is None
    assert read.llm.examples == [tmp_path / "ex"]
    # several files layer, later ones winning
    (tmp_path / "b.toml").write_text("[analysis]\nsr = 16000\n")
    both, sources = load_config([tmp_path / "sub dir" / "out.toml", tmp_path / "b.toml"])
    assert both.analysis.sr == 16000 and both.llm.llm_seed is None
    assert sources["sr"] == f"file {tmp_path / 'b.toml'}"


def test_render_takes_its_size_from_the_layout_unless_given(tmp_path: Path, duet: Path) -> None:
    layout = tmp_path / "wide.json"
    assert _cli("plan", str(duet), "-o", str(layout), "-q", "--width", "160",
                "--height", "96").exit_code == 0  # fmt: skip
    defaults = tmp_path / "defaults.toml"
    assert _cli("config", "-o", str(defaults)).exit_code == 0  # width = 512 in the file
    for extra, size in (([], (160, 96)), (["--width", "128"], (128, 96))):
        out = tmp_path / f"v{len(extra)}.mp4"
        result = _cli("render", str(layout), "-o", str(out), "-q", "--fps", "4",
                      "--config", str(defaults), *extra)  # fmt: skip
        assert result.exit_code == 0, result.output
        assert _frames(out)[0].shape[:2] == size[::-1]


def test_manifest_columns_may_name_the_section(tmp_path: Path, duet: Path) -> None:
    csv_path = tmp_path / "list.csv"
    csv_path.write_text(f"path,render.seed,labels\n{duet},5,cow;bird\n")
    (item,) = discover(csv_path)
    assert item.error is None and item.config.render.seed == 5
    assert item.config.planning.labels == ["cow", "bird"]


def test_cues_through_the_api_read_the_analysis_section(duet: Path) -> None:
    sheet = spa2v.cues(duet, {"sr": 16000, "sources": 1})
    assert sheet.sr == 16000 and len(sheet.sources) == 1


def test_none_unsets_from_the_command_line_and_repeated_keys_are_refused(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text("[planning]\nsources = 2\nkeyframes = 6\n")
    result = _cli("config", "--config", str(conf), "--sources", "none", "--keyframes", "none")
    assert result.exit_code == 0, result.output
    assert "# sources =  (not set)  # command line" in result.stdout
    twice = tmp_path / "twice.json"
    twice.write_text('{"render": {"fps": 10}, "render": {"seed": 2}}')
    bad = _cli("config", "--config", str(twice))
    assert bad.exit_code == 2 and "given twice: render" in bad.output


def test_manifest_row_paths_are_relative_to_the_manifest(tmp_path: Path, duet: Path) -> None:
    folder = tmp_path / "man dir"
    (folder / "ex").mkdir(parents=True)
    jsonl = folder / "m.jsonl"
    jsonl.write_text(json.dumps({"path": str(duet), "llm": {"examples": ["ex"]},
                                 "vocabulary": "v.txt"}) + "\n"
                     + json.dumps({"path": str(duet), "name": "b", "fps": 6, "fps ": 1}) + "\n"
                     + '{"path": "a.wav", "fps": 6, "fps": 7}\n')  # fmt: skip
    items = discover(jsonl)
    assert items[0].config.llm.examples == [folder / "ex"]
    assert items[0].config.tagging.vocabulary == folder / "v.txt"
    assert items[1].error and "unknown option" in items[1].error
    assert items[2].error and "given twice: fps" in items[2].error
    csv_path = folder / "m.csv"
    csv_path.write_text(f"path,planning.labels,diffusion.guidance_layers\n{duet},cow;bird,a;b\n")
    (item,) = discover(csv_path)
    assert item.config.planning.labels == ["cow", "bird"]
    assert item.config.diffusion.guidance_layers == ["a", "b"]
