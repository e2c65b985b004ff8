package redisstore_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gopartd/partd/redisstore"
)

// TestOptionsRefused: a bad option is the error of New and of Dial, never
// clamped to something else.
func TestOptionsRefused(t *testing.T) {
	for name, opt := range map[string]redisstore.Option{
		"WithTimeout(0)":          redisstore.WithTimeout(0),
		"WithTimeout(-1s)":        redisstore.WithTimeout(-time.Second),
		"WithPartSize(0)":         redisstore.WithPartSize(0),
		"WithPartSize(1023)":      redisstore.WithPartSize(1023),
		"WithPartSize(1 TiB)":     redisstore.WithPartSize(1 << 40), // over proto-max-bulk-len
		"WithInlineLimit(0)":      redisstore.WithInlineLimit(0),
		"WithWaitReplicas(0,-1s)": redisstore.WithWaitReplicas(0, -time.Second),
	} {
		if s, err := redisstore.New(client(t, redisAddr), newPrefix(), opt); err == nil {
			s.Close()
			t.Errorf("New accepted %s", name)
		}
		if s, err := redisstore.Dial(&redis.UniversalOptions{Addrs: []string{redisAddr}}, newPrefix(), opt); err == nil {
			s.Close()
			t.Errorf("Dial accepted %s", name)
		}
	}
	s, err := redisstore.New(client(t, redisAddr), newPrefix(), redisstore.WithPartSize(1024), redisstore.WithInlineLimit(1))
	must(t, err)
	if got := s.PartSize(); got != 1024 {
		t.Errorf("PartSize() = %d after WithPartSize(1024)", got)
	}
	must(t, s.Close())
}
