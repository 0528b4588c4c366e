"""Real TLS handshakes with the issued PKI: a server requiring client certificates (Python's ssl)."""

import datetime as dt
import socket
import ssl
import threading

import pytest

from orchestrator.pki.issue import Issuer, Validity, build_name, issue_leaf, new_key
from orchestrator.pki.manager import PkiManager
from orchestrator.pki.store import PkiStore
from tests.unit.pki.test_pki import make_spec


class MtlsServer:
    """Accepts one TLS connection at a time and records the handshake outcome."""

    def __init__(self, store: PkiStore):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(store.path("server-chain.crt"), store.path("server.key"))
        ctx.load_verify_locations(store.path("ca.crt"))
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx = ctx
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.outcomes: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    cn = dict(x[0] for x in tls.getpeercert()["subject"])["commonName"]
                    tls.sendall(f"hello {cn}\n".encode())
                    self.outcomes.append(f"accepted {cn}")
            except (ssl.SSLError, OSError) as exc:
                self.outcomes.append(f"refused {exc}")

    def close(self):
        self.sock.close()


@pytest.fixture
def pki(tmp_path):
    store = PkiStore(tmp_path / "pki")
    PkiManager(make_spec(), store).ensure()
    return store


@pytest.fixture
def server(pki):
    srv = MtlsServer(pki)
    yield srv
    srv.close()


def client_context(store, cert=None, key=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(store.path("ca.crt"))
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def talk(ctx, port) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="haproxy.lab") as tls:
            return tls.recv(100).decode()


def test_client_leaf_is_accepted(pki, server):
    reply = talk(client_context(pki, pki.path("client-chain.crt"), pki.path("client.key")), server.port)
    assert reply == "hello lab-client\n"


def test_no_client_cert_is_refused(pki, server):
    with pytest.raises(ssl.SSLError) as err:
        talk(client_context(pki), server.port)
    assert "CERTIFICATE_REQUIRED" in str(err.value).upper().replace(" ", "_")


def test_leaf_from_another_ca_is_refused(pki, server, tmp_path):
    other = PkiStore(tmp_path / "other")
    PkiManager(make_spec(), other).ensure()
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        talk(client_context(pki, other.path("client-chain.crt"), other.path("client.key")), server.port)
    server.thread.join(0.5)
    assert any(o.startswith("refused") and "CERTIFICATE_VERIFY_FAILED" in o for o in server.outcomes), server.outcomes


def test_expired_leaf_is_refused(pki, server, tmp_path):
    inter = Issuer(pki.read_key("intermediate.key"), pki.read_cert("intermediate.crt"))
    key = new_key("ecdsa-p256")
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
    cert = issue_leaf(key, build_name("expired-client"), Validity.days_from(past, 1), inter, usage="client")
    expired = PkiStore(tmp_path / "expired")
    expired.ensure_dir()
    expired.write_key("c.key", key)
    expired.write_cert("c.crt", cert, inter.cert)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        talk(client_context(pki, expired.path("c.crt"), expired.path("c.key")), server.port)
    server.thread.join(0.5)
    assert any(o.startswith("refused") and "certificate has expired" in o for o in server.outcomes), server.outcomes
