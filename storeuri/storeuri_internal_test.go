package storeuri

import (
	"errors"
	"strings"
	"testing"
)

// TestUnregisteredScheme: a scheme whose package is not linked in is an
// error that names the import.
func TestUnregisteredScheme(t *testing.T) {
	driversMu.Lock()
	saved := drivers
	drivers = map[string]Driver{}
	driversMu.Unlock()
	defer func() {
		driversMu.Lock()
		drivers = saved
		driversMu.Unlock()
	}()
	for uri, pkg := range map[string]string{
		"tcp://h:1":           "github.com/gopartd/partd/client",
		"redis-cluster://h:1": "github.com/gopartd/partd/redisstore",
	} {
		_, err := Parse(uri)
		if !errors.Is(err, ErrBadURI) || !strings.Contains(err.Error(), `import _ "`+pkg+`"`) {
			t.Errorf("Parse(%q) without its driver: %v", uri, err)
		}
		_, err = Spec{Scheme: strings.Split(uri, ":")[0], Addr: "h:1"}.Open(nil)
		if !errors.Is(err, ErrBadURI) || !strings.Contains(err.Error(), pkg) {
			t.Errorf("Open of %q without its driver: %v", uri, err)
		}
	}
}
