package partd_test

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
)

// snippetImports are the packages a README fragment may use without
// importing them: the test adds the imports a fragment needs.
var snippetImports = map[string]string{
	"partd":    "github.com/gopartd/partd",
	"compress": "github.com/gopartd/partd/compress",
	"encode":   "github.com/gopartd/partd/encode",
	"server":   "github.com/gopartd/partd/server",
	"client":   "github.com/gopartd/partd/client",
	"fmt":      "fmt",
	"log":      "log",
	"time":     "time",
}

// TestReadme builds README.md's Go snippets in a fresh module that requires
// this repository through a replace directive, with the repository's own
// requirements and go.sum (so the module cache the repository uses is
// enough). The composition snippet is a whole program: it is run and must
// print what its fmt.Println comments say. The server snippet is a fragment:
// it is compiled inside func main, with the imports it uses added.
func TestReadme(t *testing.T) {
	if testing.Short() {
		t.Skip("builds programs with the go command")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to check README.md: %v", err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	mod := snippetModule(t)
	goRun := func(t *testing.T, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goCmd, args...)
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "GOWORK=off")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("go %s: %v\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
		}
		return stdout.String()
	}

	t.Run("composition", func(t *testing.T) {
		src := goBlock(t, readme, "## Thirty seconds of composition")
		if !strings.HasPrefix(src, "package main\n") {
			t.Fatalf("the composition snippet should be a whole program (package main):\n%s", src)
		}
		checkFormatted(t, src, src)
		var want strings.Builder
		for line := range strings.Lines(src) {
			if _, comment, ok := strings.Cut(line, "fmt.Println("); ok {
				if _, out, ok := strings.Cut(comment, "// "); ok {
					want.WriteString(out)
				}
			}
		}
		if want.Len() == 0 {
			t.Fatal("the composition snippet has no `fmt.Println(...) // output` line to check")
		}
		writeSnippet(t, mod, "composition", src)
		if got := goRun(t, "run", "-mod=mod", "./composition"); got != want.String() {
			t.Errorf("the composition snippet printed\n%swant (from its comments)\n%s", got, want.String())
		}
	})

	t.Run("server", func(t *testing.T) {
		src := goBlock(t, readme, "## The server in three lines")
		prog := wrapFragment(t, src)
		checkFormatted(t, src, prog)
		writeSnippet(t, mod, "server", prog)
		goRun(t, "build", "-mod=mod", "-o", os.DevNull, "./server")
	})
}

// snippetModule writes a module in a temporary directory with this
// repository's go.mod (renamed, so it has the same requirements and Go
// version), a requirement of this module replaced by this directory, and
// this repository's go.sum.
func snippetModule(t *testing.T) string {
	t.Helper()
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	moduleLine := regexp.MustCompile(`(?m)^module\s+(\S+)\s*$`)
	m := moduleLine.FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no module line")
	}
	self := string(m[1])
	gomod = moduleLine.ReplaceAll(gomod, []byte("module example.com/readme"))
	gomod = fmt.Appendf(gomod, "\nrequire %s v0.0.0\n\nreplace %s => %s\n", self, self, strconv.Quote(root))
	gosum, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"go.mod": gomod, "go.sum": gosum} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// goBlock returns the first ```go block after the line heading in readme.
func goBlock(t *testing.T, readme []byte, heading string) string {
	t.Helper()
	_, rest, ok := strings.Cut(string(readme), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no heading %q", heading)
	}
	if next := strings.Index(rest, "\n## "); next >= 0 {
		rest = rest[:next]
	}
	_, block, ok := strings.Cut(rest, "\n```go\n")
	if !ok {
		t.Fatalf("README.md section %q has no ```go block", heading)
	}
	block, _, ok = strings.Cut(block, "\n```")
	if !ok || strings.TrimSpace(block) == "" {
		t.Fatalf("README.md section %q: unterminated or empty ```go block", heading)
	}
	return block + "\n"
}

// wrapFragment makes a program of statements: package main, the imports of
// snippetImports that src uses, and src as the body of main.
func wrapFragment(t *testing.T, src string) string {
	t.Helper()
	var body strings.Builder
	for line := range strings.Lines(src) {
		if strings.TrimSpace(line) != "" {
			body.WriteString("\t")
		}
		body.WriteString(line)
	}
	prog := "package main\n\nfunc main() {\n" + body.String() + "}\n"
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", prog, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("README snippet does not parse as the body of main: %v\n%s", err, src)
	}
	var paths []string
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				if p, ok := snippetImports[id.Name]; ok && !slices.Contains(paths, p) {
					paths = append(paths, p)
				}
			}
		}
		return true
	})
	slices.Sort(paths)
	var imports strings.Builder
	if len(paths) > 0 {
		imports.WriteString("import (\n")
		for _, p := range paths {
			fmt.Fprintf(&imports, "\t%q\n", p)
		}
		imports.WriteString(")\n\n")
	}
	return "package main\n\n" + imports.String() + "func main() {\n" + body.String() + "}\n"
}

