package partd_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/gopartd/partd"
)

// TestDictMovesOffHeap: a Dict from NewDict that grows past the few MiB at
// which it moves its bytes off the heap keeps every key's bytes, in order,
// through the move and after it (appends, sets, deletes, drops).
func TestDictMovesOffHeap(t *testing.T) {
	d := partd.NewDict()
	defer d.Close()
	want := map[string][]byte{}
	check := func(when string) {
		t.Helper()
		for k, v := range want {
			got, err := d.Get(k)
			if err != nil || !bytes.Equal(got[0], v) {
				t.Fatalf("%s: %s holds %d bytes, want %d (%v)", when, k, len(got[0]), len(v), err)
			}
		}
	}
	for i := range 120 {
		batch := map[string][]byte{}
		for k := range 5 {
			key := fmt.Sprintf("k%d", k)
			v := bytes.Repeat([]byte{byte(i*7 + k)}, 100+k*40_000+i)
			batch[key] = v
			want[key] = append(want[key], v...)
		}
		must(t, d.Append(batch))
		if i%10 == 0 {
			check(fmt.Sprintf("after batch %d (%d bytes)", i, d.Size()))
		}
	}
	if d.Size() < 16<<20 {
		t.Fatalf("the Dict holds %d bytes: too few to have moved", d.Size())
	}
	check("at the end")
	must(t, d.Set("k1", []byte("set")))
	want["k1"] = []byte("set")
	must(t, d.Delete("k2"))
	delete(want, "k2")
	must(t, d.Append(map[string][]byte{"k3": []byte("more")}))
	want["k3"] = append(want["k3"], "more"...)
	check("after set, delete and append")
	must(t, d.Drop())
	must(t, d.Append(map[string][]byte{"k0": []byte("again")}))
	want = map[string][]byte{"k0": []byte("again")}
	check("after drop")
}
