"""Keys and certificates for a TLS test broker, made with openssl in a temporary directory.

``make_pki(tmp_path)`` returns a CA (``ca_cert``: what clients trust, the value of
REDFIRE_KAFKA_SSL_CAFILE), the broker's PKCS12 keystore for 127.0.0.1 signed by it
(``keystore``, ``keystore_password``), and a second CA that signed nothing the broker
has (``rogue_ca_cert``), for the untrusted-certificate case.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = "2"


@dataclass(frozen=True)
class Pki:
    """The files a TLS test needs."""

    ca_cert: Path
    rogue_ca_cert: Path
    keystore: Path
    keystore_password: str


def openssl(*args: str, cwd: Path) -> None:
    """Run one openssl command; raise with its output when it fails."""
    binary = shutil.which("openssl")
    if binary is None:
        raise RuntimeError("openssl is not on PATH: it makes the test broker's certificates")
    done = subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """Create a self-signed CA; return (certificate, key)."""
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key), cwd=directory)
    openssl(
        "req", "-x509", "-new", "-key", str(key), "-sha256", "-days", DAYS,
        "-subj", f"/CN=RedFire test {name}", "-out", str(cert),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    return cert, key


def make_pki(directory: Path) -> Pki:
    """Create a CA, a broker certificate for 127.0.0.1/localhost and its PKCS12 keystore."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = make_ca(directory, "ca")
    rogue_cert, _rogue_key = make_ca(directory, "rogue-ca")
    key, csr, cert = directory / "broker.key", directory / "broker.csr", directory / "broker.pem"
    extensions = directory / "broker.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key), cwd=directory)
    openssl(
        "req", "-new", "-key", str(key), "-subj", "/CN=127.0.0.1", "-out", str(csr), cwd=directory
    )
    openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", DAYS, "-sha256", "-extfile", str(extensions),
        "-out", str(cert),
        cwd=directory,
    )  # fmt: skip
    password = secrets.token_hex(8)
    keystore = directory / "broker.p12"
    openssl(
        "pkcs12", "-export", "-in", str(cert), "-inkey", str(key), "-certfile", str(ca_cert),
        "-name", "broker", "-out", str(keystore), "-passout", f"pass:{password}",
        cwd=directory,
    )  # fmt: skip
    return Pki(ca_cert, rogue_cert, keystore, password)
