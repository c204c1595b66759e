"""A model directory that is not a Whisper model of ours is refused at load, naming it, never a bare crash."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from zoomsymbl_whisper import ModelConfig, Transcriber, TranscriberError, packaged_model_dir


@pytest.mark.parametrize(
    "tokenizer",
    [b"not json", b"", b'{"version": "1.0", "model": {"type": "NoSuchModel"}}'],
    ids=["not-json", "empty", "not-a-tokenizer"],
)
def test_a_tokenizer_file_that_is_not_a_tokenizer_is_refused_naming_the_directory(
    tmp_path: Path, tokenizer: bytes
) -> None:
    """A truncated copy, or a volume holding another tool's files: start-up must say which directory is wrong."""
    model_dir = tmp_path / "whisper-large"
    shutil.copytree(packaged_model_dir(), model_dir)
    (model_dir / "tokenizer.json").write_bytes(tokenizer)

    with pytest.raises(TranscriberError) as caught:
        Transcriber(ModelConfig(model_dir, language="en")).load()
    assert str(model_dir) in caught.value.message and "cannot load model" in caught.value.message
