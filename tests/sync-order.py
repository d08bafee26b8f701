#!/usr/bin/env python3
"""Checks, from an strace of an offline `dockerd-migrate run`, that no
snapshot data is left unsynced when a record that may name it is written.
Used by tests/sync-order.sh, which explains the method; run by hand:

    sync-order.py TRACE ROOT

TRACE: `strace -f -y -qq -s 65536 -o TRACE -e trace=...` of the run (the
list is in sync-order.sh); ROOT: the containerd root it wrote.

Dirty entries (paths under ROOT/io.containerd.snapshotter.v1.*/snapshots/),
each with what is not yet durable about it, in trace order:
  data   a write, copy_file_range, sendfile, splice or FICLONE into the file;
  entry  its name was made, removed or renamed in its directory (open
         O_CREAT, mkdir, mknod, symlink, link, unlink, rmdir, rename);
  inode  its owner, mode, times or xattrs changed (chown, chmod, utimensat,
         setxattr), or it was just made.
A rename moves everything dirty beneath its source to its target.
Cleared: data and inode by fsync or fdatasync of a descriptor of that very
path; entry by fsync of its directory; everything by syncfs (the test keeps
the whole root on one filesystem) or sync.  sync_file_range makes nothing
durable and clears nothing.

Checkpoints, each at the start of the write:
  - every write to ROOT/io.containerd.snapshotter.v1.*/metadata.db (the
    snapshotter's bolt file: snapshot records only, any commit of it may name
    any snapshot): nothing may be dirty;
  - every write to ROOT/io.containerd.metadata.v1.bolt/meta.db: nothing may be
    dirty in the snapshots directory itself or beneath a snapshot directory
    that has its final name (snapshots/<id>; containerd's temporary ones are
    new-*, which no record can name).  meta.db also gets the blob's record,
    which names no snapshot, while a layer's snapshot is still being written.

Exit status: 0 the order holds, 1 it does not (the first violations are
printed), 2 usage or a trace that shows nothing to check."""
import os
import re
import sys

MAX_REPORT = 4

if len(sys.argv) != 3:
    sys.exit("usage: sync-order.py TRACE ROOT")
trace, root = sys.argv[1], os.path.realpath(sys.argv[2])
snap_re = re.compile(re.escape(root) + r"/io\.containerd\.snapshotter\.v1\.[^/]+/snapshots(/|$)")
final_re = re.compile(re.escape(root) + r"/io\.containerd\.snapshotter\.v1\.[^/]+/snapshots(/(?!new-)[^/]+(/|$)|$)")
snapdb_re = re.compile(re.escape(root) + r"/io\.containerd\.snapshotter\.v1\.[^/]+/metadata\.db$")
metadb = root + "/io.containerd.metadata.v1.bolt/meta.db"

WRITES = {"write", "pwrite64", "writev", "pwritev", "pwritev2"}
CREATE_AT = {"mkdirat", "mknodat"}          # (dirfd, "name", ...)
META_FD = {"fchmod", "fchown", "fsetxattr", "fremovexattr"}
META_AT = {"fchownat", "fchmodat", "fchmodat2", "utimensat", "futimesat"}
META_PATH = {"chmod", "chown", "lchown", "setxattr", "lsetxattr", "removexattr",
             "lremovexattr", "utimes", "utime"}


def split_call(line):
    """'PID name(args) = ret...' -> (name, args, rest) with strings kept whole."""
    m = re.match(r"(\d+)\s+(\w+)\(", line)
    if not m:
        return None
    i, depth, start = m.end(), 1, m.end()
    while i < len(line) and depth:
        c = line[i]
        if c == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        i += 1
    return m.group(2), line[start:i - 1], line[i:]


def tokens(args):
    """The fd paths (fd<path>) and the quoted strings of args, in order, each list apart."""
    strings, paths, out, i = [], [], [], 0
    while i < len(args):
        if args[i] == '"':
            j = i + 1
            while j < len(args) and args[j] != '"':
                j += 2 if args[j] == "\\" else 1
            strings.append(args[i + 1:j])
            out.append('""')
            i = j + 1
        else:
            out.append(args[i])
            i += 1
    paths = re.findall(r"(?:\d+|AT_FDCWD)<([^>]*)>", "".join(out))
    return paths, strings


def parent(p):
    return p.rsplit("/", 1)[0] if "/" in p else p


dirty = {}        # path -> {kind: (line number, syscall)}
checked = {"snapdb": 0, "metadb": 0, "data": 0}
violations = []


def mark(path, kind, n, name):
    m = path and snap_re.match(path)
    if m and m.group(1):
        dirty.setdefault(path, {}).setdefault(kind, (n, name))
        if kind == "data":
            checked["data"] += 1


def synced(path):
    for p in list(dirty):
        if p == path:
            dirty[p].pop("data", None)
            dirty[p].pop("inode", None)
        if parent(p) == path:
            dirty[p].pop("entry", None)
        if not dirty[p]:
            del dirty[p]


reported = set()


def checkpoint(n, what, pred):
    """Each unsynced entry is reported once, at the first checkpoint that finds it."""
    bad = sorted((p, v) for p, v in dirty.items() if pred(p) and p not in reported)
    if bad:
        violations.append((n, what, bad))
        reported.update(p for p, _ in bad)


