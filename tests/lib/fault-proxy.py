#!/usr/bin/env python3
"""A misbehaving HTTP proxy for registry tests (loopback only, bounded life).
Requests whose path matches --match are "faulted" for the first --count of
them (0: all of them) according to --mode:
  reset    close the connection with a TCP reset, no answer
  500, 503 answer 500 or 503 with a JSON error body
  429      answer 429 with Retry-After: 1
  cut      forward, but send only half of the body, then close; for an
           upload (PUT, PATCH): read half of the request body, then reset
  trickle  forward, sending the body at --rate bytes per second
  notjson  answer GET with 200, a manifest media type and an HTML body
  giant    answer GET with 200 and a manifest of --giant bytes (valid JSON)
  loop     answer 307 pointing at the same URL (a redirect loop)
  corrupt  forward, with one byte of the body changed
  schema1  answer GET with an old Docker schema 1 manifest
  immutable answer PUT with 400 TAG_INVALID "tag is immutable" (a registry
           that keeps tags immutable, as ECR or Harbor can)
  redirect answer 307 to http://localhost:PORT/__blob<path> (another origin,
           like blob storage); those requests are logged with "auth=yes|no"
           and forwarded with --upstream-auth instead of the client's header
GET /__fault?mode=M&count=N&match=RE changes the fault and resets the
counters (a test runs several cases through one proxy).
Everything else is forwarded to --upstream as it is (Host kept, so the
registry's Location headers point back at the proxy).  One log line per
request: "<n> <METHOD> <path> range=<Range> -> <what happened>"."""
import argparse, base64, http.client, os, re, socket, struct, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--upstream", required=True)
ap.add_argument("--mode", required=True, choices=["reset", "500", "503", "429", "cut", "trickle", "notjson", "giant", "loop",
                                                    "corrupt", "redirect", "schema1", "immutable", "none"])
ap.add_argument("--count", type=int, default=1)
ap.add_argument("--match", default="/blobs/sha256:")
ap.add_argument("--log", required=True)
ap.add_argument("--lifetime", type=int, default=300)
ap.add_argument("--rate", type=int, default=1024, help="bytes per second for trickle")
ap.add_argument("--giant", type=int, default=5 << 20, help="size of the giant manifest")
ap.add_argument("--upstream-auth", default="", help="user:password for redirected requests")
args = ap.parse_args()
uhost, uport = args.upstream.rsplit(":", 1)
lock = threading.Lock()
state = {"n": 0, "faulted": 0}
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection", "content-length"}


