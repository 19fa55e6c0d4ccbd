"""Bearer tokens against a real fleet service that accepts tokens only: what a caller sees."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import grpc
import jwt
import pytest
from fleetops.fleet.v1 import fleet_service_pb2 as pb
from fleetops.fleet.v1 import fleet_service_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import given, settings
from hypothesis import strategies as st

from services.runtime.auth import BearerTokenAuthenticator, Identity
from services.runtime.config import JwtSettings
from services.runtime.errors import Unauthenticated
from services.runtime.tokens import main as mint_main
from tests.security.security_helpers import AUDIENCE, HS256_SECRET, ISSUER, public_pem, rsa_key


@pytest.fixture
def fleet_with_tokens(secured_suite):
    return secured_suite["fleet"]


def claims(**changes) -> dict:
    now = datetime.now(UTC)
    values = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "roles": ["viewer"], "iat": now,
              "exp": now + timedelta(minutes=5)}
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def list_customers(handle, token: str | None, metadata: tuple = ()):
    stub = pb_grpc.FleetServiceStub(handle.raw_channel)
    sent = ((("authorization", f"Bearer {token}"),) if token is not None else ()) + metadata
    return stub.ListCustomers(pb.ListCustomersRequest(), metadata=sent, timeout=10)


def refused(handle, token: str | None, metadata: tuple = ()) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        list_customers(handle, token, metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, caught.value.details()
    assert "Traceback" not in caught.value.details()
    return caught.value.details()


def _segment(data: dict) -> str:
    numeric = {name: int(value.timestamp()) if isinstance(value, datetime) else value for name, value in data.items()}
    return base64.urlsafe_b64encode(json.dumps(numeric).encode()).rstrip(b"=").decode()


def hand_signed_hs256(payload: dict, secret: bytes) -> str:
    """An HS256 token signed with any bytes, even a PEM public key (PyJWT refuses to sign with one)."""
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT'})}.{_segment(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def test_good_hs256_token_is_accepted(fleet_with_tokens):
    assert list_customers(fleet_with_tokens, jwt.encode(claims(), HS256_SECRET, algorithm="HS256")) is not None


def test_good_rs256_tokens_from_either_trusted_key_are_accepted(fleet_with_tokens, keys):
    for private_key in keys.rs256:
        assert list_customers(fleet_with_tokens, jwt.encode(claims(), private_key, algorithm="RS256")) is not None


def test_wrong_issuer_is_refused(fleet_with_tokens):
    token = jwt.encode(claims(iss="https://evil.example"), HS256_SECRET, algorithm="HS256")
    assert "issuer" in refused(fleet_with_tokens, token)


def test_wrong_audience_is_refused(fleet_with_tokens):
    token = jwt.encode(claims(aud="someone-else"), HS256_SECRET, algorithm="HS256")
    assert "audience" in refused(fleet_with_tokens, token)


def test_expired_token_is_refused(fleet_with_tokens):
    past = datetime.now(UTC) - timedelta(hours=1)
    token = jwt.encode(claims(iat=past, exp=past + timedelta(minutes=5)), HS256_SECRET, algorithm="HS256")
    assert "expired" in refused(fleet_with_tokens, token)


def test_token_not_valid_yet_is_refused(fleet_with_tokens):
    token = jwt.encode(claims(nbf=datetime.now(UTC) + timedelta(hours=1)), HS256_SECRET, algorithm="HS256")
    assert "not valid yet" in refused(fleet_with_tokens, token)


def test_token_without_expiry_is_refused(fleet_with_tokens):
    token = jwt.encode(claims(exp=None), HS256_SECRET, algorithm="HS256")
    assert "'exp'" in refused(fleet_with_tokens, token)


def test_token_without_a_subject_is_refused(fleet_with_tokens):
    for subject in (None, " "):
        token = jwt.encode(claims(sub=subject), HS256_SECRET, algorithm="HS256")
        assert "'sub'" in refused(fleet_with_tokens, token)


def test_bad_signatures_are_refused(fleet_with_tokens):
    forged_hs = jwt.encode(claims(), b"another-secret-that-is-32-bytes-long!!", algorithm="HS256")
    forged_rs = jwt.encode(claims(), rsa_key(), algorithm="RS256")
    for token in (forged_hs, forged_rs):
        assert "signature" in refused(fleet_with_tokens, token)
    header, _payload, signature = jwt.encode(claims(), HS256_SECRET, algorithm="HS256").split(".")
    tampered = _segment(claims(roles=["admin"]))
    assert "signature" in refused(fleet_with_tokens, f"{header}.{tampered}.{signature}")


def test_unsigned_alg_none_token_is_refused(fleet_with_tokens):
    token = jwt.encode(claims(roles=["admin"]), None, algorithm="none")
    assert "'none'" in refused(fleet_with_tokens, token)


def test_hs256_token_signed_with_the_rs256_public_key_is_refused(fleet_with_tokens, keys):
    # The classic confusion: a verifier that takes "the key" for whatever alg the token names would
    # check this HMAC with the public key, which everyone has.
    token = hand_signed_hs256(claims(roles=["admin"]), public_pem(keys.rs256[0]))
    assert "signature" in refused(fleet_with_tokens, token)


def test_an_rs256_only_verifier_refuses_hs256_outright():
    key = rsa_key()
    verifier = BearerTokenAuthenticator(JwtSettings(issuer=ISSUER, audience=AUDIENCE,
                                                    rs256_public_keys=(public_pem(key),)))
    token = hand_signed_hs256(claims(), public_pem(key))
    with pytest.raises(Unauthenticated) as caught:
        verifier.authenticate({"authorization": f"Bearer {token}"})
    assert "not accepted" in str(caught.value) and "RS256" in str(caught.value)
    assert verifier.authenticate({"authorization": f"Bearer {jwt.encode(claims(), key, algorithm='RS256')}"})


def test_claims_give_subject_roles_and_customer_scope():
    verifier = BearerTokenAuthenticator(JwtSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=HS256_SECRET))
    token = jwt.encode(claims(sub="portal-7", roles=["viewer", "billing"], customer="customers/acme"),
                       HS256_SECRET, algorithm="HS256")
    assert verifier.authenticate({"authorization": f"Bearer {token}"}) == Identity(
        subject="portal-7", roles=frozenset({"viewer", "billing"}), customer="customers/acme")


def test_missing_or_malformed_credentials_are_refused(fleet_with_tokens):
    assert "missing credentials" in refused(fleet_with_tokens, None)
    assert "not a well-formed JWT" in refused(fleet_with_tokens, "not-a-token")
    assert "Bearer" in refused(fleet_with_tokens, None, (("authorization", "Basic YWxpY2U6c2VjcmV0"),))
    # development headers mean nothing to a service that verifies tokens
    assert "missing credentials" in refused(fleet_with_tokens, None,
                                            (("x-fleetops-subject", "mallory"), ("x-fleetops-roles", "admin")))


def test_token_roles_claim_must_be_a_list(fleet_with_tokens):
    token = jwt.encode(claims(roles="admin"), HS256_SECRET, algorithm="HS256")
    assert "list of role names" in refused(fleet_with_tokens, token)


def test_health_answers_without_credentials(fleet_with_tokens):
    health = health_pb2_grpc.HealthStub(fleet_with_tokens.raw_channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING


def test_minted_developer_token_is_accepted(fleet_with_tokens, monkeypatch, capsys):
    monkeypatch.setenv("FLEETOPS_JWT_HS256_SECRET", HS256_SECRET.decode())
    monkeypatch.setenv("FLEETOPS_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("FLEETOPS_JWT_AUDIENCE", AUDIENCE)
    assert mint_main(["--subject", "dev", "--roles", "viewer", "--lifetime", "60"]) == 0
    token = capsys.readouterr().out.strip()
    assert list_customers(fleet_with_tokens, token) is not None
    decoded = jwt.decode(token, HS256_SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert decoded["sub"] == "dev" and decoded["roles"] == ["viewer"] and decoded["exp"] <= time.time() + 61


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=6)


@settings(max_examples=200, deadline=None)
@given(header=st.dictionaries(st.sampled_from(["alg", "typ", "kid", "crit", "x"]), JSON_VALUES, max_size=4),
       payload=st.dictionaries(st.sampled_from(["iss", "aud", "sub", "exp", "nbf", "roles", "customer"]), JSON_VALUES,
                               max_size=7),
       signature=st.binary(max_size=64), garbage=st.text(max_size=40))
def test_any_malformed_token_is_unauthenticated_never_a_crash(header, payload, signature, garbage):
    verifier = BearerTokenAuthenticator(JwtSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=HS256_SECRET))
    crafted = ".".join([_segment(header), _segment(payload), base64.urlsafe_b64encode(signature).decode().rstrip("=")])
    for token in (crafted, garbage, f"{crafted}{garbage}"):
        with pytest.raises(Unauthenticated):
            verifier.authenticate({"authorization": f"Bearer {token}"})
