// IANA "Internet Key Exchange Version 2 (IKEv2) Parameters" registries and the other
// protocol numbers tsvpn speaks. Specification constants only: implementation choices
// (timers, window sizes, defaults) live next to the code that makes them.
// Each table is `as const` so records can use the literal values as types, and
// `nameOf(table, value)` turns a number into the registry name for logs and status.

// RFC 7296 §3.1: Exchange Types
export const ExchangeType = {
  IKE_SA_INIT: 34,
  IKE_AUTH: 35,
  CREATE_CHILD_SA: 36,
  INFORMATIONAL: 37,
} as const;

// RFC 7296 §3.2: Payload Types (and RFC 7383 §2.5 for SKF)
export const PayloadType = {
  NONE: 0,
  SA: 33,
  KE: 34,
  IDi: 35,
  IDr: 36,
  CERT: 37,
  CERTREQ: 38,
  AUTH: 39,
  NONCE: 40,
  N: 41,
  D: 42,
  V: 43,
  TSi: 44,
  TSr: 45,
  SK: 46,
  CP: 47,
  EAP: 48,
  SKF: 53,
} as const;

// RFC 7296 §3.3.1: Protocol ID in a proposal, Notify and Delete
export const ProtocolId = {
  NONE: 0,
  IKE: 1,
  AH: 2,
  ESP: 3,
} as const;

// RFC 7296 §3.3.2: Transform Types
export const TransformType = {
  ENCR: 1,
  PRF: 2,
  INTEG: 3,
  DH: 4, // "Key Exchange Method" since RFC 9370
  ESN: 5,
} as const;

// RFC 7296 §3.3.2 Transform Type 1, with RFC 5282 (GCM) and RFC 7634 (ChaCha20-Poly1305)
export const EncrId = {
  DES_IV64: 1,
  DES: 2,
  THREE_DES: 3,
  NULL: 11,
  AES_CBC: 12,
  AES_CTR: 13,
  AES_CCM_8: 14,
  AES_CCM_12: 15,
  AES_CCM_16: 16,
  AES_GCM_8: 18,
  AES_GCM_12: 19,
  AES_GCM_16: 20,
  NULL_AUTH_AES_GMAC: 21,
  CHACHA20_POLY1305: 28,
} as const;

// RFC 7296 §3.3.2 Transform Type 2 (RFC 4868 for SHA-2)
export const PrfId = {
  HMAC_MD5: 1,
  HMAC_SHA1: 2,
  HMAC_TIGER: 3,
  AES128_XCBC: 4,
  HMAC_SHA2_256: 5,
  HMAC_SHA2_384: 6,
  HMAC_SHA2_512: 7,
  AES128_CMAC: 8,
} as const;

// RFC 7296 §3.3.2 Transform Type 3 (RFC 4868 for SHA-2)
export const IntegId = {
  NONE: 0,
  HMAC_MD5_96: 1,
  HMAC_SHA1_96: 2,
  DES_MAC: 3,
  KPDK_MD5: 4,
  AES_XCBC_96: 5,
  HMAC_MD5_128: 6,
  HMAC_SHA1_160: 7,
  AES_CMAC_96: 8,
  HMAC_SHA2_256_128: 12,
  HMAC_SHA2_384_192: 13,
  HMAC_SHA2_512_256: 14,
} as const;

// RFC 7296 §3.3.2 Transform Type 4, RFC 3526 (MODP), RFC 5903 (ECP), RFC 8031 (Curve25519/448)
export const DhGroup = {
  NONE: 0,
  MODP_768: 1,
  MODP_1024: 2,
  MODP_1536: 5,
  MODP_2048: 14,
  MODP_3072: 15,
  MODP_4096: 16,
  MODP_6144: 17,
  MODP_8192: 18,
  ECP_256: 19,
  ECP_384: 20,
  ECP_521: 21,
  CURVE25519: 31,
  CURVE448: 32,
} as const;

// RFC 7296 §3.3.2 Transform Type 5
export const EsnId = {
  NO_ESN: 0,
  ESN: 1,
} as const;

// RFC 7296 §3.3.5: Transform Attribute Types
export const TransformAttributeType = {
  KEY_LENGTH: 14,
} as const;

// RFC 7296 §3.5: ID Types
export const IdType = {
  ID_IPV4_ADDR: 1,
  ID_FQDN: 2,
  ID_RFC822_ADDR: 3,
  ID_IPV6_ADDR: 5,
  ID_DER_ASN1_DN: 9,
  ID_DER_ASN1_GN: 10,
  ID_KEY_ID: 11,
} as const;

// RFC 7296 §3.6: Certificate Encodings
export const CertEncoding = {
  PKCS7_X509: 1,
  PGP: 2,
  DNS_SIGNED_KEY: 3,
  X509_SIGNATURE: 4,
  KERBEROS_TOKEN: 6,
  CRL: 7,
  ARL: 8,
  SPKI: 9,
  X509_ATTRIBUTE: 10,
  RAW_RSA_KEY: 11,
  HASH_URL_X509_CERT: 12,
  HASH_URL_X509_BUNDLE: 13,
} as const;

// RFC 7296 §3.8: Authentication Methods, with RFC 4754 (ECDSA) and RFC 7427 (digital signature)
export const AuthMethod = {
  RSA_SIG: 1,
  SHARED_KEY_MIC: 2,
  DSS_SIG: 3,
  ECDSA_SHA256_P256: 9,
  ECDSA_SHA384_P384: 10,
  ECDSA_SHA512_P521: 11,
  GENERIC_SECURE_PASSWORD: 12,
  NULL_AUTH: 13,
  DIGITAL_SIGNATURE: 14,
} as const;

