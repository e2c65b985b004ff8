package partdtest

import (
	"testing"

	"github.com/gopartd/partd"
)

// RunReopen checks that a persistent store keeps what it acknowledged across
// Close and a new open of the same directory: appends, Set, Delete, tuple
// keys and Drop. open opens (creating if need be) the store in dir; each
// call must see what earlier, closed stores of dir wrote.
func RunReopen(t *testing.T, open func(t *testing.T, dir string) partd.Store) {
	dir := t.TempDir()
	reopen := func(s partd.Store) partd.Store {
		t.Helper()
		must(t, s.Close())
		return open(t, dir)
	}
	s := open(t, dir)
	must(t, s.Append(map[string][]byte{"a": []byte("1"), "df/x": []byte("x1"), "gone": []byte("g")}))
	must(t, s.Append(map[string][]byte{"a": []byte("2")}))
	s = reopen(s)
	wantBytes(t, s, "a", "12")
	wantBytes(t, s, "df/x", "x1")
	must(t, s.Append(map[string][]byte{"a": []byte("3"), "df/y": []byte("y1")}))
	must(t, s.Set("df/x", []byte("set")))
	must(t, s.Delete("gone"))
	s = reopen(s)
	wantBytes(t, s, "a", "123")
	wantBytes(t, s, "df/x", "set")
	wantBytes(t, s, "df/y", "y1")
	wantBytes(t, s, "gone", "")
	wantKeys(t, s, "a", "df/x", "df/y")
	must(t, s.Drop())
	s = reopen(s)
	wantKeys(t, s)
	must(t, s.Append(map[string][]byte{"a": []byte("after drop")}))
	s = reopen(s)
	wantBytes(t, s, "a", "after drop")
	must(t, s.Close())
}
