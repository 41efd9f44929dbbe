/* sandbox/net.c - network mode "none": a fresh network namespace has a `lo`
 * that is down; bring it up with one ioctl (no `ip` binary needed). */
#include "sandbox/internal.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

int ib_net_loopback_up(struct ib_err **err)
{
        _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr = { 0 };

        if (s < 0)
                return ib_err_set(err, errno, "socket for the loopback interface");
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
                return ib_err_set(err, errno, "read the flags of `lo`");
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
                return ib_err_set(err, errno, "bring `lo` up");
        return 0;
}
