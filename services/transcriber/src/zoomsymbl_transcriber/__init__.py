"""zoomsymbl transcriber: the self-hosted ``whisper`` provider (faster-whisper per channel)."""