// checkFormatted reports README snippet src as not gofmt-clean if prog, the
// program made of it, changes under gofmt.
func checkFormatted(t *testing.T, src, prog string) {
	t.Helper()
	formatted, err := format.Source([]byte(prog))
	if err != nil {
		t.Errorf("README snippet does not parse: %v\n%s", err, src)
		return
	}
	if string(formatted) != prog {
		t.Errorf("README snippet is not gofmt-clean; as a program, gofmt makes it\n%s", formatted)
	}
}

func writeSnippet(t *testing.T, mod, pkg, src string) {
	t.Helper()
	dir := filepath.Join(mod, pkg)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReadmeLinks: every relative link of README.md ([text](target) and
// [label]: target, outside code) names a file or directory of the
// repository, never one outside it, and every #anchor a heading of the
// file it points into; every *.md file the text names exists.
func TestReadmeLinks(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range brokenLinks(t, ".", "README.md", string(readme)) {
		t.Error(p)
	}
}

var (
	fencedCode = regexp.MustCompile("(?ms)^\\s*```.*?^\\s*```")
	inlineCode = regexp.MustCompile("`[^`\n]*`")
	inlineLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	refLink    = regexp.MustCompile(`(?m)^\s*\[[^\]]+\]:\s*(\S+)`)
	mdFile     = regexp.MustCompile(`(?:^|[\s(\x60"'])((?:[\w.-]+/)*[\w.-]+\.md)\b`)
	heading    = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`)
)

// brokenLinks returns what is wrong with the relative links of text, the
// Markdown file name in the repository whose root is root.
func brokenLinks(t *testing.T, root, name, text string) []string {
	t.Helper()
	absRoot, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	prose := inlineCode.ReplaceAllString(fencedCode.ReplaceAllString(text, ""), "")
	var targets []string
	for _, m := range inlineLink.FindAllStringSubmatch(prose, -1) {
		targets = append(targets, m[1])
	}
	for _, m := range refLink.FindAllStringSubmatch(prose, -1) {
		targets = append(targets, m[1])
	}
	var problems []string
	for _, target := range targets {
		if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		file, anchor, _ := strings.Cut(target, "#")
		path := filepath.Join(filepath.Dir(filepath.Join(absRoot, name)), filepath.FromSlash(file))
		if file == "" {
			path = filepath.Join(absRoot, name)
		}
		if rel, err := filepath.Rel(absRoot, path); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			problems = append(problems, fmt.Sprintf("%s: link %q leads outside the repository", name, target))
			continue
		}
		st, err := os.Stat(path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: link %q: %v", name, target, err))
			continue
		}
		if anchor != "" && !st.IsDir() && strings.HasSuffix(path, ".md") {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(anchors(string(b)), anchor) {
				problems = append(problems, fmt.Sprintf("%s: link %q: no heading makes the anchor #%s", name, target, anchor))
			}
		}
	}
	// Files named in the text, not linked ("see WORKLOADS.md").
	for _, m := range mdFile.FindAllStringSubmatch(fencedCode.ReplaceAllString(text, ""), -1) {
		if strings.Contains(m[0], "://") {
			continue
		}
		path := filepath.Join(absRoot, filepath.FromSlash(m[1]))
		rel, err := filepath.Rel(absRoot, path)
		if err == nil && !strings.HasPrefix(rel, "..") {
			_, err = os.Stat(path)
		}
		if err != nil || strings.HasPrefix(rel, "..") {
			problems = append(problems, fmt.Sprintf("%s: names %s, which is not in the repository", name, m[1]))
		}
	}
	return problems
}

// anchors returns the anchors GitHub gives the headings of a Markdown
// text: lower case, spaces as hyphens, punctuation but hyphens and
// underscores dropped.
func anchors(text string) []string {
	var out []string
	for _, m := range heading.FindAllStringSubmatch(fencedCode.ReplaceAllString(text, ""), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		out = append(out, b.String())
	}
	return out
}
