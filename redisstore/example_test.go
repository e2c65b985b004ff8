package redisstore_test

import (
	"errors"
	"fmt"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/redisstore"
	"github.com/redis/go-redis/v9"
)

func Example() {
	// redisAddr is the address of a Redis server, such as "localhost:6379".
	client := redis.NewClient(&redis.Options{Addr: redisAddr, ContextTimeoutEnabled: true})
	defer client.Close()
	store, err := redisstore.New(client, "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	_ = store.Append(map[string][]byte{"df/x": []byte("Hello, "), "df/y": []byte("1")})
	_ = store.Append(map[string][]byte{"df/x": []byte("world!")})
	vals, _ := store.Get("df/x", "missing")
	fmt.Printf("%q %q\n", vals[0], vals[1])

	keys, _ := store.Keys()
	fmt.Println(keys)

	// "df" cannot hold bytes beside "df/x": the whole batch is refused.
	err = store.Append(map[string][]byte{"df": []byte("no"), "other": []byte("no")})
	fmt.Println(errors.Is(err, partd.ErrInvalidKey))

	_ = store.Drop()
	keys, _ = store.Keys()
	fmt.Println(keys)
	// Output:
	// "Hello, world!" ""
	// [df/x df/y]
	// true
	// []
}

// A Buffer holds recent appends in memory and spills them to Redis
// through a zstd layer.
func Example_layers() {
	store, err := redisstore.Dial(&redis.UniversalOptions{Addrs: []string{redisAddr}}, "example-layers")
	if err != nil {
		fmt.Println(err)
		return
	}
	s := partd.NewBuffer(partd.NewDict(), compress.Zstd(store), 1<<20)
	defer s.Close() // closes the store, and the client Dial made

	_ = s.Append(map[string][]byte{"shuffle/0": []byte("rows of partition 0;")})
	_ = s.Append(map[string][]byte{"shuffle/0": []byte("more rows;")})
	vals, _ := s.Get("shuffle/0")
	fmt.Println(string(vals[0]))
	_ = s.Drop()
	// Output:
	// rows of partition 0;more rows;
}
