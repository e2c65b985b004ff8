package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// repoFile matches a file of the repository named in a help text:
// WORKLOADS.md, scripts/deps.sh.
var repoFile = regexp.MustCompile(`(?:^|[\s(\x60"'])((?:[\w.-]+/)*[\w-][\w.-]*\.(?:md|go|py|sh|txt|json|toml|yaml))\b`)

// knownBroken are references that a help text owned elsewhere still makes
// and that are being fixed there: each must still appear (else remove it
// here), and is not an error meanwhile.
var knownBroken = map[string]string{}

// TestHelpLinks: every file of the repository that a command's help names
// (its short and long text, examples and flags) exists, inside the
// repository.
func TestHelpLinks(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		texts := []string{c.Short, c.Long, c.Example}
		c.Flags().VisitAll(func(f *pflag.Flag) { texts = append(texts, f.Usage) })
		for _, text := range texts {
			for _, m := range repoFile.FindAllStringSubmatch(text, -1) {
				name := m[1]
				if _, ok := knownBroken[name]; ok {
					seen[name] = true
					continue
				}
				path := filepath.Join(root, filepath.FromSlash(name))
				rel, err := filepath.Rel(root, path)
				if err == nil && !strings.HasPrefix(rel, "..") {
					_, err = os.Stat(path)
				}
				if err != nil || strings.HasPrefix(rel, "..") {
					t.Errorf("%s --help names %s, which is not in the repository", c.CommandPath(), name)
				}
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	for name, where := range knownBroken {
		if !seen[name] {
			t.Errorf("no help names %s any more (%s): remove it from knownBroken", name, where)
		}
	}
}
