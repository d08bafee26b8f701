#!/usr/bin/env python3
"""kill-at.py [--then SHELL-CMD] BYTES RESULT CMD...: runs CMD (stdout and
stderr inherited), reads its /proc/PID/io every 2 ms and sends it SIGKILL
once its write_bytes reaches BYTES (0: never); with --then, runs SHELL-CMD
(sh -c) at that point instead and lets CMD go on.  Writes one line to the
file RESULT: "killed W" or "exited RC W", W being the bytes the process had
written (write_bytes, from wait4's ru_oublock: exact at its death, whether it
was killed or exited), followed with --then by " fired F" when SHELL-CMD ran,
F being write_bytes then.  Exit status 0; 1 when SHELL-CMD failed; 2 on a
usage error."""
import os
import signal
import subprocess
import sys
import time


def write_bytes(pid):
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return -1


def main():
    args = sys.argv[1:]
    then = None
    if args[:1] == ["--then"] and len(args) > 1:
        then, args = args[1], args[2:]
    if len(args) < 3:
        sys.stderr.write(__doc__)
        return 2
    limit, result, cmd = int(args[0]), args[1], args[2:]
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    reached = False
    fired = None
    then_rc = 0
    while True:
        got, status, ru = os.wait4(pid, os.WNOHANG)
        if got == pid:
            break
        if limit > 0 and not reached:
            w = write_bytes(pid)
            if w >= limit:
                reached = True
                if then is None:
                    os.kill(pid, signal.SIGKILL)
                else:
                    fired = w
                    then_rc = subprocess.call(["sh", "-c", then])
        time.sleep(0.002)
    written = ru.ru_oublock * 512
    with open(result, "w") as f:
        if then is None and reached and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            f.write("killed %d" % written)
        else:
            f.write("exited %d %d" % (os.waitstatus_to_exitcode(status), written))
        f.write(" fired %d\n" % fired if fired is not None else "\n")
    return 1 if then_rc else 0


if __name__ == "__main__":
    sys.exit(main())
