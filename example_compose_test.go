package partd_test

import (
	"fmt"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/encode"
)

// Row is a record of a shuffle.
type Row struct {
	ID   int64
	Name string
}

// Layers nest like io.Reader wrappers: typed rows, encoded with msgpack,
// buffered in memory, and spilled to disk through zstd.
func Example_composition() {
	disk, _ := partd.NewFile("")                                          // one file per key, in a temporary directory
	buf := partd.NewBuffer(partd.NewDict(), compress.Zstd(disk), 256<<20) // 256 MiB in memory; spills the largest keys, zstd-compressed
	rows := encode.Msgpack[Row](buf)                                      // msgpack rows
	defer rows.Close()                                                    // closes every layer, flushing the buffer

	rows.Append(map[string][]Row{"part-7": {{1, "ada"}, {2, "bo"}}})
	rows.Append(map[string][]Row{"part-7": {{3, "cy"}}, "part-9": {{4, "di"}}})
	got, _ := rows.Get("part-7")
	fmt.Println(got[0])
	// Output: [{1 ada} {2 bo} {3 cy}]
}
