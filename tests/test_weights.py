"""Model weights are found on this machine or refused at once: no download, no hub request."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spa2v.audio.synth import render_preset
from spa2v.cli import app
from spa2v.weights import WeightsNotFoundError, resolve_weights

pytest.importorskip("huggingface_hub")


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> list:
    """Record (and refuse) every outgoing connection attempt."""
    attempts: list = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network refused by the test")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def _fake_cache(root: Path, repo: str) -> Path:
    """A Hugging Face cache entry for ``repo`` as the hub client lays it out."""
    entry = root / ("models--" + repo.replace("/", "--"))
    snapshot = entry / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text("0" * 40)
    return snapshot


def test_folders_and_cached_ids_resolve_and_others_fail_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    snapshot = _fake_cache(tmp_path / "cache", "someone/cached")
    assert Path(resolve_weights("someone/cached", "model")) == snapshot
    assert resolve_weights(str(snapshot), "model") == str(snapshot.resolve())
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        resolve_weights(str(tmp_path / "nope"), "model")
    t0 = time.monotonic()
    with pytest.raises(WeightsNotFoundError, match=r"'someone/absent'.*hf download someone/absent"):
        resolve_weights("someone/absent", "motion adapter")
    assert time.monotonic() - t0 < 5 and no_network == []


@pytest.mark.parametrize(
    "args",
    [
        ["--generator", "diffusion", "--model", "someone/not-cached"],
        ["--tagger", "ast", "--tagger-model", "someone/not-cached"],
    ],
)
def test_run_refuses_missing_weights_before_writing_anything(
    tmp_path: Path, no_network: list, args: list[str]
) -> None:
    pytest.importorskip("torch")
    wav = tmp_path / "a.wav"
    render_preset("static-left", duration_s=1.0).save(wav)
    out = tmp_path / "out"
    t0 = time.monotonic()
    result = CliRunner().invoke(app, ["run", str(wav), "-o", str(out), *args])
    assert result.exit_code == 2, result.output
    assert "someone/not-cached" in result.output and "Traceback" not in result.output
    assert time.monotonic() - t0 < 30  # imports of torch included; the check itself is instant
    assert no_network == []
    assert not out.exists() or not any(out.iterdir())
