#!/usr/bin/env python3
"""tree-listing.py DIR: one line per entry below DIR, sorted, for comparing a
legacy layer directory with a snapshot directory: path, mode, uid, gid, and
but for directories size, mtime and link count; content hash (files), target
(symlinks) or MAJ,MIN (devices), and every xattr (trusted.* too: run as
root).  Nothing is followed."""
import hashlib
import os
import stat
import sys


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    top = sys.argv[1]
    out = []
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            what = "-"
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    what = hashlib.sha256(f.read()).hexdigest()[:16]
            elif stat.S_ISLNK(st.st_mode):
                what = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                what = "%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
            x = ",".join(sorted(k + "=" + os.getxattr(p, k, follow_symlinks=False).hex()
                                for k in os.listxattr(p, follow_symlinks=False)))
            # A directory's size and link count are the filesystem's (btrfs: bytes of names,
            # 1 link), not the tree's.
            isdir = stat.S_ISDIR(st.st_mode)
            out.append("%s %o %d %d %s %s %s %s %s" % (
                os.path.relpath(p, top), st.st_mode, st.st_uid, st.st_gid,
                "-" if isdir else st.st_size, "-" if isdir else int(st.st_mtime),
                "-" if isdir else st.st_nlink, what, x or "-"))
    print("\n".join(sorted(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
