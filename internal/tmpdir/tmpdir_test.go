package tmpdir

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopartd/partd/partdtest"
)

func TestMain(m *testing.M) {
	partdtest.MainWithHelpers(m, nil, map[string]partdtest.Helper{
		// make: creates a directory in args[0], prints its path and
		// waits to be killed.
		"make": func(args []string) error {
			d, err := Make(args[0], "partd-test-*")
			if err != nil {
				return err
			}
			os.WriteFile(filepath.Join(d.Path, "data"), []byte("left behind"), 0o644)
			os.Stdout.WriteString(d.Path + "\n")
			select {}
		},
	})
}

// TestSweep: a directory whose owner process was SIGKILLed is removed by
// the next Sweep; one whose owner lives (this process), one that was
// unlocked and one without a lock file stay.
func TestSweep(t *testing.T) {
	parent := t.TempDir()
	cmd := partdtest.StartHelper("make", parent)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	dead := strings.TrimSpace(line)

	live, err := Make(parent, "partd-test-*")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Remove()
	unlocked, err := Make(parent, "partd-test-*")
	if err != nil {
		t.Fatal(err)
	}
	if err := unlocked.Unlock(); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(parent, "partd-test-foreign")
	if err := os.Mkdir(foreign, 0o755); err != nil {
		t.Fatal(err)
	}

	// The owner is alive: nothing goes.
	if removed, err := Sweep(parent, "partd-test-*"); err != nil || len(removed) != 0 {
		t.Fatalf("Sweep with every owner alive = %q, %v", removed, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	removed, err := Sweep(parent, "partd-test-*")
	if err != nil || len(removed) != 1 || removed[0] != dead {
		t.Fatalf("Sweep after the kill = %q, %v; want [%s]", removed, err, dead)
	}
	for _, dir := range []string{live.Path, unlocked.Path, foreign} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("%s is still there: %v", dead, err)
	}
	if err := live.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live.Path); !os.IsNotExist(err) {
		t.Errorf("Remove left %s", live.Path)
	}
}
