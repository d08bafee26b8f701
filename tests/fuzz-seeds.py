#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz-corpus/<target>/,
bolt excepted) from the hand-made stores of fixtures/make-broken.sh and from
replies as containerd 1.6.20 gives them.  Seeds named valid-* must be
accepted by their target, bad-* refused (tests/fuzz_replay.c checks both).
Run from the source tree after a change to a format:
    python3 tests/fuzz-seeds.py [MAKE_BROKEN_OUTPUT_DIR]"""
import os, struct, subprocess, sys, tempfile

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus = os.path.join(top, "tests", "fuzz-corpus")


def put(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def rd(path):
    with open(path, "rb") as f:
        return f.read()


if len(sys.argv) > 1:
    fx = sys.argv[1]
else:
    fx = tempfile.mkdtemp(prefix="dm-seeds-")
    subprocess.run(["sh", os.path.join(top, "fixtures", "make-broken.sh"), fx], check=True,
                   stdout=subprocess.DEVNULL)
H64 = "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"

# ---- reference: one reference a file ----
for name, ref in [
        ("valid-short", "busybox"), ("valid-tag", "busybox:latest"),
        ("valid-user-tag", "myuser/web:dev"), ("valid-registry-port", "localhost:5000/app:1.0"),
        ("valid-digest", "ghcr.io/acme/tool@sha256:" + H64),
        ("valid-tag-digest", "docker.io/library/busybox:1.36@sha256:" + H64),
        ("valid-uppercase-domain", "Registry/app:v1"), ("valid-index", "index.docker.io/library/alpine"),
        ("valid-sha512", "alpine@sha512:" + "ab" * 64),
        ("bad-empty", ""), ("bad-uppercase-repo", "docker.io/Busybox"), ("bad-double-colon", "a::b"),
        ("bad-short-digest", "alpine@sha256:abc"), ("bad-long-tag", "alpine:" + "t" * 129),
        ("bad-name-too-long", "a/" + "b" * 260), ("bad-trailing-slash", "library/"),
        ("bad-newline", "busybox\n:latest")]:
    put("reference", name, ref)

# ---- config: image configs as imagedb holds them ----
content = os.path.join(fx, "good-vfs", "image", "vfs", "imagedb", "content", "sha256")
for n, f in enumerate(sorted(os.listdir(content))):
    if not f.startswith("."):
        put("config", "valid-make-broken-%d" % n, rd(os.path.join(content, f)))
cfg = rd(os.path.join(content, sorted(x for x in os.listdir(content) if not x.startswith("."))[0]))
put("config", "bad-truncated", cfg[:len(cfg) // 2])
put("config", "bad-rootfs-type", cfg.replace(b'"type":"layers"', b'"type":"other"'))
put("config", "bad-diff-id", b'{"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:12"]}}')
put("config", "bad-os-number", b'{"os":7,"rootfs":{"type":"layers","diff_ids":[]}}')
put("config", "bad-not-object", b'[1,2,3]')

# ---- mounts: one mount a line, fields separated by tabs ----
S = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots"
for name, text in [
        ("valid-overlay", "overlay\toverlay\t\tindex=off\tworkdir=%s/3/work\tupperdir=%s/3/fs\tlowerdir=%s/2/fs:%s/1/fs" % (S, S, S, S)),
        ("valid-overlay-userxattr", "overlay\toverlay\t\tuserxattr\tworkdir=%s/2/work\tupperdir=%s/2/fs\tlowerdir=%s/1/fs" % (S, S, S)),
        ("valid-bind", "bind\t%s/1/fs\t\trw\trbind" % S),
        ("valid-native-bind", "bind\t/var/lib/containerd/io.containerd.snapshotter.v1.native/snapshots/4\t\trw\trbind"),
        ("bad-ro-bind", "bind\t%s/1/fs\t\tro\trbind" % S),
        ("bad-two-mounts", "bind\t%s/1/fs\t\trw\trbind\nbind\t%s/2/fs\t\trw\trbind" % (S, S)),
        ("bad-comma-path", "bind\t%s/1,x/fs\t\trw\trbind" % S),
        ("bad-dotdot", "overlay\toverlay\t\tworkdir=%s/2/work\tupperdir=%s/2/../fs\tlowerdir=%s/1/fs" % (S, S, S)),
        ("bad-no-workdir", "overlay\toverlay\t\tupperdir=%s/2/fs\tlowerdir=%s/1/fs" % (S, S)),
        ("bad-idmapped", "overlay\toverlay\t\tuidmap=0:1000:1\tworkdir=%s/2/work\tupperdir=%s/2/fs\tlowerdir=%s/1/fs" % (S, S, S)),
        ("bad-tmpfs", "tmpfs\ttmpfs\t\trw"), ("bad-empty", "")]:
    put("mounts", name, text)

# ---- tarsplit: tar-split.json.gz files, and the JSON lines alone ----
ls = os.path.join(fx, "good", "image", "overlay2", "layerdb", "sha256")
import gzip
for n, l in enumerate(sorted(os.listdir(ls))):
    p = os.path.join(ls, l, "tar-split.json.gz")
    if os.path.exists(p):
        put("tarsplit", "valid-make-broken-%d.gz" % n, rd(p))
        put("tarsplit", "valid-make-broken-%d.json" % n, gzip.decompress(rd(p)))
for variant, name in [("escape-dotdot", "bad-escape-dotdot"), ("escape-symlink", "bad-escape-symlink")]:
    vl = os.path.join(fx, variant, "image", "overlay2", "layerdb", "sha256")
    for l in sorted(os.listdir(vl)):
        p = os.path.join(vl, l, "tar-split.json.gz")
        if os.path.exists(p) and rd(p) not in (rd(os.path.join(ls, l, "tar-split.json.gz")),):
            put("tarsplit", name + ".json", gzip.decompress(rd(p)))
good = gzip.decompress(rd(os.path.join(ls, sorted(os.listdir(ls))[0], "tar-split.json.gz")))
put("tarsplit", "bad-size-mismatch.json", good.replace(b'"size":6', b'"size":7'))
put("tarsplit", "bad-truncated.gz", rd(os.path.join(ls, sorted(os.listdir(ls))[0], "tar-split.json.gz"))[:40])
put("tarsplit", "bad-not-json.json", b'{"type":2,"payload":"AAAA"\n')


# ---- layerstore: whole stores, "=== <path>\n" then the file's bytes ----
def serialise(root):
    out = []
    for d, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        rel = os.path.relpath(d, root)
        if not files and not dirs and rel != ".":
            out.append(b"=== " + rel.encode() + b"/\n")
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.islink(p):
                continue
            out.append(b"=== " + os.path.relpath(p, root).encode() + b"\n" + rd(p))
    return b"\n".join(out)


for variant, name in [("good", "valid-good-overlay2"), ("good-vfs", "valid-good-vfs"),
                      ("cache-id-unsafe", "valid-cache-id-unsafe"), ("layer-cycle", "valid-layer-cycle"),
                      ("size-huge", "valid-size-huge"), ("repos-truncated", "bad-repos-truncated"),
                      ("repos-wrong-type", "bad-repos-wrong-type"), ("two-drivers", "bad-two-drivers"),
                      ("unsupported-driver", "bad-unsupported-driver")]:
    put("layerstore", name, serialise(os.path.join(fx, variant)))
put("layerstore", "bad-empty", b"")


# ---- grpc: a chunk size, then a reply's DATA bytes ----
def frame(msg, flag=0):
    return bytes([flag]) + struct.pack(">I", len(msg)) + msg


put("grpc", "valid-one", b"\x00" + frame(b"\x0a\x06v1.6.20"))
put("grpc", "valid-two-split", b"\x03" + frame(b"abc") + frame(b""))
put("grpc", "valid-empty-message", b"\x01" + frame(b""))
put("grpc", "bad-compressed", b"\x00" + frame(b"abc", 1))
put("grpc", "bad-flag", b"\x02" + frame(b"abc", 0x80))
put("grpc", "bad-oversize", b"\x00\x00\x7f\xff\xff\xff")
put("grpc", "bad-ends-inside", b"\x00" + frame(b"abcdef")[:7])
put("grpc", "bad-message-percent", b"\x00Not%20found%0a%ZZ%")


# ---- ctrapi: a call number, then replies (2-byte length, the message) ----
def v(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def fs(num, s):  # string/bytes/message field
    s = s.encode() if isinstance(s, str) else s
    return v(num << 3 | 2) + v(len(s)) + s


def fi(num, n):  # varint field
    return v(num << 3) + v(n & (2**64 - 1))


def entry(num, k, val):
    return fs(num, fs(1, k) + fs(2, val))


def ts(num, sec):
    return fs(num, fi(1, sec) + fi(2, 5))


def call(op, *replies):
    return bytes([op]) + b"".join(struct.pack(">H", len(r)) + r for r in replies)


D = "sha256:" + H64
version = fs(1, "1.6.20") + fs(2, "1a2b3c")
plugin = fs(1, fs(1, "io.containerd.content.v1") + fs(2, "content") +
            entry(5, "root", "/var/lib/containerd/io.containerd.content.v1.content"))
info = fs(1, D) + fi(2, 1024) + ts(3, 1700000000) + ts(4, 1700000001) + entry(5, "containerd.io/uncompressed", D)
lease = fs(1, "dockerd-migrate-fuzz") + ts(2, 1700000000) + entry(3, "containerd.io/gc.expire", "2030-01-01T00:00:00Z")
mount_overlay = fs(1, "overlay") + fs(2, "overlay") + fs(4, "index=off") + fs(4, "workdir=%s/3/work" % S) + \
    fs(4, "upperdir=%s/3/fs" % S) + fs(4, "lowerdir=%s/2/fs" % S)
snap = fs(1, "fuzz-key") + fs(2, "parent") + fi(3, 2) + ts(4, 1700000000) + ts(5, 1700000000) + entry(6, "l", "v")
image = fs(1, "docker.io/library/fuzz:latest") + entry(2, "l", "v") + \
    fs(3, fs(1, "application/vnd.oci.image.manifest.v1+json") + fs(2, D) + fi(3, 1234)) + ts(7, 1700000000) + ts(8, 1700000000)
for name, data in [
        ("valid-version", call(0, version)), ("bad-version-empty", call(0, b"")),
        ("bad-version-garbage", call(0, b"\xff\xff\xff")),
        ("valid-plugin-export", call(1, plugin)), ("bad-plugin-missing", call(1, b"")),
        ("valid-root", call(2, plugin)), ("bad-root-relative", call(2, plugin.replace(b"/var", b"var/"))),
        ("valid-lease-create", call(3, fs(1, lease))), ("valid-lease-delete", call(4, b"")),
        ("valid-lease-list", call(5, fs(1, lease) + fs(1, lease))), ("valid-lease-add-resource", call(6, b"")),
        ("valid-content-get", call(7, fs(1, info))), ("bad-content-get-other-digest", call(7, fs(1, info.replace(b"5f70", b"5f71")))),
        ("valid-content-set-labels", call(8, fs(1, info))),
        ("valid-content-read", call(9, fi(1, 0) + fs(2, b"x" * 100), fi(1, 100) + fs(2, b"y" * 10))),
        ("valid-content-read-110", call(29, fi(1, 0) + fs(2, b"x" * 100), fi(1, 100) + fs(2, b"y" * 10))),
        ("bad-content-read-short", call(29, fi(1, 0) + fs(2, b"x" * 100))),
        ("bad-content-read-not-found", call(9) + b"\xff\xff"),
        ("valid-content-abort", call(10, b"")),
        ("valid-writer", call(11, fi(1, 0) + fi(4, 0) + fi(5, 16), fi(1, 2) + fi(4, 16) + fs(6, D))),
        ("bad-writer-other-digest", call(11, fi(1, 0) + fi(4, 0) + fi(5, 16), fi(1, 2) + fi(4, 16) + fs(6, D[:-1] + "0"))),
        ("valid-snapshot-prepare", call(12, fs(1, mount_overlay))), ("valid-snapshot-mounts", call(13, fs(1, mount_overlay))),
        ("bad-snapshot-mounts-none", call(13, b"")), ("valid-snapshot-commit", call(14, b"")),
        ("valid-snapshot-stat", call(15, fs(1, snap))), ("valid-snapshot-remove", call(16, b"")),
        ("valid-image-create", call(17, fs(1, image))), ("valid-image-update", call(18, fs(1, image))),
        ("valid-image-get", call(19, fs(1, image))), ("bad-image-get-no-reply", call(19))]:
    put("ctrapi", name, data)
