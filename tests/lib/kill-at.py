#!/usr/bin/env python3
"""kill-at.py --signal SIG --at REGEX --delay-ms N --log FILE -- CMD...

Run CMD as a child of this process, which is a child subreaper
(PR_SET_CHILD_SUBREAPER): every descendant of CMD that loses its parent is
re-parented here, whatever session or process group it moved to.  When a line
of CMD's output matches REGEX, wait a random 0..N ms and send SIG to CMD (the
imgbuild process only, as `kill` would, not its group).  Then:
  - CMD must exit within --grace seconds (else it is reported as hung and
    killed with SIGKILL);
  - within --settle seconds no other descendant may be left; leftovers are
    reported with their command lines and killed by PID.
Prints one line "phase=<matched|exited-before> rc=<status> leaked=<n> [pids...]"
and exits 0 when nothing leaked and nothing hung, 1 otherwise.  When CMD ends
before REGEX matched, its exit status must be 0 (the build had to succeed)."""
import argparse, ctypes, os, random, re, select, signal, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--signal", required=True)
ap.add_argument("--at", required=True)
ap.add_argument("--delay-ms", type=int, default=0)
ap.add_argument("--log", required=True)
ap.add_argument("--grace", type=float, default=30)
ap.add_argument("--settle", type=float, default=5)
ap.add_argument("cmd", nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
sig = getattr(signal, "SIG" + a.signal.upper().removeprefix("SIG"))

PR_SET_CHILD_SUBREAPER = 36
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("kill-at: prctl(PR_SET_CHILD_SUBREAPER) failed")


def children():
    """PIDs whose parent is this process (the subreaper)."""
    me, out = os.getpid(), []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parens
        if int(st[st.rindex(")") + 2:].split()[1]) == me:
            out.append(int(d))
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


log = open(a.log, "ab")
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
pat = re.compile(a.at.encode())
buf, matched, sent, deadline = b"", False, False, None
fd = p.stdout.fileno()
sent_at = None
while True:
    timeout = 0.1 if deadline is None else max(0, min(0.1, deadline - time.monotonic()))
    r, _, _ = select.select([fd], [], [], timeout)
    if deadline is not None and time.monotonic() >= deadline and not sent:
        log.write(b"[kill-at] sending %s\n" % a.signal.encode())
        if p.poll() is None:
            os.kill(p.pid, sig)
            sent, sent_at = True, time.monotonic()
        deadline = None
    if not r:
        # descendants may hold the output open after CMD died: do not wait for them
        if p.poll() is not None and deadline is None:
            break
        if sent_at is not None and time.monotonic() - sent_at > a.grace:
            break
        continue
    data = os.read(fd, 65536)
    if not data:
        break
    log.write(data)
    log.flush()
    if matched:
        continue
    buf += data
    lines = buf.split(b"\n")
    buf = lines[-1]
    if any(pat.search(l) for l in lines[:-1]):
        matched = True
        deadline = time.monotonic() + random.uniform(0, a.delay_ms) / 1000.0
        log.write(b"[kill-at] matched; %s in %d ms\n" % (a.signal.encode(), int((deadline - time.monotonic()) * 1000)))
# the output is closed: the command ended, or handed it on and is ending
hung = False
try:
    rc = p.wait(timeout=a.grace)
except subprocess.TimeoutExpired:
    hung = True
    p.kill()
    rc = p.wait()
leaked = {}
end = time.monotonic() + a.settle
while True:
    reap()
    left = children()
    if not left or time.monotonic() >= end:
        break
    time.sleep(0.05)
for pid in left:
    leaked[pid] = cmdline(pid)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
reap()
phase = "matched" if matched else "exited-before"
bad = hung or leaked or (not matched and rc != 0)
line = "phase=%s sent=%s rc=%d hung=%s leaked=%d%s" % (phase, "yes" if sent else "no", rc, "yes" if hung else "no",
                                                       len(leaked), "".join(" [%d %s]" % kv for kv in leaked.items()))
log.write(("[kill-at] " + line + "\n").encode())
print(line)
sys.exit(1 if bad else 0)
