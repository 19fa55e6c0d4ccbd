"""What fault tests share: services as processes that can be killed with -9 and started again on the same
address, a client that retries like a well-behaved one, and a direct look into a service's database."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import grpc
import psycopg
import sqlalchemy
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.orm import Session

from tests.conftest import DEVELOPER_METADATA, _DefaultMetadata

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 90
ResultT = TypeVar("ResultT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """`python -m services.<service>.main` on a port chosen once: a restart serves the same address, so
    clients keep their channel, as they would behind a Kubernetes Service."""

    def __init__(self, service: str, database_url: str, log_dir: Path, peers: dict[str, str] | None = None):
        self.service = service
        self.port = free_port()
        self._log = log_dir / f"{service}-{self.port}.log"
        self._env = dict(os.environ, FLEETOPS_DEV_AUTH="1", **{
            f"{service.upper()}_DATABASE_URL": database_url, f"{service.upper()}_GRPC_PORT": str(self.port),
            f"{service.upper()}_SOLVER_WORKERS": "1"},
            **{f"FLEETOPS_{peer.upper()}_ADDRESS": address for peer, address in (peers or {}).items()})
        self._process: subprocess.Popen | None = None
        self.channel = grpc.intercept_channel(grpc.insecure_channel(self.address), _DefaultMetadata(DEVELOPER_METADATA))
        self.start()

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    def start(self) -> None:
        """Starts the process (its own process group, so a kill takes its solver workers too) and
        returns once it reports SERVING."""
        env = dict(self._env, **{f"{self.service.upper()}_METRICS_PORT": str(free_port())})
        with self._log.open("a") as log:
            self._process = subprocess.Popen([sys.executable, "-m", f"services.{self.service}.main"], cwd=REPO_ROOT,
                                             env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             start_new_session=True)
        health = health_pb2_grpc.HealthStub(self.channel)
        give_up = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < give_up:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.service} exited with {self._process.returncode}: {self.log_tail()}")
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.service} did not report SERVING within {STARTUP_SECONDS}s: {self.log_tail()}")

    @property
    def pid(self) -> int | None:
        """The running process's id; None once it has exited."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def kill(self) -> None:
        """kill -9: no drain, no cleanup, the database sees its connections drop mid-transaction."""
        os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(30)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.channel.close()

    def log_tail(self, characters: int = 3000) -> str:
        return self._log.read_text(errors="replace")[-characters:]


def until_answered(call: Callable[[], ResultT], failures: list[grpc.RpcError], give_up_seconds: float = 120) -> ResultT:
    """What a well-behaved client does (AIP-194): retries UNAVAILABLE, with the same request, until
    the service answers; every other error is the test's failure. Failed attempts are appended to
    `failures`, so a test can show that its fault really hit a call."""
    give_up = time.monotonic() + give_up_seconds
    delay = 0.05
    while True:
        try:
            return call()
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > give_up:
                raise
            failures.append(error)
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def wait_for(condition: Callable[[], object], seconds: float = 120) -> None:
    give_up = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < give_up, f"not reached within {seconds}s"
        time.sleep(0.01)


@contextlib.contextmanager
def database_session(database_url: str) -> Iterator[Session]:
    """A read-only look at a service's own tables, to count what the API cannot show."""
    engine = sqlalchemy.create_engine(database_url)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (temp dir, free port, trust auth) that it may stop: the
    shared server on 5432 serves every other test and is never touched."""

    BIN = Path(os.environ.get("FLEETOPS_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
    MAX_CONNECTIONS = 40

    def __init__(self, folder: Path):
        self.port = free_port()
        self._folder = folder
        self._data = folder / "data"
        # PostgreSQL refuses to run as root: the cluster then belongs to the `postgres` account.
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            shutil.chown(folder, self._user)
        self._run("initdb", "-D", str(self._data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()

    @classmethod
    def missing_binaries(cls) -> str | None:
        missing = [name for name in ("initdb", "pg_ctl") if not (cls.BIN / name).exists()]
        return f"{', '.join(missing)} not found in {cls.BIN} (set FLEETOPS_POSTGRES_BIN)" if missing else None

    def _run(self, program: str, *args: str, check: bool = True) -> int:
        # runuser switches the account, not this process's child: with `subprocess.run(user=...)`,
        # which switches it between fork and exec in a process full of gRPC threads, pg_ctl ended in
        # SIGSEGV in 3 of 5 runs of the fault tests in one session's clean-clone CI.
        switch = ["runuser", "-u", self._user, "--"] if self._user else []
        return subprocess.run([*switch, str(self.BIN / program), *args], check=check, capture_output=True,
                              cwd=self._folder).returncode

    @property
    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self._data), "status", check=False) == 0

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self._folder}"
                   f" -c fsync=off -c max_connections={self.MAX_CONNECTIONS}")
        self._run("pg_ctl", "-D", str(self._data), "-o", options, "-l", str(self._folder / "postgres.log"), "-w", "start")

    def stop(self, mode: str) -> None:
        """`fast`: clients are told the server shuts down; `immediate`: no goodbye, crash recovery at the next start."""
        self._run("pg_ctl", "-D", str(self._data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        admin = sqlalchemy.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            admin.dispose()
        return self.url(name)

    @contextlib.contextmanager
    def every_connection_taken(self) -> Iterator[None]:
        """Holds every connection slot and ends everybody else's sessions: the server refuses the
        services' next connections with "too many clients already", as a busy shared server does."""
        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        held: list[psycopg.Connection] = []

        def take_the_free_slots() -> None:
            while True:
                try:
                    held.append(psycopg.connect(dsn, autocommit=True))
                except psycopg.OperationalError:
                    return

        try:
            take_the_free_slots()
            mine = [connection.info.backend_pid for connection in held]
            others = "FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> ALL(%s)"
            held[0].execute(f"SELECT pg_terminate_backend(pid) {others}", [mine])
            wait_for(lambda: held[0].execute(f"SELECT count(*) {others}", [mine]).fetchone()[0] == 0, 30)
            take_the_free_slots()
            yield
        finally:
            for connection in held:
                connection.close()

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"
