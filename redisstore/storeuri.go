package redisstore

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/storeuri"
)

// The redis:// and redis-cluster:// schemes of package storeuri are stores
// of this package: it registers them, so that a program that does not import
// it does not compile go-redis.
func init() {
	d := storeuri.Driver{Open: openURI, Check: checkURI}
	storeuri.Register("redis", d)
	storeuri.Register("redis-cluster", d)
}

// checkURI checks the namespace and the replicas a Spec asks for, and
// names the namespace DefaultPrefix if it names none.
func checkURI(s *storeuri.Spec) error {
	if s.Prefix == "" {
		s.Prefix = DefaultPrefix
	}
	if err := ValidatePrefix(s.Prefix); err != nil {
		return err
	}
	if s.Wait > MaxWaitReplicas {
		return fmt.Errorf("wait: %q is not a number of replicas from 0 to %d", fmt.Sprint(s.Wait), MaxWaitReplicas)
	}
	return nil
}

// openURI dials the Redis server or cluster of a Spec, with the Options'
// timeout (DefaultTimeout if 0).
func openURI(s storeuri.Spec, o storeuri.Options) (partd.Store, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	r, err := Dial(&redis.UniversalOptions{
		Addrs:         strings.Split(s.Addr, ","),
		IsClusterMode: s.Scheme == "redis-cluster",
		Username:      s.User,
		Password:      s.Password,
		DB:            s.DB,
	}, cmp.Or(s.Prefix, DefaultPrefix), WithTimeout(timeout), WithWaitReplicas(s.Wait, s.WaitTimeout))
	if err != nil {
		return nil, fmt.Errorf("storeuri: opening %s://%s: %w", s.Scheme, s.Addr, err)
	}
	return r, nil
}
