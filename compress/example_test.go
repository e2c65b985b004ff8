package compress_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
)

// A Buffer that keeps up to 64 MiB in memory and spills the largest keys
// through a zstd layer to a File store: it compresses large pieces, not each
// small append. Closing the outermost layer closes the whole stack.
func Example() {
	disk, err := partd.NewFile("") // a temporary directory, removed by Close
	if err != nil {
		log.Fatal(err)
	}
	s := partd.NewBuffer(partd.NewDict(), compress.Zstd(disk), 64<<20)
	defer s.Close()

	row := strings.Repeat("42,alice,Berlin,17.50,true\n", 100)
	for range 3 {
		if err := s.Append(map[string][]byte{"part-7": []byte(row), "part-9": []byte("x")}); err != nil {
			log.Fatal(err)
		}
	}
	vs, err := s.Get("part-7", "part-9", "missing")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(vs[0]), string(vs[1]), len(vs[2]))
	keys, _ := s.Keys()
	fmt.Println(keys)
	// Output:
	// 8100 xxx 0
	// [part-7 part-9]
}

// Parse turns a command-line flag such as --compress=zstd:19 into a layer.
func ExampleParse() {
	setting, err := compress.Parse("zstd:19")
	if err != nil {
		log.Fatal(err)
	}
	s, err := setting.Wrap(partd.NewDict())
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	fmt.Println(setting)
	// Output: zstd:19
}

// Repair keeps the whole frames of a key whose last append was torn by a
// crash; Salvage reads them without writing.
func ExampleRepair() {
	inner := partd.NewDict()
	s := compress.Snappy(inner)
	s.Append(map[string][]byte{"k": []byte("kept,")})
	s.Append(map[string][]byte{"k": []byte("torn")})
	raw, _ := inner.Get("k")
	inner.Set("k", raw[0][:len(raw[0])-2]) // the crash

	if _, err := s.Get("k"); err != nil {
		fmt.Println(err)
	}
	v, dropped, _ := compress.Salvage(s, "k")
	fmt.Printf("salvage: %q, %d bytes dropped\n", v, dropped)
	kept, dropped, _ := compress.Repair(inner, "k")
	fmt.Println("repair: kept", kept, "dropped", dropped)
	v, _ = get(s, "k")
	fmt.Printf("%q\n", v)
	// Output:
	// partd: snappy: key "k": frame at byte 15 runs past the end of 27 bytes: corrupt data
	// salvage: "kept,", 12 bytes dropped
	// repair: kept 15 dropped 12
	// "kept,"
}

func get(s partd.Store, key string) ([]byte, error) {
	vs, err := s.Get(key)
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}

// Options are one variadic list, as for klauspost's zstd.NewWriter.
// NewZstd, NewSnappy and NewZLib report an option they cannot apply at
// once, as zlib.NewWriterLevel does; Zstd, Snappy and ZLib cannot fail, and
// with such an option every call (and Err) returns its error instead.
func ExampleWithLevel() {
	small, err := compress.NewZstd(partd.NewDict(), compress.WithLevel(19), compress.WithMaxValueSize(1<<20))
	fmt.Println(err)
	fmt.Println(small.Append(map[string][]byte{"k": []byte("compressed at level 19")}))

	_, err = compress.NewSnappy(partd.NewDict(), compress.WithLevel(3))
	fmt.Println(err)

	wrong := compress.Snappy(partd.NewDict(), compress.WithLevel(3))
	fmt.Println(wrong.Append(map[string][]byte{"k": []byte("x")}))
	// Output:
	// <nil>
	// <nil>
	// partd: snappy: no compression levels (WithLevel(3))
	// partd: snappy: no compression levels (WithLevel(3))
}
