#include "tun_open.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errno_error.h"

namespace tsvpn {

namespace {

const char* kPrivilegeHint = "creating a TUN device needs root or CAP_NET_ADMIN";

bool IsPrivilegeError(int err) { return err == EPERM || err == EACCES; }

// Sets the MTU and IFF_UP through an AF_INET socket (the ioctls act on the
// interface by name). False with a JS exception pending.
bool ConfigureLink(Napi::Env env, const std::string& name, int mtu) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    int err = errno;
    ErrnoError(env, err, "socket", "cannot create the socket used to configure " + name)
        .ThrowAsJavaScriptException();
    return false;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name.c_str(), name.size());  // size < IFNAMSIZ, checked by the caller
  ifr.ifr_mtu = mtu;
  if (ioctl(s, SIOCSIFMTU, &ifr) < 0) {
    int err = errno;
    close(s);
    std::string hint = err == EINVAL ? "the device accepts an MTU from 68 to 65535"
                       : IsPrivilegeError(err) ? "setting the MTU needs root or CAP_NET_ADMIN"
                                               : "";
    ErrnoError(env, err, "ioctl(SIOCSIFMTU)",
               "cannot set MTU " + std::to_string(mtu) + " on " + name, hint)
        .ThrowAsJavaScriptException();
    return false;
  }
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0 ||
      (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) < 0)) {
    int err = errno;
    close(s);
    ErrnoError(env, err, "ioctl(SIOCSIFFLAGS)", "cannot bring " + name + " up",
               IsPrivilegeError(err) ? "bringing a device up needs root or CAP_NET_ADMIN" : "")
        .ThrowAsJavaScriptException();
    return false;
  }
  close(s);
  return true;
}

}  // namespace

// Linux 6.2 <linux/if_tun.h>; older headers lack them (the kernel then refuses them: EINVAL).
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

OffloadResult EnableOffload(int fd) {
  OffloadResult r;
  const unsigned tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
  const struct {
    unsigned flags;
    const char* what;
  } tries[] = {{tso | TUN_F_USO4 | TUN_F_USO6, "USO"}, {tso, "TSO and checksum offload"}};
  for (const auto& t : tries) {
    if (ioctl(fd, TUNSETOFFLOAD, t.flags) == 0) {
      r.flags = t.flags;
      return r;
    }
    r.err = errno;
    r.refused = t.what;
  }
  ioctl(fd, TUNSETOFFLOAD, 0u);
  return r;
}

int OpenTun(Napi::Env env, const std::string& requested, int mtu, std::string* name) {
  return OpenTun(env, requested, mtu, name, false);
}

int OpenTun(Napi::Env env, const std::string& requested, int mtu, std::string* name, bool vnet) {
  if (requested.size() >= IFNAMSIZ) {
    ArgError(env, "TUN device name '" + requested + "' is too long: at most " +
                      std::to_string(IFNAMSIZ - 1) + " bytes (IFNAMSIZ)")
        .ThrowAsJavaScriptException();
    return -1;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string hint = (err == ENOENT || err == ENODEV || err == ENXIO)
                           ? "the tun module is missing; run `modprobe tun`"
                       : IsPrivilegeError(err) ? kPrivilegeHint
                                               : "";
    ErrnoError(env, err, "open", "cannot open /dev/net/tun", hint).ThrowAsJavaScriptException();
    return -1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;  // raw IP packets, no packet-information prefix
  if (vnet) ifr.ifr_flags |= IFF_VNET_HDR;  // ... after a virtio_net_hdr (offloads)
  memcpy(ifr.ifr_name, requested.c_str(), requested.size());
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    std::string hint = IsPrivilegeError(err) ? kPrivilegeHint
                       : err == EBUSY ? "the TUN device is already open (by this or another process)"
                       : err == EINVAL
                           ? "the name is not a valid interface name, or an interface of another type has it"
                           : "";
    ErrnoError(env, err, "ioctl(TUNSETIFF)", "cannot create TUN device '" + requested + "'", hint)
        .ThrowAsJavaScriptException();
    return -1;
  }
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  *name = ifr.ifr_name;
  if (!ConfigureLink(env, *name, mtu)) {
    close(fd);  // the device is not persistent: closing the fd removes it
    return -1;
  }
  return fd;
}

}  // namespace tsvpn
