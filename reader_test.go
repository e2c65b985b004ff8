package partd_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"testing/iotest"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/encode"
	"github.com/gopartd/partd/partdtest"
)

// viewOnly is a Dict that shows its chunks but has no reader of its own:
// NewReader's ChunkViewer fallback reads it.
type viewOnly struct{ d *partd.Dict }

func (v viewOnly) Append(data map[string][]byte) error  { return v.d.Append(data) }
func (v viewOnly) Get(keys ...string) ([][]byte, error) { return v.d.Get(keys...) }
func (v viewOnly) Set(key string, value []byte) error   { return v.d.Set(key, value) }
func (v viewOnly) Delete(keys ...string) error          { return v.d.Delete(keys...) }
func (v viewOnly) Keys() ([]string, error)              { return v.d.Keys() }
func (v viewOnly) Drop() error                          { return v.d.Drop() }
func (v viewOnly) Close() error                         { return v.d.Close() }
func (v viewOnly) ViewChunks(keys []string, fn func([][][]byte) error) error {
	return v.d.ViewChunks(keys, fn)
}

// getOnly is a store with none of the capabilities: NewReader's Get
// fallback reads it.
type getOnly struct{ partd.Store }

// TestNewReaderFallbacks: a store that is not a KeyReader is read through
// its chunk views, a window per Read, or else with Get; both read what Get
// returns, as of the open, and the window reader stops with ErrKeyChanged
// where the key shrank under it.
func TestNewReaderFallbacks(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000)
	for name, s := range map[string]partd.Store{
		"ChunkViewer": viewOnly{partd.NewDict()},
		"Get":         getOnly{partd.NewDict()},
	} {
		t.Run(name, func(t *testing.T) {
			defer s.Close()
			if _, ok := s.(partd.KeyReader); ok {
				t.Fatal("the test store is a KeyReader")
			}
			for i := 0; i < len(big); i += 40000 {
				must(t, s.Append(map[string][]byte{"k": big[i:min(i+40000, len(big))]}))
			}
			r, err := partd.NewReader(s, "k")
			must(t, err)
			must(t, s.Append(map[string][]byte{"k": []byte("later")}))
			if err := iotest.TestReader(r, big); err != nil {
				t.Error(err)
			}
			must(t, r.Close())

			r, err = partd.NewReader(s, "k")
			must(t, err)
			head := make([]byte, 1000)
			_, err = io.ReadFull(r, head)
			must(t, err)
			must(t, s.Set("k", []byte("short")))
			rest, err := io.ReadAll(r)
			switch name {
			case "ChunkViewer":
				if !errors.Is(err, partd.ErrKeyChanged) {
					t.Errorf("reading a key that shrank: %d bytes, %v; want ErrKeyChanged", len(rest), err)
				}
			case "Get":
				if err != nil || !bytes.Equal(append(head, rest...), append(big, "later"...)) {
					t.Errorf("the Get reader read %d bytes, %v; want the value as of its open", len(head)+len(rest), err)
				}
			}
			must(t, r.Close())
		})
	}
}

// TestReaderConformanceFallbacks runs the suite, whose Reader check reads
// through NewReader, over the fallback stores.
func TestReaderConformanceFallbacks(t *testing.T) {
	t.Run("Get", func(t *testing.T) {
		partdtest.Run(t, func(t *testing.T) partd.Store { return getOnly{partd.NewDict()} })
	})
}

// A key of a Buffer over a File is read through NewReader a piece at a
// time: the spilled bytes from the File, then the ones still in memory.
// The typed layers read a key one appended value at a time with Values.
func ExampleNewReader() {
	disk, _ := partd.NewFile("")
	b := partd.NewBuffer(partd.NewDict(), disk, 8) // spills at once
	defer b.Close()
	b.Append(map[string][]byte{"part-7": []byte("spilled,")})
	b.Append(map[string][]byte{"part-7": []byte("held")})

	r, _ := partd.NewReader(b, "part-7")
	defer r.Close()
	io.Copy(os.Stdout, r)
	fmt.Println()

	rows := encode.Msgpack[string](partd.NewDict())
	rows.Append(map[string][]string{"p": {"a", "b"}})
	rows.Append(map[string][]string{"p": {"c"}})
	for batch, err := range rows.Values("p") {
		if err != nil {
			break
		}
		fmt.Println(batch)
	}
	// Output:
	// spilled,held
	// [a b]
	// [c]
}