def record_write(name, path, n):
    """A write to one of the bolt files is a checkpoint; True if it was one."""
    if name not in WRITES or not path:
        return False
    if snapdb_re.search(path):
        checked["snapdb"] += 1
        checkpoint(n, "write to " + path[len(root) + 1:], lambda p: True)
    elif path == metadb:
        checked["metadb"] += 1
        checkpoint(n, "write to " + path[len(root) + 1:], lambda p: final_re.match(p))
    else:
        return False
    return True


pending, started = {}, set()
with open(trace, encoding="utf-8", errors="surrogateescape") as f:
    for n, raw in enumerate(f, 1):
        line = raw.rstrip("\n")
        m = re.match(r"(\d+)\s+(.*)", line)
        if not m:
            continue
        pid, body = m.groups()
        if body.endswith("<unfinished ...>"):
            pending[pid] = pid + " " + body[: -len("<unfinished ...>")].rstrip()
            # A record counts from the moment its write starts.
            parts = split_call(pending[pid] + ")")
            if parts and record_write(parts[0], (tokens(parts[1])[0] or [None])[0], n):
                started.add(pid)
            continue
        r = re.match(r"<\.\.\. \w+ resumed>\s?(.*)", body)
        was_started = False
        if r:
            line = pending.pop(pid, pid + " ?(") + r.group(1)
            was_started = pid in started
            started.discard(pid)
        parts = split_call(line)
        if not parts:
            continue
        name, args, rest = parts
        rm = re.match(r"\s*=\s*(-?\d+)(?:<([^>]*)>)?", rest)
        if not rm or int(rm.group(1)) < 0:
            continue
        ret_path = rm.group(2)
        paths, strings = tokens(args)
        first = paths[0] if paths else None

        def at(i_path=0, i_str=0):
            if len(strings) <= i_str:
                return None
            s = strings[i_str]
            if s.startswith("/"):
                return s
            return paths[i_path] + "/" + s if len(paths) > i_path else None

        if name in WRITES and first:
            if not was_started and not record_write(name, first, n):
                mark(first, "data", n, name)
        elif name in ("copy_file_range", "splice") and len(paths) >= 2:
            mark(paths[1], "data", n, name)
        elif name == "sendfile" and first:
            mark(first, "data", n, name)
        elif name == "ioctl" and first and "FICLONE" in args:
            mark(first, "data", n, name)
        elif name in ("open", "openat", "openat2", "creat") and ret_path and (
                "O_CREAT" in args or "O_TMPFILE" in args or name == "creat"):
            mark(ret_path, "entry", n, name)
            mark(ret_path, "inode", n, name)
        elif name in CREATE_AT or name == "symlinkat":
            p = at(0, 1 if name == "symlinkat" else 0)
            if p:
                mark(p, "entry", n, name)
                mark(p, "inode", n, name)
        elif name in ("mkdir", "mknod", "symlink"):
            p = strings[1 if name == "symlink" else 0] if strings else None
            if p and p.startswith("/"):
                mark(p, "entry", n, name)
                mark(p, "inode", n, name)
        elif name in ("link", "linkat"):
            p = strings[-1] if strings else None
            if p and not p.startswith("/") and len(paths) >= 2:
                p = paths[1] + "/" + p
            if p and p.startswith("/"):
                mark(p, "entry", n, name)
        elif name in ("unlink", "rmdir", "unlinkat"):
            p = at(0, 0)
            if p:
                dirty.pop(p, None)
                mark(p, "entry", n, name)
        elif name in ("rename", "renameat", "renameat2"):
            if name == "rename":
                src, dst = (strings + [None, None])[:2]
            else:
                src, dst = at(0, 0), at(1, 1)
            if src and dst:
                for p in [p for p in dirty if p == src or p.startswith(src + "/")]:
                    dirty[dst + p[len(src):]] = dirty.pop(p)
                mark(src, "entry", n, name)
                mark(dst, "entry", n, name)
        elif name in META_FD and first:
            mark(first, "inode", n, name)
        elif name in META_AT and first:
            p = at(0, 0) if strings and strings[0] else first
            mark(p, "inode", n, name)
        elif name in META_PATH and strings and strings[0].startswith("/"):
            mark(strings[0], "inode", n, name)
        elif name in ("fsync", "fdatasync") and first:
            synced(first)
        elif name in ("syncfs", "sync"):
            dirty.clear()

print("sync-order: %d snapshot data writes, %d writes to metadata.db, %d to meta.db"
      % (checked["data"], checked["snapdb"], checked["metadb"]))
if not checked["data"] or not checked["snapdb"]:
    print("sync-order: the trace shows no snapshot data or no metadata.db write: nothing was checked")
    sys.exit(2)
for n, what, bad in violations[:MAX_REPORT]:
    kinds = {}
    for _, ks in bad:
        for k in ks:
            kinds[k] = kinds.get(k, 0) + 1
    print("FAIL trace line %d, %s: %d snapshot entries not synced (%s), e.g.:"
          % (n, what, len(bad), ", ".join("%s of %d" % (k, v) for k, v in sorted(kinds.items()))))
    bad.sort(key=lambda b: ("data" not in b[1], b[0]))
    for p, ks in bad[:3]:
        print("    %s: %s" % (p[len(root) + 1:], ", ".join(
            "%s (%s, line %d)" % (k, sc, ln) for k, (ln, sc) in sorted(ks.items()))))
if violations:
    print("sync-order: %d records written while %d snapshot entries were not synced"
          % (len(violations), len(reported)))
    sys.exit(1)
print("ok   every snapshot entry was synced before the next record")