// RFC 7427 §7: Hash Algorithm Identifiers for SIGNATURE_HASH_ALGORITHMS (RFC 8420 adds Identity)
export const HashAlgorithm = {
  SHA1: 1,
  SHA2_256: 2,
  SHA2_384: 3,
  SHA2_512: 4,
  IDENTITY: 5,
} as const;

// RFC 7296 §3.10.1: Notify Message Types
export const NotifyType = {
  // error types (0..16383)
  UNSUPPORTED_CRITICAL_PAYLOAD: 1,
  INVALID_IKE_SPI: 4,
  INVALID_MAJOR_VERSION: 5,
  INVALID_SYNTAX: 7,
  INVALID_MESSAGE_ID: 9,
  INVALID_SPI: 11,
  NO_PROPOSAL_CHOSEN: 14,
  INVALID_KE_PAYLOAD: 17,
  AUTHENTICATION_FAILED: 24,
  SINGLE_PAIR_REQUIRED: 34,
  NO_ADDITIONAL_SAS: 35,
  INTERNAL_ADDRESS_FAILURE: 36,
  FAILED_CP_REQUIRED: 37,
  TS_UNACCEPTABLE: 38,
  INVALID_SELECTORS: 39,
  TEMPORARY_FAILURE: 43,
  CHILD_SA_NOT_FOUND: 44,
  // status types (16384..)
  INITIAL_CONTACT: 16384,
  SET_WINDOW_SIZE: 16385,
  ADDITIONAL_TS_POSSIBLE: 16386,
  IPCOMP_SUPPORTED: 16387,
  NAT_DETECTION_SOURCE_IP: 16388,
  NAT_DETECTION_DESTINATION_IP: 16389,
  COOKIE: 16390,
  USE_TRANSPORT_MODE: 16391,
  HTTP_CERT_LOOKUP_SUPPORTED: 16392,
  REKEY_SA: 16393,
  ESP_TFC_PADDING_NOT_SUPPORTED: 16394,
  NON_FIRST_FRAGMENTS_ALSO: 16395,
  MOBIKE_SUPPORTED: 16396, // RFC 4555
  ADDITIONAL_IP4_ADDRESS: 16397,
  ADDITIONAL_IP6_ADDRESS: 16398,
  NO_ADDITIONAL_ADDRESSES: 16399,
  UPDATE_SA_ADDRESSES: 16400,
  COOKIE2: 16401,
  NO_NATS_ALLOWED: 16402,
  MULTIPLE_AUTH_SUPPORTED: 16404, // RFC 4739
  ANOTHER_AUTH_FOLLOWS: 16405,
  REDIRECT_SUPPORTED: 16406, // RFC 5685
  EAP_ONLY_AUTHENTICATION: 16417, // RFC 5998
  CHILDLESS_IKEV2_SUPPORTED: 16418, // RFC 6023
  IKEV2_FRAGMENTATION_SUPPORTED: 16430, // RFC 7383
  SIGNATURE_HASH_ALGORITHMS: 16431, // RFC 7427
} as const;

// RFC 7296 §3.10.1: types below 16384 are errors
export const NOTIFY_ERROR_MAX = 16383;

// RFC 7296 §3.13.1: Traffic Selector Types
export const TsType = {
  TS_IPV4_ADDR_RANGE: 7,
  TS_IPV6_ADDR_RANGE: 8,
} as const;

// RFC 7296 §3.15: CP types and configuration attribute types
export const CfgType = {
  CFG_REQUEST: 1,
  CFG_REPLY: 2,
  CFG_SET: 3,
  CFG_ACK: 4,
} as const;

export const CfgAttributeType = {
  INTERNAL_IP4_ADDRESS: 1,
  INTERNAL_IP4_NETMASK: 2,
  INTERNAL_IP4_DNS: 3,
  INTERNAL_IP4_NBNS: 4,
  INTERNAL_IP4_DHCP: 6,
  APPLICATION_VERSION: 7,
  INTERNAL_IP6_ADDRESS: 8,
  INTERNAL_IP6_DNS: 10,
  INTERNAL_IP6_DHCP: 12,
  INTERNAL_IP4_SUBNET: 13,
  SUPPORTED_ATTRIBUTES: 14,
  INTERNAL_IP6_SUBNET: 15,
} as const;

// IANA "Assigned Internet Protocol Numbers", the ones the datapath and selectors use
export const IpProtocol = {
  ANY: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  ESP: 50,
  ICMPV6: 58,
} as const;

// Fixed header sizes of the outer and inner packets the datapath builds and parses
export const IPV4_HEADER_LENGTH = 20; // RFC 791 §3.1, without options
export const IPV6_HEADER_LENGTH = 40; // RFC 8200 §3
export const UDP_HEADER_LENGTH = 8; // RFC 768; RFC 3948 §2.1 puts ESP after it

// RFC 7296 §2.23 and RFC 3948: well-known ports
export const IKE_PORT = 500;
export const NAT_T_PORT = 4500;

// RFC 7296 §3.1: the version this implementation speaks
export const IKE_MAJOR_VERSION = 2;
export const IKE_MINOR_VERSION = 0;

type Table = Readonly<Record<string, number>>;
const reverse = new WeakMap<Table, Map<number, string>>();

/** The registry name of `value` in `table`, or `UNKNOWN(value)` for logs. */
export function nameOf(table: Table, value: number): string {
  let map = reverse.get(table);
  if (!map) {
    map = new Map();
    for (const [k, v] of Object.entries(table)) if (!map.has(v)) map.set(v, k);
    reverse.set(table, map);
  }
  return map.get(value) ?? `UNKNOWN(${value})`;
}
