"""Generates Python code from protos/ into gen/, and lints the protos against the house style.

    python protos/build.py generate   # gen/fleetops/...
    python protos/build.py lint [DIR]  # exits 1 and lists the violations
"""

from __future__ import annotations

import re
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

import grpc_tools
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
GENERATED_ROOT = PROTO_ROOT.parent / "gen"
_INCLUDES = (str(Path(grpc_tools.__file__).parent / "_proto"), sysconfig.get_paths()["purelib"])


def proto_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.proto"))


def _protoc(root: Path, *outputs: str) -> None:
    args = ["protoc", f"-I{root}", *(f"-I{i}" for i in _INCLUDES), *outputs, *proto_files(root)]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed on {root}")


def generate() -> None:
    shutil.rmtree(GENERATED_ROOT, ignore_errors=True)
    GENERATED_ROOT.mkdir()
    out = str(GENERATED_ROOT)
    _protoc(PROTO_ROOT, f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}")


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def _enum_violations(where: str, enum: descriptor_pb2.EnumDescriptorProto) -> list[str]:
    prefix = _upper_snake(enum.name) + "_"
    problems = []
    zero = [v for v in enum.value if v.number == 0]
    if not zero or zero[0].name != prefix + "UNSPECIFIED":
        problems.append(f"{where}: enum {enum.name} must have {prefix}UNSPECIFIED = 0")
    problems += [f"{where}: enum value {v.name} must start with {prefix}" for v in enum.value
                 if not v.name.startswith(prefix)]
    return problems


def _messages(file: descriptor_pb2.FileDescriptorProto):
    pending = [(m.name, m) for m in file.message_type]
    while pending:
        path, message = pending.pop()
        yield path, message
        pending += [(f"{path}.{nested.name}", nested) for nested in message.nested_type]


def lint(root: Path) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        descriptor_path = Path(tmp) / "descriptors.pb"
        _protoc(root, f"--descriptor_set_out={descriptor_path}")
        files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_path.read_bytes()).file
    messages = {f".{file.package}.{path}": message for file in files for path, message in _messages(file)}
    problems: list[str] = []
    for file in files:
        if file.name.startswith("google/"):
            continue
        folder = str(Path(file.name).parent).replace("/", ".")
        if file.package != folder:
            problems.append(f"{file.name}: package {file.package!r} must match its folder {folder!r}")
        if "grpc" in Path(file.name).parts[:-1]:
            problems.append(f"{file.name}: a folder named grpc shadows the grpc package")
        problems += [p for enum in file.enum_type for p in _enum_violations(file.name, enum)]
        problems += [p for _, m in _messages(file) for enum in m.enum_type for p in _enum_violations(file.name, enum)]
        for service in file.service:
            for method in service.method:
                where = f"{file.name}: {service.name}.{method.name}"
                request = messages.get(method.input_type)
                response = messages.get(method.output_type)
                request_fields = {f.name for f in request.field} if request else set()
                if method.name.startswith("List"):
                    problems += [f"{where}: request lacks {f}" for f in ("page_size", "page_token")
                                 if f not in request_fields]
                    if response is None or "next_page_token" not in {f.name for f in response.field}:
                        problems.append(f"{where}: response lacks next_page_token")
                if method.name.startswith("Create") and "request_id" not in request_fields:
                    problems.append(f"{where}: request lacks request_id")
    return problems


def main(argv: list[str]) -> int:
    if argv[:1] == ["generate"]:
        generate()
        return 0
    if argv[:1] == ["lint"]:
        problems = lint(Path(argv[1]) if len(argv) > 1 else PROTO_ROOT)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
