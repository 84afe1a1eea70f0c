"""A TLS client for tests/tests/egress.rs that speaks to a session's enforcer socket the
way the session's proxy does: CONNECT, then TLS trusting only <ca file>, then one
request. Prints the answer (or "error: ..." for a failure).

usage: tls_client.py <enforcer socket> <host> <port> <ca file> <sni> <request host header> [extra header]
"""
import socket
import ssl
import sys

sock_path, host, port, ca, sni, host_header = sys.argv[1:7]
extra = sys.argv[7] if len(sys.argv) > 7 else ""
s = socket.socket(socket.AF_UNIX)
s.settimeout(15)
s.connect(sock_path)
s.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
reply = b""
while b"\r\n\r\n" not in reply:
    chunk = s.recv(1)
    if not chunk:
        break
    reply += chunk
if b" 200 " not in reply.split(b"\r\n")[0]:
    print("error: CONNECT answered", reply.decode(errors="replace").splitlines()[0] if reply else "nothing")
    sys.exit(0)
ctx = ssl.create_default_context(cafile=ca)
try:
    tls = ctx.wrap_socket(s, server_hostname=sni)
    req = f"GET /echo HTTP/1.1\r\nHost: {host_header}\r\n{extra}Accept-Encoding: gzip\r\n\r\n"
    tls.sendall(req.encode())
    out = b""
    while True:
        chunk = tls.recv(65536)
        if not chunk:
            break
        out += chunk
    sys.stdout.write(out.decode(errors="replace"))
except Exception as e:
    print("error:", e)
