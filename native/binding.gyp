# Builds native/build/Release/tsvpn_native.node (loaded by src/io/native.ts).
# Linux only: the TUN device and recvmmsg/sendmmsg are Linux interfaces.
# src/aead.cc uses Node's own OpenSSL: <openssl/*.h> from <nodedir>/include/node (on the
# include path node-gyp sets up), symbols resolved against the node binary when loaded.
{
  "targets": [
    {
      "target_name": "tsvpn_native",
      "sources": [
        "src/addon.cc",
        "src/errno_error.cc",
        "src/batch_args.cc",
        "src/batch_reader.cc",
        "src/tun_open.cc",
        "src/gso_segment.cc",
        "src/tun_device.cc",
        "src/mmsg_io.cc",
        "src/icmp_errors.cc",
        "src/udp_socket.cc",
        "src/raw_socket.cc",
        "src/aead.cc",
        "src/notify_socket.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"]
    }
  ]
}
