"""What a hostile mixed file or a broken model volume cannot do: hang the decoder, reach the network."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from zoomsymbl_whisper import ModelConfig, Transcriber, TranscriberError, packaged_model_dir
from zoomsymbl_whisper.decoder import ffmpeg_channel_args

PIPE_BUFFER = 65_536
"""Linux's default pipe capacity: ffmpeg blocks writing its messages once this much is unread."""


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five minutes of tone and noise in FLAC, 8 bytes overwritten every 4000: a thousand bad frames."""
    path = tmp_path_factory.mktemp("damaged") / "mixed.flac"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=300",
         "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.01:sample_rate=48000:duration=300",
         "-filter_complex", "[0:a][1:a]join=inputs=2[o]", "-map", "[o]", "-c:a", "flac", str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    data = bytearray(path.read_bytes())
    for at in range(64_000, len(data) - 8, 4000):
        data[at : at + 8] = b"\x5a\xa5\x00\xff\x13\x37\xc3\x3c"
    path.write_bytes(data)
    return path


def test_a_damaged_file_is_decoded_to_its_end_however_much_ffmpeg_complains(damaged: Path) -> None:
    # The hostile property: ffmpeg skips the bad frames (exit 0) but writes far more than a pipe holds.
    plain = subprocess.run(ffmpeg_channel_args(damaged, 1), capture_output=True, timeout=120, check=False)
    assert plain.returncode == 0 and len(plain.stderr) > 2 * PIPE_BUFFER
    decoded_seconds = len(plain.stdout) / 4 / 16_000
    # In a child process: a decoder deadlocked on its stderr pipe would never return (the timeout ends it).
    script = (
        "import sys; from pathlib import Path\n"
        "from zoomsymbl_whisper import ModelConfig, Transcriber, packaged_model_dir\n"
        "t = Transcriber(ModelConfig(packaged_model_dir(), language='en', window_seconds=30))\n"
        "print(sum(len(s) for _, s in t._windows(Path(sys.argv[1]), 1)) / 16000)\n"
        "print(len(t.channel_sync(Path(sys.argv[1]), 1)))\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, str(damaged)], capture_output=True, text=True, timeout=240, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail("decoding a file whose ffmpeg messages fill the stderr pipe never ended")
    assert done.returncode == 0, done.stderr[-2000:]
    seconds, utterances = done.stdout.split()
    assert float(seconds) == pytest.approx(decoded_seconds) and int(utterances) == 0


@pytest.mark.parametrize("missing", ["tokenizer.json", "model.bin"])
def test_an_incomplete_model_directory_is_refused_naming_the_file_without_reaching_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    model_dir = tmp_path / "whisper-tiny.en"
    shutil.copytree(packaged_model_dir(), model_dir)
    (model_dir / missing).unlink()
    lookups: list[Any] = []

    def no_network(*args: Any, **kwargs: Any) -> Any:
        lookups.append(args[:2])
        raise socket.gaierror(socket.EAI_NONAME, "no network in this test")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(TranscriberError) as caught:
        Transcriber(ModelConfig(model_dir, language="en")).load()
    assert str(model_dir) in caught.value.message and missing in caught.value.message
    assert lookups == []
