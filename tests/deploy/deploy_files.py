"""Reads the deployment files as a tool would: the Dockerfile's instructions, the compose file and the
Kubernetes manifests (YAML needs PyYAML; without it the YAML tests skip)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.runtime.config import DEFAULT_PORTS, REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
SERVICES = tuple(DEFAULT_PORTS)


def grpc_port(service: str) -> int:
    return DEFAULT_PORTS[service][0]


def metrics_port(service: str) -> int:
    return DEFAULT_PORTS[service][1]


def peers(service: str) -> list[str]:
    return [name for name in SERVICES if name != service]


def main_module(service: str) -> str:
    return f"services.{service}.main"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def dockerfile_instructions(path: Path = REPO_ROOT / "Dockerfile") -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    logical, pending = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    instructions = []
    for text in logical:
        keyword, _, arguments = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), re.sub(r"\s+", " ", arguments.strip())))
    return instructions


def shell_commands(run_arguments: str) -> list[list[str]]:
    """The commands of one RUN, split at `&&`."""
    return [shlex.split(part) for part in run_arguments.split("&&")]


def load_yaml_documents(path: Path) -> list[dict]:
    yaml = pytest.importorskip("yaml", reason="the deployment YAML tests need PyYAML")
    return [document for document in yaml.safe_load_all(path.read_text()) if document is not None]


def load_yaml(path: Path) -> dict:
    [document] = load_yaml_documents(path)
    return document
