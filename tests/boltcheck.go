// boltcheck: an independent checker for bbolt database files, built from
// Debian's bbolt package (golang-github-coreos-bbolt-dev). It opens a file
// read-only, runs bbolt's own consistency check (Tx.Check), checks that every
// page header's id matches its position (stricter bbolt releases require it),
// and with -dump prints every bucket, key and value. With -mutate it also
// works on a copy the way a later bbolt writer would: it adds a 2 KiB key to
// every bucket (inline buckets move to pages, pages split) after rewriting
// every key with its own value, checks, removes
// them again, checks, and compares every original key and value with what it
// read first. Some defects pass a read-only check and only break on a write.
//
// Build: tests/boltcheck.sh builds it in GOPATH mode (needs golang-go and
// golang-github-coreos-bbolt-dev); a copy of ../shared/tools/boltcheck/main.go.
// Use:   boltcheck [-dump] [-mutate] FILE...  exit 0 when every file passes
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

func printable(b []byte) string {
	if utf8.Valid(b) {
		ok := true
		for _, r := range string(b) {
			if r < 0x20 || r == 0x7f {
				ok = false
				break
			}
		}
		if ok {
			return strconv.Quote(string(b))
		}
	}
	return fmt.Sprintf("0x%x", b)
}

func dump(b *bolt.Bucket, indent string) {
	_ = b.ForEach(func(k, v []byte) error {
		if sub := b.Bucket(k); sub != nil {
			fmt.Printf("%s%s/ (seq %d)\n", indent, printable(k), sub.Sequence())
			dump(sub, indent+"  ")
		} else {
			fmt.Printf("%s%s = %s\n", indent, printable(k), printable(v))
		}
		return nil
	})
}

// checkPageIDs checks that the id in each in-use page header equals the
// page's position and that its flags name exactly one page type.
func checkPageIDs(path string, tx *bolt.Tx) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	psize := int64(tx.DB().Info().PageSize)
	hdr := make([]byte, 16)
	var bad error
	var visit func(pgid uint64)
	seen := map[uint64]bool{}
	visit = func(pgid uint64) {
		if bad != nil || seen[pgid] {
			return
		}
		seen[pgid] = true
		if _, err := f.ReadAt(hdr, int64(pgid)*psize); err != nil {
			bad = fmt.Errorf("page %d: %v", pgid, err)
			return
		}
		id := binary.LittleEndian.Uint64(hdr[0:8])
		flags := binary.LittleEndian.Uint16(hdr[8:10])
		if id != pgid {
			bad = fmt.Errorf("page %d: header says id %d", pgid, id)
			return
		}
		if flags != 0x01 && flags != 0x02 && flags != 0x04 && flags != 0x10 {
			bad = fmt.Errorf("page %d: flags 0x%x is not exactly one page type", pgid, flags)
			return
		}
	}
	// Every page below the high-water mark that is in use is checked; the
	// continuation pages of an overflowing node carry no header and are skipped.
	for id := 0; ; {
		pi, err := tx.Page(id)
		if err != nil || pi == nil {
			break
		}
		if pi.Type != "free" {
			visit(uint64(pi.ID))
		}
		id += 1 + pi.OverflowCount
	}
	return bad
}

// snapshot renders every bucket path, key and value, in order, as text.
func snapshot(tx *bolt.Tx) string {
	var out []byte
	var walk func(b *bolt.Bucket, path string)
	walk = func(b *bolt.Bucket, path string) {
		out = append(out, fmt.Sprintf("%s seq=%d\n", path, b.Sequence())...)
		_ = b.ForEach(func(k, v []byte) error {
			if sub := b.Bucket(k); sub != nil {
				walk(sub, path+"/"+printable(k))
			} else {
				out = append(out, fmt.Sprintf("%s/%s=%s\n", path, printable(k), printable(v))...)
			}
			return nil
		})
	}
	_ = tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		walk(b, printable(name))
		return nil
	})
	return string(out)
}

