/* sandbox/caps.c - Docker's default capability set for RUN (libcap). */
#include "sandbox/internal.h"

#include <sys/capability.h>
#include <sys/prctl.h>

IB_DEFINE_CLEANUP(cap_t, cap_free)

/* CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP
 * NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE: IB_SANDBOX_CAPS_MASK. */
static const cap_value_t docker_caps[] = {
        CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD, CAP_NET_RAW,
        CAP_SETGID, CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP, CAP_NET_BIND_SERVICE,
        CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE,
};

int ib_caps_drop_bounding(struct ib_err **err)
{
        cap_value_t last = (cap_value_t) cap_max_bits();

        for (cap_value_t c = 0; c < last; c++) {
                if (c < 64 && (IB_SANDBOX_CAPS_MASK & (1ULL << c)))
                        continue;
                if (cap_drop_bound(c) < 0 && errno != EINVAL)
                        return ib_err_set(err, errno, "drop capability %d from the bounding set", (int) c);
        }
        return 0;
}

int ib_caps_apply(bool root, struct ib_err **err)
{
        _cleanup_(cap_freep) cap_t caps = cap_init();

        if (!caps)
                return ib_err_set(err, errno, "cap_init");
        if (root && (cap_set_flag(caps, CAP_EFFECTIVE, IB_ELEMENTSOF(docker_caps), docker_caps, CAP_SET) < 0 ||
                     cap_set_flag(caps, CAP_PERMITTED, IB_ELEMENTSOF(docker_caps), docker_caps, CAP_SET) < 0))
                return ib_err_set(err, errno, "cap_set_flag");
        if (cap_set_proc(caps) < 0)
                return ib_err_set(err, errno, "set the capabilities of the RUN");
        if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() < 0)
                return ib_err_set(err, errno, "clear the ambient capabilities");
        return 0;
}

bool ib_caps_have_sys_admin(void)
{
        _cleanup_(cap_freep) cap_t caps = cap_get_proc();
        cap_flag_value_t v = CAP_CLEAR;

        return caps && cap_get_flag(caps, CAP_SYS_ADMIN, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET;
}
