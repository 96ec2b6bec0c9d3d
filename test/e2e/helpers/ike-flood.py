#!/usr/bin/env python3
# IKE_SA_INIT flood for test/e2e/flood.test.ts: `count` requests to `dst` (port 500) over
# `seconds`, each with a fresh SPIi and a proposal no tsvpn default accepts (3DES, HMAC-SHA1,
# MODP-2048). Never answers: a refused-proposal flood (issue 13 hole 1). Prints "sent N".
import os, socket, struct, sys, time

dst, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])

def payload(nxt, body):
    return struct.pack('!BBH', nxt, 0, 4 + len(body)) + body

def transform(last, ttype, tid):
    return struct.pack('!BBHBBH', 0 if last else 3, 0, 8, ttype, 0, tid)

def request():
    ts = transform(False, 1, 3) + transform(False, 2, 2) + transform(False, 3, 2) + transform(True, 4, 14)
    prop = struct.pack('!BBHBBBB', 0, 0, 8 + len(ts), 1, 1, 0, 4) + ts
    body = payload(34, prop) + payload(40, struct.pack('!HH', 14, 0) + os.urandom(256)) + payload(0, os.urandom(32))
    hdr = os.urandom(8) + bytes(8) + struct.pack('!BBBBII', 33, 0x20, 34, 0x08, 0, 28 + len(body))
    return hdr + body

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.monotonic()
for i in range(count):
    s.sendto(request(), (dst, 500))
    lag = start + seconds * (i + 1) / count - time.monotonic()
    if lag > 0:
        time.sleep(lag)
print(f'sent {count}', flush=True)
