"""Run one SANDBOX server as a process (for `make demo` and the end-to-end tests). Never production.

    python -m zoomsymbl_sandbox zoom       --port 9100 [--config zoom.json]
    python -m zoomsymbl_sandbox symbl      --port 9101 [--config symbl.json]
    python -m zoomsymbl_sandbox assemblyai --port 9102 [--config assemblyai.json]
    python -m zoomsymbl_sandbox llm        --port 9103 [--config llm.json]   (OpenAI-compatible chat completions)
    python -m zoomsymbl_sandbox otlp       --port 4318   (an OTLP/HTTP trace receiver: GET /spans)

``--config`` is a JSON object of the server's config fields (``ZoomSandboxConfig``, ``SymblConfig``,
``AssemblyAIConfig``, ``LLMConfig``). Every server binds to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from zoomsymbl_sandbox.assemblyai import AssemblyAIConfig, build_assemblyai_app
from zoomsymbl_sandbox.llm import LLMConfig, build_llm_app
from zoomsymbl_sandbox.otlp import build_otlp_app
from zoomsymbl_sandbox.provider_audio import SilenceSettings
from zoomsymbl_sandbox.provider_jobs import JobTimings
from zoomsymbl_sandbox.symbl import SymblConfig, build_symbl_app
from zoomsymbl_sandbox.zoom import ZoomSandboxConfig, build_zoom_app

HOST = "127.0.0.1"


def _provider_config(cls: type[Any], data: dict[str, Any], default_dir: Path) -> Any:
    """A provider dataclass config from JSON (nested timings/silence dicts become their dataclasses)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise SystemExit(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    values = dict(data)
    values["storage_dir"] = Path(values.get("storage_dir", default_dir))
    if isinstance(values.get("timings"), dict):
        values["timings"] = JobTimings(**values["timings"])
    if isinstance(values.get("silence"), dict):
        values["silence"] = SilenceSettings(**values["silence"])
    return cls(**values)


def build(kind: str, port: int, data: dict[str, Any]) -> web.Application:
    """The aiohttp app of sandbox ``kind`` configured from ``data``."""
    scratch = Path(".cache") / "sandbox" / kind
    if kind == "zoom":
        config = ZoomSandboxConfig.model_validate({"public_base_url": f"http://{HOST}:{port}", **data})
        return build_zoom_app(config)
    if kind == "otlp":
        return build_otlp_app()
    if kind == "symbl":
        return build_symbl_app(_provider_config(SymblConfig, data, scratch))
    if kind == "llm":
        values = {**data, "models": tuple(data["models"])} if "models" in data else data
        return build_llm_app(LLMConfig(**values))
    return build_assemblyai_app(_provider_config(AssemblyAIConfig, data, scratch))


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="zoomsymbl-sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("zoom", "symbl", "assemblyai", "llm", "otlp"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", type=Path, help="JSON file of config fields")
    args = parser.parse_args(argv)
    data: dict[str, Any] = json.loads(args.config.read_text(encoding="utf-8")) if args.config else {}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox-" + args.kind + " %(message)s")
    web.run_app(build(args.kind, args.port, data), host=HOST, port=args.port, print=None, shutdown_timeout=5)


if __name__ == "__main__":
    main()
