"""Keys, certificates and tokens made at test time (never committed), and services started with them."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.runtime.clients import bearer_metadata
from services.runtime.config import ClientTls, JwtSettings, ServerTls
from services.runtime.server import ServiceDefinition
from services.runtime.tokens import mint
from tests.conftest import ServiceUnderTest, _DefaultMetadata, start_service

ISSUER = "https://id.fleetops.test"
AUDIENCE = "fleetops"
HS256_SECRET = b"test-hs256-secret-of-at-least-32-bytes!"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass(frozen=True)
class TokenKeys:
    """An HS256 secret and two RS256 key pairs (both public keys trusted, as during a rotation)."""

    rs256: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]

    @classmethod
    def generate(cls) -> TokenKeys:
        return cls((rsa_key(), rsa_key()))

    @property
    def settings(self) -> JwtSettings:
        return JwtSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=HS256_SECRET,
                           rs256_public_keys=tuple(public_pem(key) for key in self.rs256))

    def token(self, *roles: str, subject: str = "test-user", lifetime: timedelta = timedelta(minutes=5)) -> str:
        return mint(self.settings, subject, roles, lifetime=lifetime)


class CertificateAuthority:
    """A throw-away CA issuing certificates for localhost (servers) and named clients."""

    def __init__(self, name: str = "fleetops test CA"):
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self._name = subject
        self.certificate_pem = self._sign(self._key.public_key(), subject, is_ca=True, sans=[], usages=[])

    def issue(self, common_name: str, *, server: bool) -> tuple[bytes, bytes]:
        """(certificate PEM, private key PEM) for a server on localhost or a client."""
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1"))] if server else [x509.DNSName(common_name)]
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        return self._sign(key.public_key(), name, is_ca=False, sans=sans, usages=[usage]), private_pem(key)

    def _sign(self, public_key, subject: x509.Name, *, is_ca: bool, sans: list, usages: list) -> bytes:
        now = datetime.now(UTC)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(self._name).public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        return builder.sign(self._key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Pki:
    """A CA with a server certificate and a client certificate, plus a stranger's client certificate."""

    ca: CertificateAuthority
    server: tuple[bytes, bytes]
    client: tuple[bytes, bytes]
    stranger: tuple[bytes, bytes]  # issued by another CA

    @classmethod
    def generate(cls) -> Pki:
        ca = CertificateAuthority()
        return cls(ca, ca.issue("localhost", server=True), ca.issue("fleetctl", server=False),
                   CertificateAuthority("someone else's CA").issue("intruder", server=False))

    def server_tls(self, *, mutual: bool) -> ServerTls:
        return ServerTls(*self.server, client_ca=self.ca.certificate_pem if mutual else None)

    def client_tls(self, *, with_certificate: bool = True) -> ClientTls:
        if not with_certificate:
            return ClientTls(self.ca.certificate_pem)
        return ClientTls(self.ca.certificate_pem, *self.client)

    def write(self, folder: Path) -> dict[str, Path]:
        files = {"ca": self.ca.certificate_pem, "client-cert": self.client[0], "client-key": self.client[1]}
        for name, content in files.items():
            (folder / f"{name}.pem").write_bytes(content)
        return {name: folder / f"{name}.pem" for name in files}


def sqlite_url(folder: Path, label: str) -> str:
    return f"sqlite:///{folder / f'{label}-{uuid.uuid4().hex[:8]}.db'}"


def start_secured(definition: ServiceDefinition, folder: Path, keys: TokenKeys, **overrides) -> ServiceUnderTest:
    """A service that accepts bearer tokens only (no development headers)."""
    return start_service(definition, sqlite_url(folder, definition.name), jwt=keys.settings,
                         development_auth=False, **overrides)


def with_token(channel: grpc.Channel, token: str) -> grpc.Channel:
    return grpc.intercept_channel(channel, _DefaultMetadata(bearer_metadata(token)))