// eachBucket calls fn on every bucket, parents before children.
func eachBucket(tx *bolt.Tx, fn func(b *bolt.Bucket) error) error {
	var walk func(b *bolt.Bucket) error
	walk = func(b *bolt.Bucket) error {
		if err := fn(b); err != nil {
			return err
		}
		var subs [][]byte
		_ = b.ForEach(func(k, v []byte) error {
			if b.Bucket(k) != nil {
				subs = append(subs, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range subs {
			if err := walk(b.Bucket(k)); err != nil {
				return err
			}
		}
		return nil
	}
	return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
}

func checkTx(tx *bolt.Tx) error {
	for e := range tx.Check() {
		return fmt.Errorf("check: %v", e)
	}
	return nil
}

// mutate copies path and exercises it as a bbolt writer would, see above.
// A panic inside bbolt is reported as a failure of the file.
func mutate(path string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt panicked while writing to a copy: %v", r)
			if os.Getenv("BOLTCHECK_TRACE") != "" {
				debug.PrintStack()
			}
		}
	}()
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp("", "boltcheck-*.db")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(src); err != nil {
		return err
	}
	tmp.Close()
	db, err := bolt.Open(tmp.Name(), 0600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return fmt.Errorf("read-write open: %v", err)
	}
	defer db.Close()
	var before string
	_ = db.View(func(tx *bolt.Tx) error { before = snapshot(tx); return nil })
	key := []byte("\xffboltcheck-mutate")
	val := make([]byte, 2048)
	steps := []struct {
		name string
		fn   func(b *bolt.Bucket) error
	}{
		{"rewrite every key with its own value", func(b *bolt.Bucket) error {
			var keys, vals [][]byte
			_ = b.ForEach(func(k, v []byte) error {
				if b.Bucket(k) == nil {
					keys = append(keys, append([]byte(nil), k...))
					vals = append(vals, append([]byte(nil), v...))
				}
				return nil
			})
			for i := range keys {
				if err := b.Put(keys[i], vals[i]); err != nil {
					return err
				}
			}
			return nil
		}},
		{"add a key to every bucket", func(b *bolt.Bucket) error { return b.Put(key, val) }},
		{"remove it again", func(b *bolt.Bucket) error { return b.Delete(key) }},
	}
	for _, st := range steps {
		if err := db.Update(func(tx *bolt.Tx) error { return eachBucket(tx, st.fn) }); err != nil {
			return fmt.Errorf("%s: %v", st.name, err)
		}
		if err := db.View(checkTx); err != nil {
			return fmt.Errorf("after %s: %v", st.name, err)
		}
	}
	var after string
	_ = db.View(func(tx *bolt.Tx) error { after = snapshot(tx); return nil })
	if before != after {
		return fmt.Errorf("contents differ after a bbolt write and its undo")
	}
	return nil
}

func main() {
	doDump := flag.Bool("dump", false, "print every bucket, key and value")
	doMutate := flag.Bool("mutate", false, "also write to a copy with bbolt and check again")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: boltcheck [-dump] FILE...")
		os.Exit(2)
	}
	failed := 0
	for _, path := range flag.Args() {
		db, err := bolt.Open(path, 0600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
		if err != nil {
			fmt.Printf("FAIL %s: open: %v\n", path, err)
			failed++
			continue
		}
		err = db.View(func(tx *bolt.Tx) error {
			if err := checkTx(tx); err != nil {
				return err
			}
			if err := checkPageIDs(path, tx); err != nil {
				return err
			}
			if *doDump {
				_ = tx.ForEach(func(name []byte, b *bolt.Bucket) error {
					fmt.Printf("%s/ (seq %d)\n", printable(name), b.Sequence())
					dump(b, "  ")
					return nil
				})
			}
			return nil
		})
		db.Close()
		if err == nil && *doMutate {
			err = mutate(path)
		}
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", path, err)
			failed++
		} else {
			fmt.Printf("ok %s\n", path)
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
}
