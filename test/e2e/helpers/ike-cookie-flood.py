#!/usr/bin/env python3
# IKE_SA_INIT flood that answers COOKIEs from its real address (issue 13 hole 2), for
# test/e2e/flood.test.ts: `count` requests from `src` to `dst` (port 500) over `seconds`, each with a fresh
# SPIi and an acceptable proposal (aes256gcm16-prfsha256-x25519, a random public value); a
# N(COOKIE) answer is sent back with the COOKIE first (RFC 7296 §2.6). Never sends IKE_AUTH:
# each accepted request leaves a half-open SA. Prints "sent N, cookies answered M, answers A".
import os, select, socket, struct, sys, time

src, dst, count, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
COOKIE = 16390

def payload(nxt, body):
    return struct.pack('!BBH', nxt, 0, 4 + len(body)) + body

def transform(last, ttype, tid, keylen=None):
    attr = struct.pack('!HH', 0x800E, keylen) if keylen else b''
    return struct.pack('!BBHBBH', 0 if last else 3, 0, 8 + len(attr), ttype, 0, tid) + attr

def message(spi, rest, first):
    return spi + bytes(8) + struct.pack('!BBBBII', first, 0x20, 34, 0x08, 0, 28 + len(rest)) + rest

def request(spi):
    ts = transform(False, 1, 20, 256) + transform(False, 2, 5) + transform(True, 4, 31)
    prop = struct.pack('!BBHBBBB', 0, 0, 8 + len(ts), 1, 1, 0, 3) + ts
    rest = payload(34, prop) + payload(40, struct.pack('!HH', 31, 0) + os.urandom(32)) + payload(0, os.urandom(32))
    return rest

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
s.setblocking(False)
pending = {}
answered = answers = 0

def drain():
    global answered, answers
    while select.select([s], [], [], 0)[0]:
        data = s.recv(65535)
        answers += 1
        spi, first = data[:8], data[16]
        if first != 41 or spi not in pending or len(data) < 36:
            continue
        ntype = struct.unpack('!H', data[34:36])[0]
        if ntype != COOKIE:
            continue
        plen = struct.unpack('!H', data[30:32])[0]
        cookie = data[36:28 + plen]
        notify = struct.pack('!BBHBBH', 33, 0, 8 + len(cookie), 0, 0, COOKIE) + cookie
        s.sendto(message(spi, notify + pending.pop(spi), 41), (dst, 500))
        answered += 1

start = time.monotonic()
for i in range(count):
    spi = os.urandom(8)
    pending[spi] = request(spi)
    s.sendto(message(spi, pending[spi], 33), (dst, 500))
    drain()
    lag = start + seconds * (i + 1) / count - time.monotonic()
    if lag > 0:
        time.sleep(lag)
end = time.monotonic() + 1
while time.monotonic() < end:
    drain()
    time.sleep(0.01)
print(f'sent {count}, cookies answered {answered}, answers {answers}', flush=True)
