"""Hostile and broken clients of `quiver serve`, for the soak test (soak.sh).

Runs, for DURATION seconds, one thread per kind of abuse against the HTTP
port (and idle sockets against the gRPC port), each reopening what the
server closes:
  idle       sockets that send nothing (the server must close them at its
             request-head deadline)
  preface    half an HTTP/2 preface, then silence
  slow       a POST whose 64 KiB body trickles in a few bytes at a time
  oversized  2 MiB bodies (must get 413)
  malformed  bodies that are not the request's JSON (must get 400)
  garbage    bytes that are not HTTP at all
Prints one JSON line of counts when done: what each kind did and any
answer in the 5xx range, which the soak test treats as a failure.

Usage: python3 hostile.py HTTP_PORT GRPC_PORT DURATION
"""
import json
import socket
import sys
import threading
import time

HOST = "127.0.0.1"
http_port, grpc_port, duration = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + duration
counts = {}
lock = threading.Lock()


def count(name, n=1):
    with lock:
        counts[name] = counts.get(name, 0) + n


def status_of(sock):
    """The status code of the first response on `sock`, or None if closed."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        data += chunk
    return int(data.split(b" ", 2)[1])


def post(body, name, expected):
    try:
        with socket.create_connection((HOST, http_port), timeout=10) as sock:
            head = (
                f"POST /get-online-features HTTP/1.1\r\nHost: {HOST}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            sock.sendall(head + body)
            status = status_of(sock)
    except OSError:
        count(f"{name}_cut_off")
        return
    if status is None:
        count(f"{name}_closed")
    elif status >= 500:
        count(f"{name}_5xx_{status}")
    elif status == expected:
        count(f"{name}_{status}")
    else:
        count(f"{name}_unexpected_{status}")


def holders(port, name, n, first_bytes):
    """Keeps `n` sockets open that send `first_bytes` and then nothing."""
    socks = []
    while time.monotonic() < deadline:
        socks = [s for s in socks if alive(s)]
        while len(socks) < n:
            try:
                s = socket.create_connection((HOST, port), timeout=5)
                s.setblocking(False)
                if first_bytes:
                    s.sendall(first_bytes)
                socks.append(s)
                count(f"{name}_opened")
            except OSError:
                count(f"{name}_refused")
                break
        time.sleep(0.5)
    for s in socks:
        s.close()


def alive(sock):
    try:
        if sock.recv(1) == b"":
            sock.close()
            return False
    except BlockingIOError:
        return True
    except OSError:
        sock.close()
        return False
    return True


def slow_bodies(n):
    """`n` POSTs at a time whose bodies arrive a few bytes every 100 ms."""
    def one():
        while time.monotonic() < deadline:
            body = b'{"entities": {"id": [' + b" " * 65536 + b'"x"]}, "features": ["energy_features:energy_sum"]}'
            try:
                with socket.create_connection((HOST, http_port), timeout=30) as sock:
                    sock.sendall(
                        f"POST /get-online-features HTTP/1.1\r\nHost: {HOST}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                    )
                    for i in range(0, len(body), 8):
                        if time.monotonic() > deadline:
                            return
                        sock.sendall(body[i:i + 8])
                        time.sleep(0.1)
                    status = status_of(sock)
                    count("slow_answered" if status and status < 500 else f"slow_{status}")
            except OSError:
                count("slow_cut_off")
    threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def loop(action):
    while time.monotonic() < deadline:
        action()
        time.sleep(0.01)


kinds = [
    threading.Thread(target=holders, args=(http_port, "idle", 500, b"")),
    threading.Thread(target=holders, args=(grpc_port, "grpc_idle", 500, b"")),
    threading.Thread(target=holders, args=(http_port, "preface", 200, b"PRI * HTTP/2.0\r\n")),
    threading.Thread(target=slow_bodies, args=(50,)),
    threading.Thread(target=loop, args=(lambda: post(b"x" * (2 << 20), "oversized", 413),)),
    threading.Thread(target=loop, args=(lambda: post(b'{"entities": {"id": [1, 2', "malformed", 400),)),
    threading.Thread(target=loop, args=(lambda: post(b'{"entities": 7}', "wrong_shape", 400),)),
    threading.Thread(target=loop, args=(lambda: garbage(),)),
]


def garbage():
    try:
        with socket.create_connection((HOST, http_port), timeout=10) as sock:
            sock.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
            status = status_of(sock)
            count("garbage_closed" if status is None else ("garbage_5xx" if status >= 500 else f"garbage_{status}"))
    except OSError:
        count("garbage_cut_off")


for t in kinds:
    t.daemon = True
    t.start()
for t in kinds:
    t.join(timeout=max(0.0, deadline - time.monotonic()) + 60)
print(json.dumps(dict(sorted(counts.items()))))
