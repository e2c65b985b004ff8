package partd_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/gopartd/partd"
)

// TestLogReaderAcrossCompaction reads a key of a Log that spans segments,
// in runs of every size (copied from mappings or read with pread), in
// small Reads, while compaction moves its bytes and appends add to it: the
// reader reads the value the key held when it was opened. After the Log's
// Close, Read fails with ErrClosed.
func TestLogReaderAcrossCompaction(t *testing.T) {
	l, err := partd.OpenLog(t.TempDir(), &partd.LogOptions{SegmentSize: 256 << 10, CompactGarbage: -1})
	must(t, err)
	defer l.Close()
	var want []byte
	for i := range 300 {
		v := bytes.Repeat([]byte{byte(i)}, 100+(i*997)%(40<<10))
		want = append(want, v...)
		must(t, l.Append(map[string][]byte{"k": v, fmt.Sprintf("junk/%d", i): v}))
	}
	r, err := partd.NewReader(l, "k")
	must(t, err)
	for i := range 300 {
		must(t, l.Delete(fmt.Sprintf("junk/%d", i)))
	}
	var got []byte
	buf := make([]byte, 3001)
	for compacted := false; ; {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		must(t, err)
		if !compacted && len(got) > len(want)/3 {
			must(t, l.Append(map[string][]byte{"k": []byte("appended while reading")}))
			must(t, l.Compact())
			compacted = true
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes across a compaction, not the %d the key held at the open", len(got), len(want))
	}
	if st := l.Stats(); st.Compactions == 0 {
		t.Errorf("no compaction ran: %+v", st)
	}
	must(t, r.Close())

	r, err = partd.NewReader(l, "k")
	must(t, err)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	must(t, l.Close())
	if _, err := r.Read(buf); !errors.Is(err, partd.ErrClosed) {
		t.Errorf("Read after the Log's Close: %v, want ErrClosed", err)
	}
	must(t, r.Close())
}
