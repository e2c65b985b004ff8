package dfshuffle_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDuckDBOnlyInTests: DuckDB is linked into this package's tests, never
// into the engine or the partd binary.
func TestDuckDBOnlyInTests(t *testing.T) {
	for _, pkg := range []string{"github.com/gopartd/partd/cmd/partd/internal/dfshuffle", "github.com/gopartd/partd/cmd/partd"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for dep := range strings.Lines(string(out)) {
			if strings.Contains(dep, "duckdb") {
				t.Errorf("%s depends on %s", pkg, strings.TrimSpace(dep))
			}
		}
	}
}
