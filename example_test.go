package partd_test

import (
	"fmt"
	"os"

	"github.com/gopartd/partd"
)

func Example() {
	s := partd.NewDict()
	defer s.Close()
	s.Append(map[string][]byte{"x": []byte("Hello "), "y": []byte("123")})
	s.Append(map[string][]byte{"x": []byte("world!"), "y": []byte("456")})
	vals, _ := s.Get("y", "x")
	fmt.Printf("%s %s\n", vals[0], vals[1])
	// Output: 123456 Hello world!
}

// A Buffer keeps up to a memory limit in a Dict and spills the largest keys
// to a File; a key's bytes keep their append order across spills.
func ExampleNewBuffer() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	disk, _ := partd.NewFile(dir)
	b := partd.NewBuffer(partd.NewDict(), disk, 8) // 8 bytes: spills at once
	defer b.Close()
	b.Append(map[string][]byte{"part-7": []byte("first,")})  // fits
	b.Append(map[string][]byte{"part-7": []byte("second,")}) // over the limit: part-7 moves to disk
	b.Append(map[string][]byte{"part-7": []byte("third")})   // in memory again
	v, _ := b.Get("part-7")
	fmt.Println(string(v[0]), b.Size())
	// Output: first,second,third 5
}

func ExampleNewFile() {
	s, _ := partd.NewFile("") // a temporary directory, removed by Close
	defer s.Close()
	s.Append(map[string][]byte{partd.Key("df", "col"): []byte("1,2,3")})
	keys, _ := s.Keys()
	fmt.Println(keys)
	// Output: [df/col]
}
