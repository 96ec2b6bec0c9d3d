// The Internet checksum (RFC 1071) for the TUN segmenter (gso_segment.cc), summed in memory
// order: RFC 1071 §2(B), the sum is independent of byte order, so 32-bit words are loaded as
// the host has them, added into a 64-bit accumulator without carry handling (64 KB of input
// adds at most 2^46), and the folded 16-bit result is stored back as the host has it, which
// puts it in network order. A 16-bit field given as a number goes in through Field16.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace tsvpn {

// The unfolded sum of p[0, n) added to `sum`; p[0] must sit at an even offset of what is
// checksummed (an odd last octet is padded with zero, RFC 1071 §4.1).
inline uint64_t SumBytes(const uint8_t* p, size_t n, uint64_t sum) {
  uint64_t a = 0, b = 0, c = 0, d = 0;  // independent chains, so the adds can overlap
  for (; n >= 16; p += 16, n -= 16) {
    uint32_t w[4];
    memcpy(w, p, 16);
    a += w[0];
    b += w[1];
    c += w[2];
    d += w[3];
  }
  for (; n >= 4; p += 4, n -= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    a += w;
  }
  if (n >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    b += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    const uint8_t last[2] = {p[0], 0};
    uint16_t w;
    memcpy(&w, last, 2);
    c += w;
  }
  return sum + a + b + c + d;
}

// A 16-bit field of value v (pseudo-header protocol and length) as SumBytes would have read it.
inline uint64_t Field16(uint16_t v) {
  const uint8_t be[2] = {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  uint16_t w;
  memcpy(&w, be, 2);
  return w;
}

// RFC 1071 §2(C): the end-around carries folded in; stored as is by StoreChecksum.
inline uint16_t Fold(uint64_t sum) {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// Writes the checksum of a folded sum (its complement) at `at`; with zeroAsOnes, a result of
// 0 is written as all ones (RFC 768: a UDP checksum of 0 means none was computed).
inline void StoreChecksum(uint8_t* at, uint16_t folded, bool zeroAsOnes = false) {
  uint16_t c = static_cast<uint16_t>(~folded);
  if (c == 0 && zeroAsOnes) c = 0xffff;
  memcpy(at, &c, 2);
}

}  // namespace tsvpn
