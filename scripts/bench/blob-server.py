"""The download benchmark's blob host (scripts/bench/download.ts starts it): one file over HTTP/1.1, with ranges,
If-Range and an ETag, as the Hub's CDN serves a model, each answer limited to RATE bytes per second (0: unlimited).

Why not Node: a Node server copies every byte through user space and spends about a CPU second per GiB; on a
2-CPU machine that is a core taken from the client being measured, which a remote CDN never takes. sendfile(2)
sends from the page cache at a tenth of that, so the figures measure the clients, curl and the action alike.

Usage: python3 blob-server.py FILE ETAG RATE; prints the port on its first line, then serves until killed.
"""

import http.server
import os
import re
import socketserver
import sys
import time

FILE, ETAG, RATE = sys.argv[1], sys.argv[2], int(sys.argv[3])
SIZE = os.path.getsize(FILE)
# A limited answer goes out in pieces this size, each when the rate allows it (as the Node throttle did).
PIECE = 256 * 1024


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def span(self):
        """(start, end inclusive, partial) of what to send: a valid Range whose If-Range (if any) names this ETag."""
        m = re.match(r"^bytes=(\d+)-(\d*)$", self.headers.get("Range") or "")
        if_range = self.headers.get("If-Range")
        if not m or (if_range is not None and if_range != ETAG) or int(m.group(1)) >= SIZE:
            return 0, SIZE - 1, False
        end = min(int(m.group(2)), SIZE - 1) if m.group(2) else SIZE - 1
        return int(m.group(1)), end, True

    def head(self):
        start, end, partial = self.span()
        self.send_response(206 if partial else 200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", ETAG)
        self.send_header("Content-Length", str(end + 1 - start))
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end}/{SIZE}")
        self.end_headers()
        return start, end

    def do_HEAD(self):
        self.head()

    def do_GET(self):
        start, end = self.head()
        began = time.monotonic()
        sent = 0
        try:
            with open(FILE, "rb") as f:
                while start + sent <= end:
                    count = min(end + 1 - start - sent, PIECE if RATE else 1 << 24)
                    n = os.sendfile(self.connection.fileno(), f.fileno(), start + sent, count)
                    if n <= 0:
                        break
                    sent += n
                    if RATE:
                        wait = began + sent / RATE - time.monotonic()
                        if wait > 0:
                            time.sleep(wait)
        except (BrokenPipeError, ConnectionResetError):
            # The client stopped reading (a retry, an abort): nothing to do.
            self.close_connection = True


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    # Every connection of a client at once, without a refused or delayed SYN.
    request_queue_size = 64


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
