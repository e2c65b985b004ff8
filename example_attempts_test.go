package partd_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/gopartd/partd"
)

// A map task runs twice (its first worker was thought dead); readers see
// its output once. The Attempts sit over a Buffer over a Log, under a disk
// quota.
func ExampleAttempts() {
	dir, _ := os.MkdirTemp("", "partd-example-")
	defer os.RemoveAll(dir)
	log, _ := partd.NewLog(dir)
	quota, _ := partd.NewQuota(partd.NewBuffer(partd.NewDict(), log, 64<<20), 10<<30)
	store, _ := partd.NewAttempts(quota)
	defer store.Close()

	first, _ := store.Attempt("map-3", 0)
	again, _ := store.Attempt("map-3", 1)
	first.Append(1, map[string][]byte{"part-0": []byte("rows of map-3;")})
	first.Append(1, map[string][]byte{"part-0": []byte("rows of map-3;")}) // a retry: applied once
	again.Append(1, map[string][]byte{"part-0": []byte("rows of map-3;")})

	fmt.Println(first.Commit())
	fmt.Println(errors.Is(again.Commit(), partd.ErrAttemptLost))
	vals, _ := store.Get("part-0")
	fmt.Printf("%s\n", vals[0])
	// Output:
	// <nil>
	// true
	// rows of map-3;
}
