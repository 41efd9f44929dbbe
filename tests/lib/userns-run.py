#!/usr/bin/env python3
"""userns-run.py [--count N] CMD...: run CMD as uid/gid 0 of a new user namespace
(with a private mount namespace) whose ids 0..N-1 map to the same ids outside.
For root in tests: util-linux unshare --map-users needs newuidmap and /etc/subuid
entries for root, so the parent writes the maps itself (it has CAP_SETUID)."""
import ctypes, os, sys

CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
MS_REC, MS_PRIVATE = 16384, 1 << 18

def main():
    args = sys.argv[1:]
    count = 65536
    if args and args[0] == "--count":
        count = int(args[1]); args = args[2:]
    if not args:
        sys.exit("usage: userns-run.py [--count N] CMD...")
    libc = ctypes.CDLL(None, use_errno=True)
    r1, w1 = os.pipe(); r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w1); os.close(r2)
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
            os.write(w2, b"E"); os._exit(125)
        os.write(w2, b"U"); os.close(w2)
        if os.read(r1, 1) != b"M":
            os._exit(125)
        if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            sys.stderr.write("userns-run: make / private failed\n"); os._exit(125)
        os.setgid(0); os.setgroups([]); os.setuid(0)
        os.execvp(args[0], args)
    os.close(w2); os.close(r1)
    if os.read(r2, 1) != b"U":
        os.waitpid(pid, 0); sys.exit("userns-run: unshare failed")
    for f in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{f}", "w") as fh:
            fh.write(f"0 0 {count}\n")
    os.write(w1, b"M"); os.close(w1)
    _, st = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(st))

main()
