"""``loyalty serve --ssl-certfile F --ssl-keyfile F``: a real server on a free 127.0.0.1 port with
a self-signed certificate made for the test; a client trusting it gets answers, plain HTTP to the
same port gets none. The options' checks (both halves, readable files, a matching key) run
before anything starts."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loyalty.cli import app
from loyalty.commands.serve import tls_arguments
from loyalty.errors import InputError
from loyalty.processes import stop_tree
from serving.schemas import EXAMPLE_SCORE
from tests.service_support import ORCH, build_home
from tests.test_service_serve import _free_port


def self_signed(folder: Path, name: str = "server") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost and its key, as PEM files in ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    alt = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(alt, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_arguments_need_both_halves_readable_and_matching(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    other_cert, _ = self_signed(tmp_path, "other")
    assert tls_arguments(None, None) == []
    assert tls_arguments(cert, key) == ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    with pytest.raises(InputError, match="needs both --ssl-certfile and --ssl-keyfile"):
        tls_arguments(cert, None)
    with pytest.raises(InputError, match=r"--ssl-keyfile .*nope.key: no such file"):
        tls_arguments(cert, tmp_path / "nope.key")
    with pytest.raises(InputError, match="cannot serve TLS"):
        tls_arguments(other_cert, key)  # a key that is not the certificate's


def test_serve_refuses_half_a_tls_pair_with_exit_2(tmp_path: Path, monkeypatch) -> None:
    cert, _ = self_signed(tmp_path)
    monkeypatch.setenv("LOYALTY_TOKENS", "t=orchestrator")
    monkeypatch.setenv("LOYALTY_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["serve", "--ssl-certfile", str(cert)])
    assert result.exit_code == 2
    assert "TLS needs both --ssl-certfile and --ssl-keyfile" in result.output


def test_serve_over_tls_with_a_self_signed_certificate(trained_home, sim_dir, tmp_path: Path):
    import httpx

    cert, key = self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    values = build_home(trained_home, sim_dir, tmp_path / "home")
    port = _free_port()
    cmd = [sys.executable, "-m", "loyalty.cli", "serve", "--port", str(port),
           "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        cmd, env={**os.environ, **values}, start_new_session=True, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    https = f"https://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(f"{https}/readyz", verify=trust, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("the service did not become ready over TLS in 120 s")
        answer = httpx.post(f"{https}/score", json=EXAMPLE_SCORE, headers=ORCH, verify=trust)
        assert answer.status_code == 200, answer.text
        with pytest.raises(httpx.HTTPError):  # plain HTTP to the TLS port: no answer
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        with pytest.raises(httpx.ConnectError):  # a client that does not trust it refuses
            httpx.get(f"{https}/healthz", timeout=5)
    finally:
        stop_tree(proc)
        log.close()
