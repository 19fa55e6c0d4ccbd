"""Which authenticator and credentials a service gets from its environment."""

from __future__ import annotations

import jwt
import pytest

from services.runtime.auth import (
    BearerThenHeaderAuthenticator,
    BearerTokenAuthenticator,
    DevelopmentHeaderAuthenticator,
    RefuseAllAuthenticator,
    authenticator_for,
)
from services.runtime.clients import PeerCredentials
from services.runtime.config import load_config
from services.runtime.errors import InvalidArgument, Unauthenticated

POSTGRES_URL = "postgresql+psycopg://fleetops@db.example/fleet"
SECRET = "a-development-secret-of-32-bytes-or-more"
SECURITY_VARIABLES = ("FLEETOPS_DEV_AUTH", "FLEETOPS_JWT_HS256_SECRET", "FLEETOPS_JWT_RS256_PUBLIC_KEY_FILE",
                      "FLEETOPS_JWT_ISSUER", "FLEETOPS_JWT_AUDIENCE", "FLEETOPS_SERVICE_TOKEN", "FLEET_DATABASE_URL",
                      "FLEETOPS_TLS_CERT_FILE", "FLEETOPS_TLS_KEY_FILE", "FLEETOPS_TLS_CLIENT_CA_FILE",
                      "FLEETOPS_TLS_CA_FILE", "FLEETOPS_TLS_CLIENT_CERT_FILE", "FLEETOPS_TLS_CLIENT_KEY_FILE")


@pytest.fixture
def env(monkeypatch):
    for name in SECURITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def with_jwt(env) -> None:
    env.setenv("FLEETOPS_JWT_HS256_SECRET", SECRET)
    env.setenv("FLEETOPS_JWT_ISSUER", "https://id.example")
    env.setenv("FLEETOPS_JWT_AUDIENCE", "fleetops")


def test_development_headers_are_trusted_only_with_the_embedded_database(env):
    assert isinstance(authenticator_for(load_config("fleet")), DevelopmentHeaderAuthenticator)
    env.setenv("FLEET_DATABASE_URL", POSTGRES_URL)
    refusing = authenticator_for(load_config("fleet"))
    assert isinstance(refusing, RefuseAllAuthenticator)
    with pytest.raises(Unauthenticated):
        refusing.authenticate({"x-fleetops-subject": "mallory", "x-fleetops-roles": "admin"})
    env.setenv("FLEETOPS_DEV_AUTH", "1")
    assert isinstance(authenticator_for(load_config("fleet")), DevelopmentHeaderAuthenticator)


def test_configured_keys_turn_development_headers_off_unless_asked_for(env):
    with_jwt(env)
    assert isinstance(authenticator_for(load_config("fleet")), BearerTokenAuthenticator)
    env.setenv("FLEETOPS_DEV_AUTH", "1")
    assert isinstance(authenticator_for(load_config("fleet")), BearerThenHeaderAuthenticator)


def test_an_unclear_dev_auth_flag_is_refused_not_read_as_off(env):
    env.setenv("FLEETOPS_DEV_AUTH", "maybe")
    with pytest.raises(InvalidArgument) as caught:
        load_config("fleet")
    assert caught.value.violations[0].field == "FLEETOPS_DEV_AUTH"


@pytest.mark.parametrize(("variable", "value", "field"), [
    ("FLEETOPS_JWT_HS256_SECRET", "too-short", "FLEETOPS_JWT_HS256_SECRET"),
    ("FLEETOPS_JWT_ISSUER", "", "FLEETOPS_JWT_ISSUER"),
    ("FLEETOPS_JWT_AUDIENCE", "", "FLEETOPS_JWT_AUDIENCE"),
    ("FLEETOPS_JWT_RS256_PUBLIC_KEY_FILE", "/nonexistent/key.pem", "FLEETOPS_JWT_RS256_PUBLIC_KEY_FILE"),
    ("FLEETOPS_TLS_CERT_FILE", "/nonexistent/cert.pem", "FLEETOPS_TLS_CERT_FILE"),
])
def test_bad_security_settings_stop_the_service_naming_the_variable(env, variable, value, field):
    with_jwt(env)
    env.setenv(variable, value)
    with pytest.raises(InvalidArgument) as caught:
        load_config("fleet")
    assert caught.value.violations[0].field == field


def test_a_certificate_without_its_key_is_refused(env, tmp_path):
    (tmp_path / "cert.pem").write_text("certificate")
    env.setenv("FLEETOPS_TLS_CERT_FILE", str(tmp_path / "cert.pem"))
    with pytest.raises(InvalidArgument) as caught:
        load_config("fleet")
    assert caught.value.violations[0].field == "FLEETOPS_TLS_KEY_FILE"


def test_peers_get_a_short_lived_service_token_minted_with_the_secret(env):
    with_jwt(env)
    config = load_config("maintenance")
    (header, value), = PeerCredentials(config).metadata()
    assert header == "authorization" and value.startswith("Bearer ")
    claims = jwt.decode(value.removeprefix("Bearer "), SECRET, algorithms=["HS256"], audience="fleetops")
    assert claims["sub"] == "maintenance" and claims["roles"] == ["service"]
    assert 0 < claims["exp"] - claims["iat"] <= 300
    assert BearerTokenAuthenticator(config.jwt).authenticate({header: value}).roles == {"service"}


def test_a_configured_service_token_is_sent_as_it_is(env):
    with_jwt(env)
    env.setenv("FLEETOPS_SERVICE_TOKEN", "issued-by-the-identity-provider")
    assert PeerCredentials(load_config("invoicing")).metadata() == (
        ("authorization", "Bearer issued-by-the-identity-provider"),)


def test_without_keys_peers_send_development_headers(env):
    assert dict(PeerCredentials(load_config("invoicing")).metadata()) == {
        "x-fleetops-subject": "invoicing", "x-fleetops-roles": "service"}


def test_rs256_only_services_need_a_configured_token_to_call_peers(env, tmp_path):
    from tests.security.security_helpers import public_pem, rsa_key
    (tmp_path / "idp.pem").write_bytes(public_pem(rsa_key()))
    env.setenv("FLEETOPS_JWT_RS256_PUBLIC_KEY_FILE", str(tmp_path / "idp.pem"))
    env.setenv("FLEETOPS_JWT_ISSUER", "https://id.example")
    env.setenv("FLEETOPS_JWT_AUDIENCE", "fleetops")
    config = load_config("invoicing")
    assert config.jwt.hs256_secret is None and len(config.jwt.rs256_public_keys) == 1
    with pytest.raises(InvalidArgument) as caught:
        PeerCredentials(config)
    assert caught.value.violations[0].field == "FLEETOPS_SERVICE_TOKEN"
