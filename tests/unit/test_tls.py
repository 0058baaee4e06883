"""emu_base/tls.py and the secrets of a deployment (launcher.write_secrets, ``finesse-emu secrets``):
what the certificates carry, the files' modes, and that a second run keeps what still serves.

Clients verifying the node over real sockets: tests/integration/test_node_tls.py and
tests/e2e/test_launcher_tls.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import ipaddress
import stat
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from emu_base import tls
from finesse_emu import cli
from finesse_emu.cli import deployment as cli_deployment
from finesse_emu.deployment import launcher
from finesse_emu.deployment.launcher import Deployment, write_secrets
from finesse_emu.deployment.topology import FINESSE_A, FINESSE_B
from finesse_emu.server.node import NodeConfig

NODES = {"finesse-a": ["127.0.25.7", "finesse-a"], "finesse-b": ["127.0.25.8", "finesse-b", "localhost"]}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


T = TypeVar("T", bound=x509.ExtensionType)


def ext(cert: x509.Certificate, kind: type[T]) -> x509.Extension[T]:
    return cert.extensions.get_extension_for_class(kind)


def contents(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_ca_and_node_certificates_carry_what_clients_check(tmp_path: Path) -> None:
    files = tls.ensure_tls(tmp_path, NODES)
    ca = load(files.ca_file)
    # The CA: a CA (critical), signs certificates, self-issued, with key identifiers.
    bc = ext(ca, x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = ext(ca, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
    ca_ski = ext(ca, x509.SubjectKeyIdentifier).value
    assert ca.issuer == ca.subject
    ca.verify_directly_issued_by(ca)
    assert ca.not_valid_after_utc - ca.not_valid_before_utc > dt.timedelta(days=3000)
    for name, hosts in NODES.items():
        cert_path, key_path = files.nodes[name]
        cert = load(cert_path)
        cert.verify_directly_issued_by(ca)
        san = ext(cert, x509.SubjectAlternativeName).value
        assert set(san.get_values_for_type(x509.DNSName)) == {h for h in hosts if not h[0].isdigit()}
        assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(hosts[0])]
        nbc = ext(cert, x509.BasicConstraints)
        assert nbc.critical and not nbc.value.ca
        nku = ext(cert, x509.KeyUsage)
        assert nku.critical and nku.value.digital_signature and not nku.value.key_cert_sign
        assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
        assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == ca_ski.key_identifier
        assert ext(cert, x509.SubjectKeyIdentifier).value.digest
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert dt.timedelta(days=300) < lifetime <= dt.timedelta(days=398)  # what browsers accept
        assert cert.subject.rfc4514_string() == f"CN={name}"
        assert (mode(cert_path), mode(key_path)) == (0o644, 0o600)
    assert (mode(files.ca_file), mode(files.ca_key)) == (0o644, 0o600)
    # Two deployments' CAs never share a name (a client trusting both tells them apart).
    assert tls.make_ca().cert.subject != ca.subject


def test_ensure_tls_keeps_what_serves_and_reissues_only_what_does_not(tmp_path: Path) -> None:
    first = tls.ensure_tls(tmp_path, NODES)
    assert len(first.made) == 6
    before = contents(tmp_path)
    (tmp_path / "finesse-a.key").chmod(0o644)  # a mode loosened by hand is tightened again
    again = tls.ensure_tls(tmp_path, NODES)
    assert again.made == [] and contents(tmp_path) == before
    assert mode(tmp_path / "finesse-a.key") == 0o600
    # Other names (another --network): that node's certificate only, same CA.
    moved = tls.ensure_tls(tmp_path, {**NODES, "finesse-a": ["127.0.26.7", "finesse-a"]})
    assert moved.made == [tmp_path / "finesse-a.crt", tmp_path / "finesse-a.key"]
    assert (tmp_path / "ca.crt").read_bytes() == before["ca.crt"]
    # A key that does not match its certificate, or garbage: reissued.
    (tmp_path / "finesse-b.key").write_bytes(before["finesse-a.key"])
    assert tls.ensure_tls(tmp_path, NODES).made[-2:] == [
        tmp_path / "finesse-b.crt",
        tmp_path / "finesse-b.key",
    ]
    (tmp_path / "finesse-b.crt").write_text("not a certificate")
    assert tmp_path / "finesse-b.crt" in tls.ensure_tls(tmp_path, NODES).made
    # A certificate of another CA (the CA files replaced): everything reissued by the new one.
    (tmp_path / "ca.key").unlink()
    renewed = tls.ensure_tls(tmp_path, NODES)
    assert len(renewed.made) == 6 and (tmp_path / "ca.crt").read_bytes() != before["ca.crt"]
    ca = load(tmp_path / "ca.crt")
    for name in NODES:
        load(tmp_path / f"{name}.crt").verify_directly_issued_by(ca)


def test_a_certificate_near_its_end_is_reissued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls, "NODE_DAYS", 20)  # under the 30 days of RENEW_BEFORE
    tls.ensure_tls(tmp_path, NODES)
    monkeypatch.undo()
    again = tls.ensure_tls(tmp_path, NODES)
    assert {p.name for p in again.made} == {
        "finesse-a.crt",
        "finesse-a.key",
        "finesse-b.crt",
        "finesse-b.key",
    }
    assert load(tmp_path / "finesse-a.crt").not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(
        days=300
    )


def test_hosts_a_certificate_cannot_name_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    for bad in ("not a host", "-x.example", "a..b", "", "x" * 64):
        with pytest.raises(tls.TlsError):
            tls.ensure_tls(tmp_path / "out", {"finesse-a": ["finesse-a", bad]})
        with pytest.raises(ValueError):
            write_secrets(tmp_path / "out", {"finesse-a": [bad]})
    with pytest.raises(tls.TlsError):
        tls.ensure_tls(tmp_path / "out", {"../x": ["x"]})
    assert not (tmp_path / "out").exists()
    assert tls.parse_host("Finesse-A.Example.") == "finesse-a.example"
    assert tls.parse_host("[::1]") == ipaddress.ip_address("::1")


def test_write_secrets_makes_every_file_with_its_mode_and_keeps_them(tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    made = write_secrets(out, NODES)
    assert mode(out) == 0o700
    names = {p.name: how for p, how in made.listing()}
    assert names == dict.fromkeys(
        ["xmpp-password", "awdb-password", "ca.crt", "ca.key", "finesse-a.crt", "finesse-a.key",
         "finesse-b.crt", "finesse-b.key"], "made",
    )  # fmt: skip
    modes = {p.name: mode(p) for p in out.iterdir()}
    assert modes == {n: 0o644 if n.endswith(".crt") else 0o600 for n in names}
    xmpp, awdb = (out / "xmpp-password").read_text().strip(), (out / "awdb-password").read_text().strip()
    assert len(xmpp) >= 32 and xmpp != awdb  # token_urlsafe(24)
    assert (out / "ca.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")  # unencrypted PKCS#8
    before = contents(out)
    (out / "xmpp-password").chmod(0o644)
    again = write_secrets(out, NODES)
    assert all(how == "kept" for _, how in again.listing())
    assert contents(out) == before and mode(out / "xmpp-password") == 0o600
    # A password of one's own is kept as it is; an empty file gets a new one.
    launcher.write_token_file(out / "awdb-password", "my-own-password")
    (out / "xmpp-password").write_text("")
    write_secrets(out, NODES)
    assert (out / "awdb-password").read_text().strip() == "my-own-password"
    assert len((out / "xmpp-password").read_text().strip()) >= 32


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_secrets_command_is_idempotent_and_prints_no_secret(tmp_path: Path) -> None:
    out = tmp_path / "s"
    code, printed, _ = run_cli(
        "secrets", str(out), "--hosts", "localhost,127.0.0.1", "--hosts", "finesse-b=10.1.2.3"
    )
    assert code == 0
    before = contents(out)
    assert sorted(before) == sorted(
        ["xmpp-password", "awdb-password", "ca.crt", "ca.key", "finesse-a.crt", "finesse-a.key",
         "finesse-b.crt", "finesse-b.key"]
    )  # fmt: skip
    assert f"clients trust {out / 'ca.crt'}" in printed and "made  0600" in printed
    for secret in ("xmpp-password", "awdb-password"):
        assert before[secret].decode().strip() not in printed
    assert "PRIVATE KEY" not in printed and "CERTIFICATE" not in printed
    a = tls.cert_hosts(load(out / "finesse-a.crt"))
    b = tls.cert_hosts(load(out / "finesse-b.crt"))
    assert a == (["finesse-a", "localhost"], [ipaddress.ip_address("127.0.0.1")])
    assert b == (
        ["finesse-b", "localhost"],
        [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.1.2.3")],
    )
    code, printed, _ = run_cli(
        "secrets", str(out), "--hosts", "localhost,127.0.0.1", "--hosts", "finesse-b=10.1.2.3"
    )
    assert code == 0 and "made" not in printed and printed.count("kept") == 8
    assert contents(out) == before
    code, _, err = run_cli("secrets", str(tmp_path / "bad"), "--hosts", "no such host!")
    assert code == 2 and "neither an IP address nor a DNS name" in err and not (tmp_path / "bad").exists()
    code, _, err = run_cli("secrets", str(tmp_path / "bad"), "--hosts", "finesse-c=10.0.0.1")
    assert code == 2 and "finesse-c is none of --nodes" in err


def test_secrets_sso_writes_the_signing_key_0600_and_keeps_it(tmp_path: Path) -> None:
    """``finesse-emu secrets --sso``: the IdS's signing key (0600, kept when it exists, like the
    passwords) and the IdS's certificate, named like the nodes'; without --sso, neither."""
    out = tmp_path / "s"
    code, printed, _ = run_cli("secrets", str(out), "--hosts", "localhost,127.0.0.1", "--sso")
    assert code == 0
    key = out / launcher.SSO_KEY_FILE
    assert mode(key) == 0o600 and f"made  0600 {key}" in printed
    value = key.read_text().strip()
    assert len(value) >= 43 and value not in printed  # token_urlsafe(32), never printed
    assert tls.cert_hosts(load(out / "ids.crt")) == (
        ["ids", "localhost"],
        [ipaddress.ip_address("127.0.0.1")],
    )
    assert mode(out / "ids.key") == 0o600
    before = contents(out)
    key.chmod(0o644)
    code, printed, _ = run_cli("secrets", str(out), "--hosts", "localhost,127.0.0.1", "--sso")
    assert code == 0 and "made" not in printed and f"kept  0600 {key}" in printed
    assert contents(out) == before and mode(key) == 0o600
    # A key of one's own is kept; an empty one is replaced; `up` (new_passwords) makes a new one.
    launcher.write_token_file(key, "my-own-signing-key")
    assert write_secrets(out, {}, sso=True).sso_key_file == key
    assert key.read_text().strip() == "my-own-signing-key"
    key.write_text("")
    write_secrets(out, {}, sso=True)
    assert len(key.read_text().strip()) >= 43 and mode(key) == 0o600
    renewed = key.read_text()
    write_secrets(out, {}, new_passwords=True, sso=True)
    assert key.read_text() != renewed
    # Without --sso: no key, no IdS certificate.
    plain = tmp_path / "plain"
    assert run_cli("secrets", str(plain))[0] == 0
    assert not (plain / launcher.SSO_KEY_FILE).exists() and not (plain / "ids.crt").exists()
    assert write_secrets(plain, {}).sso_key_file is None
    code, _, err = run_cli("secrets", str(plain), "--hosts", "ids=10.0.0.9")
    assert code == 2 and "ids is none of --nodes" in err
    assert run_cli("secrets", str(plain), "--sso", "--hosts", "ids=10.0.0.9")[0] == 0
    assert tls.cert_hosts(load(plain / "ids.crt")) == (["ids"], [ipaddress.ip_address("10.0.0.9")])


def test_secrets_hosts() -> None:
    nodes = ["finesse-a", "finesse-b"]
    assert cli_deployment.secrets_hosts(nodes, []) == {"finesse-a": ["finesse-a"], "finesse-b": ["finesse-b"]}
    assert cli_deployment.secrets_hosts(nodes, ["{node}.emu.svc", "localhost", "finesse-a=10.0.0.7"]) == {
        "finesse-a": ["finesse-a", "finesse-a.emu.svc", "localhost", "10.0.0.7"],
        "finesse-b": ["finesse-b", "finesse-b.emu.svc", "localhost"],
    }
    assert cli_deployment.secrets_hosts(["n1"], ["n1=x", "x"]) == {"n1": ["n1", "x"]}  # each name once


def test_launcher_node_config_names_the_certificates_and_is_0600(tmp_path: Path) -> None:
    d = Deployment(tmp_path / "run", network="127.0.25")
    d.run_dir.mkdir()
    assert d.node_hosts() == {
        "finesse-a": ["127.0.25.7", "finesse-a"],
        "finesse-b": ["127.0.25.8", "finesse-b"],
    }
    path = d._node_config(d.ep(FINESSE_A), "publisher")
    assert mode(path) == 0o600
    config = yaml.safe_load(path.read_text())
    run = d.run_dir.absolute()
    assert (config["cert_file"], config["key_file"], config["ca_file"]) == (
        str(run / "finesse-a.crt"), str(run / "finesse-a.key"), str(run / "ca.crt"),
    )  # fmt: skip
    path.chmod(0o644)  # written again (up after up): 0600 again
    assert mode(d._node_config(d.ep(FINESSE_B), "subscriber")) == 0o600
    assert mode(d._node_config(d.ep(FINESSE_A), "publisher")) == 0o600


def test_status_table_names_the_ca() -> None:
    report = {
        "components": [
            {"name": "finesse-a", "role": "publisher", "host": "127.0.25.7", "state": "IN_SERVICE",
             "ports": {"rest_http": 8082, "rest_https": 8445, "admin": 8089}},
        ],
        "sample_agents": [],
        "admin_token_file": None,
        "ca_file": "/x/run/ca.crt",
    }  # fmt: skip
    table = launcher.render_table(report)
    assert "the deployment's CA /x/run/ca.crt" in table
    assert "curl --cacert /x/run/ca.crt https://127.0.25.7:8445/finesse/api/SystemInfo" in table


def test_node_config_takes_a_certificate_with_its_key() -> None:
    with pytest.raises(ValueError, match="cert_file and key_file go together"):
        NodeConfig(cert_file="/x.crt")
    with pytest.raises(ValueError, match="cert_file and key_file go together"):
        NodeConfig(key_file="/x.key")
    assert NodeConfig(name="n", host="0.0.0.0", xmpp_domain="n.example").tls_hosts() == [
        "n", "n.example", "localhost", "127.0.0.1", "::1",
    ]  # fmt: skip
    assert NodeConfig(name="finesse-a", host="127.0.25.7").tls_hosts() == ["finesse-a", "127.0.25.7"]


def test_a_server_context_is_loaded_from_the_given_files_or_made_in_the_run_dir(tmp_path: Path) -> None:
    """What a node's HTTPS listener gets (finesse_emu/server/listeners.py): the deployment's
    certificate and key loaded as they are, or, without them, a CA and a certificate made once in
    its run_dir and kept on the next start."""
    made = tls.server_context(
        "finesse-a", ["finesse-a", "127.0.0.1"], None, None, None, str(tmp_path / "run")
    )
    assert made.made is not None and made.ca_file == str((tmp_path / "run" / tls.CA_CERT).absolute())
    assert {p.name for p in made.made.made} == {"ca.crt", "ca.key", "finesse-a.crt", "finesse-a.key"}
    again = tls.server_context(
        "finesse-a", ["finesse-a", "127.0.0.1"], None, None, None, str(tmp_path / "run")
    )
    assert again.made is not None and again.made.made == []  # kept, not made again
    cert, key = (str(tmp_path / "run" / f"finesse-a.{ext}") for ext in ("crt", "key"))
    loaded = tls.server_context("finesse-a", ["x"], cert, key, "/the/ca.crt", str(tmp_path / "other"))
    assert loaded.made is None and loaded.ca_file == "/the/ca.crt" and not (tmp_path / "other").exists()
    with pytest.raises(OSError, match=r"finesse-a: HTTPS certificate .*finesse-a\.crt / key .*missing\.key"):
        tls.server_context("finesse-a", ["x"], cert, str(tmp_path / "missing.key"), None, "")
