"""A stand-in for quay.io/cilium/starwars (the Cilium getting-started guide's Death Star), answering its API as
the guide shows it: POST /v1/request-landing lands a ship, PUT /v1/exhaust-port blows the station up."""

import json
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API = ["GET   /v1", "GET   /v1/healthz", "POST  /v1/request-landing", "PUT   /v1/cargobay",
       "GET   /v1/hyper-matter-reactor/status", "PUT   /v1/exhaust-port"]
SPEC = {"name": "Death Star", "hostname": socket.gethostname(), "model": "DS-1 Orbital Battle Station",
        "manufacturer": "Imperial Department of Military Research, Sienar Fleet Systems", "cost_in_credits": "1000000000000",
        "length": "120000", "crew": "342953", "passengers": "843342", "cargo_capacity": "1000000000000",
        "hyperdrive_rating": "4.0", "starship_class": "Deep Space Mobile Battlestation", "api": API}
PANIC = ("Panic: deathstar exploded\n\ngoroutine 1 [running]:\nmain.HandleGarbage(0x2080c3f50, 0x2, 0x4, 0x425c0, 0x5, 0xa)\n"
         "        /code/src/github.com/empire/deathstar/\n        temp/main.go:9 +0x64\nmain.main()\n"
         "        /code/src/github.com/empire/deathstar/\n        temp/main.go:5 +0x85\n")


class DeathStar(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status: int, body: str, kind: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/v1":
            self.answer(200, json.dumps(SPEC, indent=2) + "\n", "application/json")
        elif self.path == "/v1/healthz":
            self.answer(200, "OK\n")
        elif self.path == "/v1/hyper-matter-reactor/status":
            self.answer(200, "Reactor is stable\n")
        else:
            self.answer(404, "404 page not found\n")

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.answer(200, "Ship landed\n") if self.path == "/v1/request-landing" else self.answer(404, "404 page not found\n")

    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/v1/exhaust-port":
            self.answer(503, PANIC)
        elif self.path == "/v1/cargobay":
            self.answer(200, "Cargo bay ready\n")
        else:
            self.answer(404, "404 page not found\n")

    def log_message(self, fmt, *args):
        print(f"{self.client_address[0]} {fmt % args}", flush=True)


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 80), DeathStar).serve_forever()
