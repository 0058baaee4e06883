"""TLS a client can verify: one local certificate authority per deployment, and node certificates
that name the node the way clients reach it.

A real Finesse server presents a certificate for its host name (self-signed, or signed by a CA the
administrator imports), and its clients (the desktop's browser, Java and Python integrations) check
it against what they trust. Here every deployment has its own CA (``ca.crt``) and each node a
certificate issued by it, with a subjectAltName holding the node's host names and IP addresses, so a
client trusts ``ca.crt`` instead of turning verification off.

Made with the ``cryptography`` library: ECDSA P-256 keys, SHA-256 signatures; the CA has
basicConstraints CA:TRUE (critical) and keyUsage keyCertSign/cRLSign, a node certificate
basicConstraints CA:FALSE, keyUsage digitalSignature, extendedKeyUsage serverAuth and its SAN, both
with subject and authority key identifiers (what OpenSSL's X509_STRICT checks, the default of Python
3.13's ``ssl.create_default_context``). A node certificate lasts 397 days (within what browsers
accept of any server certificate), the CA ten years.

Files, in one directory: ``ca.crt`` (0644), ``ca.key`` (0600), ``<node>.crt`` (0644) and
``<node>.key`` (0600). :func:`ensure_tls` keeps whatever still serves (a restarted deployment keeps
the CA its clients already trust) and reissues only what does not: a missing or unreadable file, a
key that does not match, a certificate not issued by this CA, other names than asked, or less than
30 days left.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import secrets
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
CA_DAYS = 3650
NODE_DAYS = 397  # Apple and Chromium refuse server certificates valid for longer than 398 days
RENEW_BEFORE = dt.timedelta(days=30)  # a certificate closer to its end than this is reissued
BACKDATE = dt.timedelta(hours=1)  # not_valid_before: room for a client whose clock is a little behind
_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TlsError(ValueError):
    """A host name or address a certificate cannot carry."""


@dataclass(frozen=True)
class Authority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclass
class TlsFiles:
    """What :func:`ensure_tls` left in its directory; ``made`` names the files it (re)wrote."""

    ca_file: Path
    ca_key: Path
    nodes: dict[str, tuple[Path, Path]]  # node name -> (certificate, key)
    made: list[Path] = field(default_factory=list)


# -- names -------------------------------------------------------------------------------------------
def parse_host(host: str) -> str | IPAddress:
    """An IP address, or a DNS name (ASCII labels, letters digits and hyphens); TlsError otherwise."""
    text = host.strip()
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        pass
    name = text.rstrip(".").lower()
    if not name or len(name) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in name.split(".")):
        raise TlsError(f"{host!r} is neither an IP address nor a DNS name")
    return name


def subject_alt_names(hosts: Iterable[str]) -> tuple[list[str], list[IPAddress]]:
    """(DNS names, IP addresses), each once, in the order given."""
    names: list[str] = []
    addresses: list[IPAddress] = []
    for host in hosts:
        parsed = parse_host(host)
        if isinstance(parsed, str):
            if parsed not in names:
                names.append(parsed)
        elif parsed not in addresses:
            addresses.append(parsed)
    return names, addresses


def cert_hosts(cert: x509.Certificate) -> tuple[list[str], list[IPAddress]]:
    """The DNS names and IP addresses of a certificate's subjectAltName."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    addresses = [a for a in san.get_values_for_type(x509.IPAddress) if isinstance(a, IPAddress)]
    return san.get_values_for_type(x509.DNSName), addresses


# -- making ------------------------------------------------------------------------------------------
def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_ca(label: str = "finesse-emu") -> Authority:
    """A new certificate authority. Its name carries a random suffix: two deployments' CAs, both
    trusted by one client, never pass for each other."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "finesse-emu"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{label} local CA {secrets.token_hex(4)}"),
        ]
    )
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(cert, key)


def issue(
    ca: Authority, name: str, hosts: Sequence[str]
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A server certificate for ``name`` (its common name) with ``hosts`` (DNS names and IP addresses)
    as subjectAltName, issued by ``ca``; TlsError for a host it cannot carry or no host at all."""
    names, addresses = subject_alt_names(hosts)
    if not names and not addresses:
        raise TlsError(f"{name}: a server certificate needs at least one host name or address")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    not_after = min(now + dt.timedelta(days=NODE_DAYS), ca.cert.not_valid_after_utc)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(a) for a in addresses]
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64])]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return cert, key


# -- files -------------------------------------------------------------------------------------------
def write_private(path: Path, data: bytes) -> None:
    """``data`` in ``path``, readable by its owner only (0600, also when the file existed)."""
    _write(path, data, 0o600)


