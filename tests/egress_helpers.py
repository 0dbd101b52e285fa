"""Real egress pieces for the tests: Debian's tinyproxy as the HTTP proxy, and a throwaway CA
(made with `cryptography`) with server and client certificates for 127.0.0.1 / localhost."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.state.engine import free_port
from tests.procs import Proc

TINYPROXY = shutil.which("tinyproxy")
needs_tinyproxy = pytest.mark.skipif(
    TINYPROXY is None, reason="tinyproxy is not installed (Debian: apt-get install tinyproxy; .ci/run installs it)")


@dataclass
class Tinyproxy:
    process: subprocess.Popen
    port: int
    log_path: Path
    user: str | None = None
    password: str | None = None

    def url(self, user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user is not None else ""
        return f"http://{auth}127.0.0.1:{self.port}"

    def requests(self) -> list[str]:
        """The request lines the proxy received, oldest first ("POST http://...", "CONNECT h:p")."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [line.split("): ", 1)[1].rsplit(" HTTP/", 1)[0] for line in text.splitlines()
                if "]: Request (file descriptor" in line]

    def stop(self) -> None:
        Proc(self.process, self.port, self.log_path).stop()


def start_tinyproxy(tmp: Path, user: str | None = None, password: str | None = None) -> Tinyproxy:
    """tinyproxy on a free loopback port, in the foreground, logging every request line. No
    ConnectPort line: CONNECT to any port is allowed (the test servers have random ports)."""
    assert TINYPROXY is not None
    port = free_port()
    log = tmp / f"tinyproxy-{port}.log"
    conf = tmp / f"tinyproxy-{port}.conf"
    lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 60", "MaxClients 512", "LogLevel Connect",
             f'LogFile "{log}"', f'PidFile "{tmp / f"tinyproxy-{port}.pid"}"']
    if user is not None:
        lines.append(f"BasicAuth {user} {password}")
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([TINYPROXY, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=(tmp / f"tinyproxy-{port}.err").open("wb"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tinyproxy exited: {(tmp / f'tinyproxy-{port}.err').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return Tinyproxy(proc, port, log, user, password)
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("tinyproxy did not listen in time")


@dataclass
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certs(tmp: Path) -> Certs:
    """A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key, path: Path) -> None:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("gateway test CA")).issuer_name(name("gateway test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))

    def leaf(cn: str, usage, sans) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    server, server_key = leaf("localhost", ExtendedKeyUsageOID.SERVER_AUTH,
                              [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client, client_key = leaf("gateway client", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    out = Certs(tmp / "ca.pem", tmp / "server.pem", tmp / "server.key", tmp / "client.pem", tmp / "client.key")
    out.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.server_cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    write_key(server_key, out.server_key)
    out.client_cert.write_bytes(client.public_bytes(serialization.Encoding.PEM))
    write_key(client_key, out.client_key)
    return out


class Relay:
    """A TCP relay to a local port, optionally serving TLS on its side (a TLS terminator), whose
    existing flows can be blackholed: bytes dropped both ways, nothing closed, as a NAT or load
    balancer that forgot the flow does; new flows are relayed normally."""

    def __init__(self, target_port: int, context: "ssl.SSLContext | None" = None) -> None:
        self.target_port = target_port
        self.context = context
        self.accepted = 0
        self.dead: set[int] = set()
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> "Relay":
        self.server = await asyncio.start_server(self._on, "127.0.0.1", 0, ssl=self.context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def blackhole(self) -> None:
        self.dead.update(range(1, self.accepted + 1))

    async def _on(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        flow = self.accepted
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if flow not in self.dead:
                    dst.write(data)
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    async def stop(self) -> None:
        self.server.close()
        for w in self.writers:
            w.close()
