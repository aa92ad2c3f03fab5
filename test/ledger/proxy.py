"""A TCP proxy between a PostgreSQL client and server that can lose answers.

    p = Proxy(listen_port, server_port); p.start()
    p.arm(b"verist_commit")   # from the next query naming it, drop the replies
    ...                        # p.swallowed: the server's messages never delivered
    p.disarm(); p.close()

It forwards bytes both ways on 127.0.0.1 (one thread per direction and
connection) and reads the frontend/backend protocol as it goes.  When armed,
the first client message that is a query (simple 'Q' or extended 'P') whose
text contains the marker turns that connection into a black hole for the
server's replies: every server->client byte from then on is kept, parsed
into messages (ParseComplete, DataRow, CommandComplete, ReadyForQuery, ...)
and never sent.  The client sees nothing -- as if the network had failed
right after the server acknowledged -- until the server side closes (the
server was killed), when the proxy closes the client's socket too.

The marker is looked for in the query text of 'Q' and 'P' messages only: a
statement psycopg has prepared (after prepare_threshold executions on one
connection) is sent as Bind/Execute without its text.

The client must connect with sslmode=disable and gssencmode=disable: the
proxy reads the protocol in clear, and the server's one-byte answer to an
SSL or GSS request is not a message.
"""
import socket
import struct
import threading


class Conn:
    """One proxied client connection."""

    def __init__(self, proxy, client, server):
        self.proxy, self.client, self.server = proxy, client, server
        self.swallowing = False
        self.swallowed = []          # (type byte as str, body) of dropped server messages
        self.swallowed_bytes = 0
        self.queries = []            # query texts the client sent
        self.closed = threading.Event()

    def close(self):
        for s in (self.client, self.server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        self.closed.set()

    def client_to_server(self):
        buf = b""
        started = False
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                buf += data
                # read whole messages before forwarding them, so that the
                # switch to swallowing happens before the server can answer
                while True:
                    if not started:
                        if len(buf) < 4:
                            break
                        n = struct.unpack("!I", buf[:4])[0]
                        if len(buf) < n:
                            break
                        code = struct.unpack("!I", buf[4:8])[0] if n >= 8 else 0
                        if code in (80877103, 80877104):      # SSLRequest, GSSENCRequest
                            raise RuntimeError("proxy: connect with sslmode=disable gssencmode=disable")
                        started = True
                        msg, buf = buf[:n], buf[n:]
                    else:
                        if len(buf) < 5:
                            break
                        n = struct.unpack("!I", buf[1:5])[0]
                        if len(buf) < n + 1:
                            break
                        msg, buf = buf[:n + 1], buf[n + 1:]
                        kind = msg[:1]
                        if kind in (b"Q", b"P"):
                            text = msg[5:]
                            if kind == b"P":          # statement name, then the query
                                text = text[text.index(b"\0") + 1:]
                            text = text[:text.index(b"\0")]
                            self.queries.append(text.decode("utf-8", "replace"))
                            marker = self.proxy.marker
                            if marker is not None and marker in text:
                                self.swallowing = True
                                self.proxy.marker = None      # one shot
                    self.server.sendall(msg)
        except (OSError, RuntimeError):
            pass
        finally:
            self.close()

    def server_to_client(self):
        buf = b""
        try:
            while True:
                data = self.server.recv(65536)
                if not data:
                    break
                if not self.swallowing:
                    self.client.sendall(data)
                    continue
                self.swallowed_bytes += len(data)
                buf += data
                while len(buf) >= 5:
                    n = struct.unpack("!I", buf[1:5])[0]
                    if len(buf) < n + 1:
                        break
                    self.swallowed.append((buf[:1].decode("latin-1"), buf[5:n + 1]))
                    buf = buf[n + 1:]
        except OSError:
            pass
        finally:
            self.close()

    def kinds(self):
        return "".join(k for k, _ in self.swallowed)


class Proxy:
    def __init__(self, listen_port, server_port, host="127.0.0.1"):
        self.host, self.server_port = host, server_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, listen_port))
        self.listener.listen(16)
        self.listener.settimeout(0.1)     # so that close() ends accept_loop and frees the port
        self.port = listen_port
        self.marker = None
        self.conns = []
        self.lock = threading.Lock()
        self.stopping = False

    def start(self):
        threading.Thread(target=self.accept_loop, daemon=True).start()
        return self

    def accept_loop(self):
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            client.settimeout(None)
            try:
                server = socket.create_connection((self.host, self.server_port), timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = Conn(self, client, server)
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=c.client_to_server, daemon=True).start()
            threading.Thread(target=c.server_to_client, daemon=True).start()

    def arm(self, marker):
        """Swallow the replies to the next query (on any connection) containing
        marker, and everything the server sends on that connection after them."""
        self.marker = marker

    def disarm(self):
        self.marker = None

    def close(self):
        self.stopping = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            for c in self.conns:
                c.close()


def bind_free(server_port, first, last):
    """A started Proxy on the first free port of first..last."""
    for port in range(first, last + 1):
        try:
            return Proxy(port, server_port).start()
        except OSError:
            continue
    raise RuntimeError("no free port in %d-%d for the proxy" % (first, last))