def _write(path: Path, data: bytes, mode: int) -> None:
    # A temporary file renamed over the old one: a reader (a node starting, kubectl create secret)
    # sees the old file or the new one, never half of one.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """A certificate and its key, or None when either is missing, unreadable or they do not match."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        return None
    return cert, key


def _fresh(cert: x509.Certificate) -> bool:
    now = _now()
    return cert.not_valid_before_utc <= now + BACKDATE and cert.not_valid_after_utc - now > RENEW_BEFORE


def _fix_mode(path: Path, mode: int) -> None:
    if path.stat().st_mode & 0o777 != mode:
        path.chmod(mode)


def ensure_authority(directory: Path, made: list[Path] | None = None) -> Authority:
    """The CA of ``directory`` (``ca.crt``, ``ca.key``), made when there is none that serves."""
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    loaded = _load(cert_path, key_path)
    if loaded is not None and _fresh(loaded[0]) and _is_ca(loaded[0]):
        _fix_mode(cert_path, 0o644)
        _fix_mode(key_path, 0o600)
        return Authority(*loaded)
    ca = make_ca()
    write_private(key_path, _key_pem(ca.key))
    _write(cert_path, ca.cert.public_bytes(serialization.Encoding.PEM), 0o644)
    if made is not None:
        made += [cert_path, key_path]
    return ca


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _serves(cert: x509.Certificate, ca: Authority, hosts: Sequence[str]) -> bool:
    """Issued by ``ca``, for exactly ``hosts``, and not about to expire."""
    try:
        cert.verify_directly_issued_by(ca.cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    want_names, want_addresses = subject_alt_names(hosts)
    names, addresses = cert_hosts(cert)
    return _fresh(cert) and (set(names), set(addresses)) == (set(want_names), set(want_addresses))


def ensure_node_cert(
    directory: Path, ca: Authority, name: str, hosts: Sequence[str], made: list[Path] | None = None
) -> tuple[Path, Path]:
    """``<name>.crt`` and ``<name>.key`` in ``directory``: kept when issued by ``ca`` for these
    ``hosts`` and not about to expire, (re)issued otherwise."""
    if not _DNS_LABEL.fullmatch(name):
        raise TlsError(f"node name {name!r}: letters, digits and hyphens only")
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    loaded = _load(cert_path, key_path)
    if loaded is not None and _serves(loaded[0], ca, hosts):
        _fix_mode(cert_path, 0o644)
        _fix_mode(key_path, 0o600)
        return cert_path, key_path
    cert, key = issue(ca, name, hosts)
    write_private(key_path, _key_pem(key))
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    if made is not None:
        made += [cert_path, key_path]
    return cert_path, key_path


def ensure_tls(directory: Path, nodes: Mapping[str, Sequence[str]]) -> TlsFiles:
    """The CA and a certificate per node (name -> its hosts) in ``directory``, made or kept."""
    for name, hosts in nodes.items():  # every name checked before anything is written
        subject_alt_names(hosts)
        if not _DNS_LABEL.fullmatch(name):
            raise TlsError(f"node name {name!r}: letters, digits and hyphens only")
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
    made: list[Path] = []
    ca = ensure_authority(directory, made)
    files = {name: ensure_node_cert(directory, ca, name, hosts, made) for name, hosts in nodes.items()}
    return TlsFiles(directory / CA_CERT, directory / CA_KEY, files, made)


@dataclass(frozen=True)
class ServerTls:
    """An HTTPS server's context, the CA that issued its certificate (when known: what clients
    trust), and what was made for want of a configured certificate (None: loaded only)."""

    context: ssl.SSLContext
    ca_file: str | None
    made: TlsFiles | None


def server_context(
    name: str,
    hosts: Sequence[str],
    cert_file: str | None,
    key_file: str | None,
    ca_file: str | None,
    run_dir: str,
) -> ServerTls:
    """The configured certificate and key (a server only loads them), or, for a server started
    without any, a CA and a certificate for ``hosts`` made (or kept) in ``run_dir``. OSError naming
    the files when they do not load."""
    cert, key, ca, made = cert_file, key_file, ca_file, None
    if not (cert and key):
        made = ensure_tls(Path(run_dir or "."), {name: hosts})
        cert, key = (str(p) for p in made.nodes[name])
        ca = str(made.ca_file.absolute())
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise OSError(f"{name}: HTTPS certificate {cert} / key {key}: {exc}") from exc
    return ServerTls(ctx, ca, made)
