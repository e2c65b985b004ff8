package partd_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/gopartd/partd"
)

// TestLogPopSurvivesReopen: a Log's Pop is one delete record: after a
// reopen the popped keys are gone and the others whole.
func TestLogPopSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := partd.NewLog(dir)
	must(t, err)
	must(t, l.Append(map[string][]byte{"a": []byte("A"), "b": []byte("B"), "c": []byte("C")}))
	must(t, l.Append(map[string][]byte{"a": []byte("a")}))
	vals, err := l.Pop("a", "c", "a")
	must(t, err)
	if string(vals[0]) != "Aa" || string(vals[1]) != "C" || string(vals[2]) != "Aa" {
		t.Fatalf("Pop = %q", vals)
	}
	if st := l.Stats(); st.Keys != 1 || st.LiveBytes != 1 {
		t.Fatalf("after Pop: %+v", st)
	}
	must(t, l.Close())
	if _, err := l.Pop("b"); !errors.Is(err, partd.ErrClosed) {
		t.Fatalf("Pop after Close: %v", err)
	}
	l, err = partd.NewLog(dir)
	must(t, err)
	defer l.Close()
	keys, err := l.Keys()
	must(t, err)
	if !slices.Equal(keys, []string{"b"}) {
		t.Fatalf("after reopen Keys = %q", keys)
	}
}
