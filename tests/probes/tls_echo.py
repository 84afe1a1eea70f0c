"""An HTTPS server for tests/tests/egress.rs: answers every request with the request head
it received (a server that reflects headers, the worst case for an injected secret) and
appends each head to a log file the test reads.

usage: tls_echo.py <cert.pem> <key.pem> <port file> <log file>
"""
import socket
import ssl
import sys
import threading

cert, key, port_file, log_file = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(64)
with open(port_file + ".tmp", "w") as f:
    f.write(str(listener.getsockname()[1]))
import os
os.rename(port_file + ".tmp", port_file)
lock = threading.Lock()


def serve(conn):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = tls.recv(4096)
            if not chunk:
                break
            head += chunk
        with lock, open(log_file, "ab") as f:
            f.write(head + b"\n----\n")
        body = b"you sent:\n" + head
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        tls.close()
    except Exception:
        conn.close()


while True:
    c, _ = listener.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
