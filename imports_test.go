package partd_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportGraph keeps the layers in order: the low-level packages under
// internal/ import nothing of the module above them (not even the root
// package), and the root package,
// compress, encode and partdtest build without cgo (server, client and
// cmd/partd use libzmq only where cgo is on: see TestPureGoBuild).
func TestImportGraph(t *testing.T) {
	goList := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("go", append([]string{"list"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	const mod = "github.com/gopartd/partd/"
	above := []string{"compress", "encode", "client", "server", "storeuri", "cmd"}
	for line := range strings.Lines(goList("-f", "{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}", "./internal/...")) {
		pkg, imports, _ := strings.Cut(strings.TrimSpace(line), ":")
		for imp := range strings.FieldsSeq(imports) {
			if imp == strings.TrimSuffix(mod, "/") {
				t.Errorf("%s imports the root package (internal/errs holds its sentinel errors)", pkg)
			}
			for _, a := range above {
				if imp == mod+a || strings.HasPrefix(imp, mod+a+"/") {
					t.Errorf("%s imports %s, a layer above it", pkg, imp)
				}
			}
		}
	}
	if cgo := strings.TrimSpace(goList("-deps", "-f", "{{if .CgoFiles}}{{.ImportPath}}{{end}}", ".", "./compress", "./encode", "./partdtest")); cgo != "" {
		t.Errorf("the root package, compress, encode or partdtest depend on cgo packages:\n%s", cgo)
	}
}

// TestStoreURIDeps: a program that opens mem://, file:// and log:// URIs
// compiles neither ZeroMQ nor go-redis nor Prometheus: package storeuri
// depends on none of them (the packages that implement the other schemes
// register them).
func TestStoreURIDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./storeuri").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./storeuri: %v\n%s", err, out)
	}
	for _, bad := range []string{"github.com/pebbe/zmq4", "github.com/redis/go-redis/", "github.com/prometheus/",
		"github.com/gopartd/partd/client", "github.com/gopartd/partd/redisstore", "github.com/gopartd/partd/internal/zmtp"} {
		for line := range strings.Lines(string(out)) {
			if strings.HasPrefix(strings.TrimSpace(line), strings.TrimSuffix(bad, "/")) {
				t.Errorf("go list -deps ./storeuri lists %s", strings.TrimSpace(line))
			}
		}
	}
}

// TestPureGoBuild: without cgo the command line, the server and the client
// use the pure-Go ZMTP of internal/zmtp, and nothing links libzmq.
func TestPureGoBuild(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./cmd/partd")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("CGO_ENABLED=0 go list -deps ./cmd/partd: %v\n%s", err, out)
	}
	deps := string(out)
	if strings.Contains(deps, "github.com/pebbe/zmq4") || !strings.Contains(deps, "github.com/gopartd/partd/internal/zmtp\n") {
		t.Errorf("CGO_ENABLED=0 go list -deps ./cmd/partd:\n%s", deps)
	}
}
