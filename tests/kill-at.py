#!/usr/bin/env python3
"""kill-at.py BYTES RESULT CMD...: runs CMD (stdout and stderr inherited), reads
its /proc/PID/io every 2 ms and sends it SIGKILL once its write_bytes reaches
BYTES (0: never).  Writes one line to the file RESULT: "killed W" or
"exited RC W", W being the bytes
the process had written (write_bytes, from wait4's ru_oublock: exact at its
death, whether it was killed or exited).  Exit status 0, 2 on usage error."""
import os
import signal
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
    if len(sys.argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    limit = int(sys.argv[1])
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(sys.argv[3], sys.argv[3:])
        finally:
            os._exit(127)
    killed = False
    while True:
        got, status, ru = os.wait4(pid, os.WNOHANG)
        if got == pid:
            break
        if limit > 0 and not killed and write_bytes(pid) >= limit:
            os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(0.002)
    written = ru.ru_oublock * 512
    with open(sys.argv[2], "w") as f:
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL and killed:
            f.write("killed %d\n" % written)
        else:
            f.write("exited %d %d\n" % (os.waitstatus_to_exitcode(status), written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
