package partd_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportGraph keeps the layers in order: the low-level packages under
// internal/ import nothing of the module above them (not even the root
// package), and the root package,
// compress, encode and partdtest build without cgo (only server, client,
// storeuri and cmd/partd need libzmq).
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
