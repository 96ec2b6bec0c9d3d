// Whole IKE messages written by hand from RFC 7296 §3.1 and §3.2–3.14, shared by the message,
// malformed-input and mutation tests.
import { hex } from './hex.js';

// RFC 7296 §1.2 IKE_SA_INIT request: HDR, SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP)
export const IKE_SA_INIT_REQUEST = hex(`
  01 02 03 04 05 06 07 08   # SPIi
  00 00 00 00 00 00 00 00   # SPIr (zero in the first request)
  21 20 22 08               # next SA, version 2.0, IKE_SA_INIT, flags I
  00 00 00 00               # message ID 0
  00 00 00 d0               # length 208
  # SA (next KE), one IKE proposal
  22 00 0030
  00 00 002c  01 01 00 04
  03 00 000c 01 00 000c 800e 0100        # ENCR AES_CBC 256
  03 00 0008 02 00 0005                  # PRF HMAC_SHA2_256
  03 00 0008 03 00 000c                  # INTEG HMAC_SHA2_256_128
  00 00 0008 04 00 001f                  # DH 31
  # KE (next Nonce): group 31, 32 bytes
  28 00 0028  001f 0000
  1111111111111111111111111111111111111111111111111111111111111111
  # Nonce (next N): 32 bytes
  29 00 0024
  7777777777777777777777777777777777777777777777777777777777777777
  # N NAT_DETECTION_SOURCE_IP (next N)
  29 00 001c  00 00 4004  9999999999999999999999999999999999999999
  # N NAT_DETECTION_DESTINATION_IP (last)
  00 00 001c  00 00 4005  8888888888888888888888888888888888888888
`);

// RFC 7296 §1.2 IKE_AUTH request: HDR, SK {IDi, ...}, sealed (body is IV | ciphertext | ICV)
export const IKE_AUTH_REQUEST = hex(`
  01 02 03 04 05 06 07 08
  a1 a2 a3 a4 a5 a6 a7 a8
  2e 20 23 08               # next SK, 2.0, IKE_AUTH, flags I
  00 00 00 01               # message ID 1
  00 00 00 48               # length 72
  23 00 002c                # SK: first inner IDi, length 44
  ${'e5'.repeat(40)}
`);

// RFC 7296 §1.4 INFORMATIONAL response (unprotected here, for codec coverage): many kinds
export const MIXED_PAYLOADS = hex(`
  01 02 03 04 05 06 07 08
  a1 a2 a3 a4 a5 a6 a7 a8
  2a 20 25 20               # next D, 2.0, INFORMATIONAL, flags R
  00 00 00 02
  00 00 00 84               # length 132
  2c 00 0010  03 04 0002  0000a001 0000a002                       # D, next TSi
  2d 00 0018  01 000000  07 00 0010 0000 ffff c0000200 c00002ff   # TSi, next TSr
  2f 00 0018  01 000000  07 06 0010 0050 0050 cb007100 cb0071ff   # TSr, next CP
  2b 00 0010  02 000000  0001 0004 c0000207                       # CP, next V
  c8 00 0008  01020304                                            # V, next unknown 200
  30 00 0008  de ad be ef                                         # unknown 200 (C=0), next EAP
  00 00 0008  03 02 0004                                          # EAP Success (RFC 3748 §4.2), opaque
`);
