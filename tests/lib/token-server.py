#!/usr/bin/env python3
"""A small Docker token server for tests: GET /token with Basic credentials
(or anonymously: no access), POST /token with grant_type=refresh_token or
password.  Issues RS256 JWTs (x5c header) that docker-registry's "token" auth
verifies against the test certificate.  Logs one line per request: method,
whether an Authorization header came, grant type, scopes, result (never a
secret).  Exits by itself after --lifetime seconds."""
import argparse, base64, json, os, subprocess, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--key", required=True)
ap.add_argument("--cert", required=True)
ap.add_argument("--user", required=True)
ap.add_argument("--password", required=True)
ap.add_argument("--refresh-token", default="")
ap.add_argument("--service", required=True)
ap.add_argument("--issuer", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--lifetime", type=int, default=600)
args = ap.parse_args()

# Signing goes through openssl(1): python3 has no JWT or RSA module of its own.
X5C = base64.b64encode(subprocess.run(["openssl", "x509", "-in", args.cert, "-outform", "DER"],
                                      check=True, capture_output=True).stdout).decode()
lock = threading.Lock()


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(sub, scopes):
    access = []
    for s in scopes:
        parts = s.split(":")
        if len(parts) >= 3:
            access.append({"type": parts[0], "name": ":".join(parts[1:-1]), "actions": parts[-1].split(",")})
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [X5C]}
    claims = {"iss": args.issuer, "sub": sub, "aud": args.service, "exp": now + 300, "nbf": now - 10,
              "iat": now, "jti": b64url(os.urandom(12)), "access": access if sub else []}
    signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", args.key], input=signing.encode(),
                         check=True, capture_output=True).stdout
    return signing + "." + b64url(sig)


def log(line):
    with lock, open(args.log, "a") as f:
        f.write(line + "\n")


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urlparse(self.path)
        if u.path == "/health":
            return self.reply(200, {})
        q = parse_qs(u.query)
        scopes = q.get("scope", [])
        auth = self.headers.get("Authorization", "")
        sub = ""
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except Exception:
                user, pw = "", None
            if user != args.user or pw != args.password:
                log("GET auth=yes scopes=%s result=401" % " ".join(scopes))
                return self.reply(401, {"details": "incorrect username or password"})
            sub = user
        log("GET auth=%s scopes=%s result=200" % ("yes" if auth else "no", " ".join(scopes)))
        t = jwt(sub, scopes)
        self.reply(200, {"token": t, "access_token": t, "expires_in": 300})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(n).decode())
        grant = form.get("grant_type", [""])[0]
        scopes = " ".join(form.get("scope", [])).split()
        ok = False
        if grant == "refresh_token":
            ok = args.refresh_token and form.get("refresh_token", [""])[0] == args.refresh_token
        elif grant == "password":
            ok = form.get("username", [""])[0] == args.user and form.get("password", [""])[0] == args.password
        log("POST grant=%s auth=%s scopes=%s result=%s" % (grant, "yes" if self.headers.get("Authorization") else "no",
                                                         " ".join(scopes), 200 if ok else 401))
        if not ok:
            return self.reply(401, {"error": "invalid_grant", "error_description": "bad refresh token"})
        t = jwt(args.user, scopes)
        self.reply(200, {"access_token": t, "expires_in": 300, "refresh_token": args.refresh_token})


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


srv = Server(("127.0.0.1", args.port), H)
srv.daemon_threads = True
threading.Timer(args.lifetime, lambda: os._exit(0)).start()
srv.serve_forever()
