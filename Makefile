# spa2v — the two commands of the README, plus helpers.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= out/demo

.PHONY: demo test lint bench bench-eval bench-long bench-kemar bench-sounds bench-hardening kemar sounds bank clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install whenever the project metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# torch first, pinned to the CPU build that lies on this project's machines (a bare 'torch'
# would pull a CUDA build of several GB); override with make test TORCH='torch==X'
TORCH ?= torch==2.13.0
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet '$(TORCH)'
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

## demo: set up, synthesize a stereo scene, and run the main job on it (audio -> video)
demo: $(VENV)/.installed
	$(BIN)/spa2v synth $(OUT)/demo.wav --preset duet --duration 6 --truth $(OUT)/demo.truth.json
	$(BIN)/spa2v run $(OUT)/demo.wav -o $(OUT)/run --force --overlay --label cow --label helicopter
	@echo "demo video: $(OUT)/run/video.mp4 (with boxes: $(OUT)/run/video_overlay.mp4)"

## test: set up with the dev extras, lint, and run the test suite
test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

## bench: the speed and accuracy figures of the cue sheet and the planner
bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_cues.py
	$(BIN)/python benchmarks/bench_plan.py
	$(BIN)/python benchmarks/bench_render.py
	$(BIN)/python benchmarks/bench_llm.py
	$(BIN)/python benchmarks/bench_diffusion.py
	$(BIN)/python benchmarks/bench_diffusion.py --backbone wan
	$(BIN)/python benchmarks/bench_tagging.py

## kemar: fetch the MIT KEMAR measured HRTF (Debian libmysofa1) for the benchmarks' --sofa
KEMAR := .cache/kemar/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa
kemar: $(KEMAR)
$(KEMAR):
	mkdir -p .cache/kemar
	cd .cache && apt-get download libmysofa1
	dpkg -x .cache/libmysofa1_*.deb .cache/kemar

bench-kemar: $(VENV)/.installed-dev $(KEMAR)
	$(BIN)/python benchmarks/bench_cues.py --skip-speed --sofa $(KEMAR)
	$(BIN)/python benchmarks/bench_plan.py --sofa $(KEMAR)

## sounds: recorded sounds for bench_plan --sounds: the example sounds (car door, boom, punch,
## whoosh, music...) that ship in pygame's wheel on PyPI, extracted (pygame is not installed)
SOUNDS := .cache/sounds/.done
sounds: $(SOUNDS)
$(SOUNDS): $(VENV)/.installed
	mkdir -p .cache/sounds
	$(BIN)/pip download --no-deps --only-binary=:all: -d .cache pygame==2.6.1
	$(BIN)/python -c "import glob, os, zipfile; z = zipfile.ZipFile(sorted(glob.glob('.cache/pygame-2.6.1-*.whl'))[0]); [open(os.path.join('.cache/sounds', os.path.basename(n)), 'wb').write(z.read(n)) for n in z.namelist() if n.startswith('pygame/examples/data/') and n.endswith('.wav')]"
	touch $@

bench-sounds: $(VENV)/.installed-dev $(KEMAR) $(SOUNDS)
	$(BIN)/python benchmarks/bench_plan.py --sofa $(KEMAR) --sounds .cache/sounds

## bench-eval: the public benchmark (200 clips, seed 2026) and the cue planner's scores on it,
## with the naive baseline beside (report in out/bench/results/cues/report.md)
bench-eval: $(VENV)/.installed
	rm -rf out/bench
	$(BIN)/spa2v bench make out/bench --scenes 200 --seed 2026
	$(BIN)/spa2v bench run out/bench --planner cues

## bank: rebuild the in-context example bank shipped with the LLM planners (deterministic)
bank: $(VENV)/.installed
	$(BIN)/python -c "from spa2v.planning.llm.examples import build_bank, write_bank; write_bank(build_bank(6, seed=0), 'src/spa2v/planning/llm/bank.jsonl')"

bench-long: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_long.py

## bench-hardening: start-up, Ctrl-C of a batch, memory of an hour's synthesis and of a long render
bench-hardening: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_hardening.py

clean:
	rm -rf $(VENV) out .cache .pytest_cache .ruff_cache build src/*.egg-info