def log(line):
    with lock, open(args.log, "a") as f:
        f.write(line + "\n")


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def control(self):
        q = parse_qs(urlparse(self.path).query)
        if not q:       # a health check
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with lock:
            args.mode = q.get("mode", [args.mode])[0]
            args.count = int(q.get("count", [args.count])[0])
            args.match = q.get("match", [args.match])[0]
            args.rate = int(q.get("rate", [args.rate])[0])
            state["faulted"] = 0
        log("-- mode=%s count=%d match=%s" % (args.mode, args.count, args.match))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def handle_any(self):
        if self.path.startswith("/__fault"):
            return self.control()
        n = int(self.headers.get("Content-Length", "0") or 0)
        fault = None
        with lock:
            state["n"] += 1
            num = state["n"]
            if args.mode != "none" and re.search(args.match, self.path) and self.command in ("GET", "HEAD", "PUT", "PATCH", "POST"):
                if args.count == 0 or state["faulted"] < args.count:
                    get_only = ("corrupt", "trickle", "notjson", "giant")
                    if not (args.mode in get_only and self.command != "GET") and \
                            not (args.mode == "cut" and self.command not in ("GET", "PUT", "PATCH")) and \
                            not (args.mode == "cut" and self.command != "GET" and n < 2):
                        state["faulted"] += 1
                        fault = args.mode
        rng = self.headers.get("Range", "-")
        if fault == "cut" and self.command != "GET":
            self.rfile.read(n // 2)
            log("%d %s %s -> upload cut at %d/%d" % (num, self.command, self.path, n // 2, n))
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        body = self.rfile.read(n) if n else None
        path = self.path
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        if path.startswith("/__blob/"):
            had = "yes" if "Authorization" in self.headers else "no"
            log("%d %s %s auth=%s" % (num, self.command, path, had))
            path = path[len("/__blob"):]
            hdrs = {k: v for k, v in hdrs.items() if k.lower() != "authorization"}
            if args.upstream_auth:
                hdrs["Authorization"] = "Basic " + base64.b64encode(args.upstream_auth.encode()).decode()
        elif fault == "schema1" and self.command == "GET":
            log("%d %s %s -> schema1" % (num, self.command, path))
            b = b'{"schemaVersion":1,"name":"x","tag":"1","architecture":"amd64","fsLayers":[],"history":[]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)
            return
        elif fault == "immutable" and self.command == "PUT":
            log("%d %s %s -> 400 immutable" % (num, self.command, path))
            b = b'{"errors":[{"code":"TAG_INVALID","message":"the tag is immutable","detail":"x"}]}'
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)
            return
        elif fault == "redirect" and self.command == "GET":
            log("%d %s %s -> 307" % (num, self.command, path))
            self.send_response(307)
            self.send_header("Location", "http://localhost:%d/__blob%s" % (args.port, path))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        elif fault == "loop":
            log("%d %s %s -> 307 loop" % (num, self.command, path))
            self.send_response(307)
            self.send_header("Location", "http://%s%s" % (self.headers.get("Host", "127.0.0.1:%d" % args.port), path))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        elif fault in ("notjson", "giant"):
            if fault == "notjson":
                b = b"<html><body>502 Bad Gateway (an intercepting proxy)</body></html>\n"
            else:   # valid JSON, too big: a layer list padded with annotations
                pad = "x" * max(0, args.giant - 200)
                b = ('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
                     '"annotations":{"pad":"%s"}}' % pad).encode()
            log("%d %s %s -> %s %d bytes" % (num, self.command, path, fault, len(b)))
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)
            return
        if fault == "reset":
            log("%d %s %s range=%s -> reset" % (num, self.command, self.path, rng))
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if fault in ("500", "503", "429"):
            log("%d %s %s range=%s -> %s" % (num, self.command, self.path, rng, fault))
            b = b'{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}'
            self.send_response(int(fault))
            if fault == "429":
                self.send_header("Retry-After", "1")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(b)
            return
        c = http.client.HTTPConnection(uhost, int(uport), timeout=60)
        if body is not None:
            hdrs["Content-Length"] = str(len(body))
        c.request(self.command, path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read() if self.command != "HEAD" else b""
        self.send_response(r.status, r.reason)
        for k, v in r.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        clen = r.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
        if clen is not None:
            self.send_header("Content-Length", clen)
        self.end_headers()
        what = "%d" % r.status
        if fault == "corrupt" and data:
            i = len(data) // 2
            data = data[:i] + bytes([data[i] ^ 0xff]) + data[i + 1:]
            what += " corrupted"
        if fault == "cut" and len(data) > 1:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            log("%d %s %s range=%s -> %s cut at %d/%d" % (num, self.command, self.path, rng, what, len(data) // 2, len(data)))
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if fault == "trickle" and data:
            # logged first: the client may be done before the last sleep ends
            log("%d %s %s range=%s -> %s trickled %d bytes at %d B/s" % (num, self.command, self.path, rng, what, len(data), args.rate))
            step = max(1, args.rate // 10)
            for i in range(0, len(data), step):
                self.wfile.write(data[i:i + step])
                self.wfile.flush()
                time.sleep(0.1)
            return
        if data:
            self.wfile.write(data)
        log("%d %s %s range=%s -> %s" % (num, self.command, self.path, rng, what))

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass    # clients hanging up (TLS probes, aborted transfers) are expected


srv = Server(("127.0.0.1", args.port), H)
srv.daemon_threads = True
threading.Timer(args.lifetime, lambda: os._exit(0)).start()
srv.serve_forever()
