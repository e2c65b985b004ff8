package arrowstore_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/gopartd/partd"
	"github.com/gopartd/partd/arrowstore"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/server"
)

// rows makes a batch of (key, city) rows from JSON.
func rows(json string) arrow.RecordBatch {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "key", Type: arrow.PrimitiveTypes.Int64},
		{Name: "city", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, sc, strings.NewReader(json))
	if err != nil {
		log.Fatal(err)
	}
	return rec
}

// A shuffle's spill: batches are split by the hash of a column into
// partitions, each appended to its own key of a Buffer that keeps 256 MiB
// in off-heap memory and spills the largest keys to a Log on disk. A
// reducer then streams each partition back.
func Example() {
	dir, err := os.MkdirTemp("", "arrowstore-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	disk, err := partd.NewLog(dir)
	if err != nil {
		log.Fatal(err)
	}
	s, err := arrowstore.New(partd.NewBuffer(partd.NewOffHeapDict(), disk, 256<<20))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // closes the Buffer, which closes the Log

	ctx := context.Background()
	for _, batch := range []arrow.RecordBatch{
		rows(`[{"key": 1, "city": "Lyon"}, {"key": 2, "city": "Oslo"}, {"key": 3, "city": null}]`),
		rows(`[{"key": 3, "city": "Lima"}, {"key": 1, "city": "Pune"}]`),
	} {
		parts, err := arrowstore.Partition(ctx, batch, 2, "key")
		if err != nil {
			log.Fatal(err)
		}
		if err := s.Append(map[string][]arrow.RecordBatch{"part-0": parts[:1], "part-1": parts[1:]}); err != nil {
			log.Fatal(err)
		}
		for _, p := range parts {
			p.Release()
		}
		batch.Release()
	}

	for _, key := range []string{"part-0", "part-1"} {
		r, err := s.Reader(key)
		if err != nil {
			log.Fatal(err)
		}
		for r.Next() {
			rec := r.RecordBatch()
			keys, cities := rec.Column(0).(*array.Int64), rec.Column(1).(*array.String)
			for i := range int(rec.NumRows()) {
				fmt.Printf("%s: %d %s\n", key, keys.Value(i), cities.ValueStr(i))
			}
		}
		if err := r.Err(); err != nil {
			log.Fatal(err)
		}
		r.Release()
	}
	// Output:
	// part-0: 1 Lyon
	// part-0: 1 Pune
	// part-1: 2 Oslo
	// part-1: 3 (null)
	// part-1: 3 Lima
}

// Many processes share one store through a partd server: here the
// server runs over a Log in this process, and the Arrow layer wraps a
// client, as a worker process would.
func Example_client() {
	dir, err := os.MkdirTemp("", "arrowstore-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	disk, err := partd.NewLog(filepath.Join(dir, "log"))
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(disk, "ipc://"+filepath.Join(dir, "partd.sock"),
		server.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()

	c, err := client.Dial(srv.Addr())
	if err != nil {
		log.Fatal(err)
	}
	s, err := arrowstore.New(c, arrowstore.WithCompression(arrowstore.Zstd))
	if err != nil {
		log.Fatal(err)
	}
	batch := rows(`[{"key": 7, "city": "Quito"}, {"key": 8, "city": "Riga"}]`)
	if err := s.Append(map[string][]arrow.RecordBatch{"df/part-7": {batch, batch}}); err != nil {
		log.Fatal(err)
	}
	batch.Release()

	tbl, err := s.Table("df/part-7")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tbl.NumRows(), "rows of", tbl.Schema().Field(1).Name)
	tbl.Release()

	s.Close() // closes the client; the server keeps serving
	if err := srv.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("Serve:", <-served)
	// Output:
	// 4 rows of city
	// Serve: <nil>
}
