"""The one image for all three services: what it installs, generates, exposes and runs as."""

from __future__ import annotations

import json

from services.runtime.config import REPO_ROOT
from tests.deploy.deploy_files import SERVICES, dockerfile_instructions, grpc_port, main_module, metrics_port, shell_commands

IMAGE_USER_ID = 10001


def _only(keyword: str):
    found = [i for i in dockerfile_instructions() if i.keyword == keyword]
    assert found, f"the Dockerfile has no {keyword}"
    return found


def _commands() -> list[list[str]]:
    return [command for run in _only("RUN") for command in shell_commands(run.arguments)]


def test_the_image_builds_on_python_3_11_slim():
    assert [i.arguments for i in _only("FROM")] == ["python:3.11-slim"]


def test_the_project_is_installed_with_pip_from_pyproject():
    copied = [i.arguments.split()[:-1] for i in _only("COPY")]
    assert any("pyproject.toml" in sources for sources in copied)
    installs = [c for c in _commands() if c[:2] == ["pip", "install"]]
    assert any(c[-1] == "." for c in installs), installs


def test_every_copied_source_exists_and_is_not_docker_ignored():
    ignored = {line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for instruction in _only("COPY"):
        for source in instruction.arguments.split()[:-1]:
            assert (REPO_ROOT / source).exists(), source
            assert source not in ignored, source
    assert {".venv", ".git", "gen", "var"} <= ignored  # never a developer's virtualenv or generated code


def test_protos_are_generated_after_the_install_and_found_on_the_path():
    commands = _commands()
    install = max(i for i, c in enumerate(commands) if c[:2] == ["pip", "install"])
    generate = commands.index(["python", "protos/build.py", "generate"])
    assert generate > install
    environment = " ".join(i.arguments for i in _only("ENV"))
    assert "PYTHONPATH=/app/gen" in environment  # build.py writes gen/ beside protos/


def test_the_service_runs_as_a_numeric_non_root_user():
    users = _only("USER")
    assert users[-1].arguments == str(IMAGE_USER_ID)
    user_index = dockerfile_instructions().index(users[-1])
    assert all(i.keyword != "RUN" for i in dockerfile_instructions()[user_index:])


def test_the_default_command_runs_a_service_module_that_exists():
    [entrypoint] = _only("ENTRYPOINT")
    [command] = _only("CMD")
    assert json.loads(entrypoint.arguments) == ["python", "-m"]
    [module] = json.loads(command.arguments)
    assert module in {main_module(service) for service in SERVICES}
    assert (REPO_ROOT / (module.replace(".", "/") + ".py")).is_file()


def test_every_default_port_is_exposed():
    exposed = {int(port) for i in _only("EXPOSE") for port in i.arguments.split()}
    assert exposed == {port for service in SERVICES for port in (grpc_port(service), metrics_port(service))}
