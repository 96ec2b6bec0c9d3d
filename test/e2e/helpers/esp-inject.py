#!/usr/bin/env python3
# Sends the first IPv4 packet of a pcap file again, unchanged ("replay") or with its ESP
# sequence number moved ahead and one ciphertext bit flipped ("tamper"), through a raw
# IPPROTO_RAW socket: the whole IP header as captured, so it works for raw ESP (protocol
# 50) and for ESP in UDP (RFC 3948) alike, even while tsvpn holds UDP 4500.
# Usage: esp-inject.py <pcap> replay|tamper
import socket
import struct
import sys

LINK_HEADER = {1: 14, 113: 16, 276: 20, 101: 0}  # Ethernet, Linux SLL, SLL2, raw IP

def first_packet(path):
    with open(path, 'rb') as f:
        data = f.read()
    magic = struct.unpack('<I', data[:4])[0]
    endian = '<' if magic in (0xA1B2C3D4, 0xA1B23C4D) else '>'
    linktype = struct.unpack(endian + 'I', data[20:24])[0]
    incl_len = struct.unpack(endian + 'I', data[24 + 8:24 + 12])[0]
    frame = data[24 + 16:24 + 16 + incl_len]
    return frame[LINK_HEADER[linktype]:]

def main():
    path, mode = sys.argv[1], sys.argv[2]
    pkt = bytearray(first_packet(path))
    if pkt[0] >> 4 != 4:
        sys.exit('not an IPv4 packet')
    ihl = (pkt[0] & 0x0F) * 4
    proto = pkt[9]
    if proto == 50:  # RFC 4303: ESP directly in IP
        esp = ihl
    elif proto == 17:  # RFC 3948 §2.1: ESP in UDP
        esp = ihl + 8
        pkt[ihl + 6:ihl + 8] = b'\x00\x00'  # no UDP checksum (IPv4 allows 0), so a changed byte is not dropped by the kernel
    else:
        sys.exit('not ESP: IP protocol %d' % proto)
    spi, seq = struct.unpack('>II', pkt[esp:esp + 8])
    if mode == 'tamper':
        # RFC 4303 §3.4.3: a sequence number ahead of the window passes the replay pre-check,
        # so the packet reaches the ICV check (§3.4.4), which both changes make fail
        seq = (seq + 100000) & 0xFFFFFFFF
        pkt[esp + 4:esp + 8] = struct.pack('>I', seq)
        pkt[len(pkt) - 20] ^= 0x01  # a ciphertext byte before the 16-byte ICV
    dst = socket.inet_ntoa(bytes(pkt[16:20]))
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.sendto(bytes(pkt), (dst, 0))
    print('%s: sent %d bytes, SPI %08x seq %d to %s' % (mode, len(pkt), spi, seq, dst))

main()
