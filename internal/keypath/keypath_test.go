package keypath

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestEncodeExamples(t *testing.T) {
	for key, want := range map[string]string{
		"plain":         "plain",
		"df/col":        "df/col",
		"a!":            "%a%21",
		"a?":            "%a%3F",
		"with space":    "with space",
		"f(x) (2)":      "f(x) (2)",
		"a b!":          "%a b%21",
		" lead":         " lead",
		".lock":         "%.lock",
		"%":             "%%25",
		"日本":            "%日本",
		"x/.hidden/y-1": "x/%.hidden/y-1",
	} {
		if got := Encode(key); got != want {
			t.Errorf("Encode(%q) = %q, want %q", key, got, want)
		}
		if back, ok := Decode(want); !ok || back != key {
			t.Errorf("Decode(%q) = %q, %v; want %q", want, back, ok, key)
		}
	}
}

func TestDecodeRejectsForeignNames(t *testing.T) {
	for _, name := range []string{".lock", ".tmp-0123", "%", "%a%2", "%a%zz", "%a%41", "%plain", "%a%20b", "%f%28x%29", "a!b", "a/.x", "", "a//b"} {
		if k, ok := Decode(name); ok {
			t.Errorf("Decode(%q) = %q, want no key", name, k)
		}
	}
}

func TestValidate(t *testing.T) {
	good := []string{"a", "a/b", "..a", "a..", "日本", strings.Repeat("x", 255), "a b/c!d"}
	bad := []string{"", "/", "a/", "/a", "a//b", ".", "..", "a/../b", "a\x00b", "\xff", strings.Repeat("x", 256),
		strings.Repeat("!", 85), strings.Repeat("ab/", 1400)}
	for _, k := range good {
		if err := Validate(k); err != nil {
			t.Errorf("Validate(%q) = %v, want nil", k, err)
		}
	}
	for _, k := range bad {
		if Validate(k) == nil {
			t.Errorf("Validate(%.40q) = nil, want an error", k)
		}
	}
}

func TestTreeConflicts(t *testing.T) {
	tr := NewTree()
	tr.Add("a/b/c")
	tr.Add("x")
	for k, want := range map[string]bool{"a": true, "a/b": true, "a/b/c/d": true, "a/b/c": false, "a/b/d": false, "x": false, "x/y": true, "y": false} {
		if got := tr.Conflict(k) != ""; got != want {
			t.Errorf("Conflict(%q) = %v, want %v", k, got, want)
		}
	}
	tr.Remove("a/b/c")
	if c := tr.Conflict("a"); c != "" {
		t.Errorf("after Remove, Conflict(a) = %q", c)
	}
}

// FuzzKeyPath proves that every valid key maps to a local path of plain or
// escaped names that decodes back to the key, so no key can name a path
// outside the store or another key's file.
func FuzzKeyPath(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../etc/passwd", "q/../../etc/hostname", ".lock", "a!", "%41", "x/./y", "日本/語", "-|-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if Validate(key) != nil {
			return
		}
		p := Encode(key)
		if !filepath.IsLocal(p) || filepath.Clean(p) != p {
			t.Fatalf("key %q maps to non-local path %q", key, p)
		}
		for _, name := range strings.Split(p, "/") {
			if len(name) > MaxNameLen || strings.HasPrefix(name, ".") || name == "" {
				t.Fatalf("key %q maps to bad name %q", key, name)
			}
		}
		back, ok := Decode(p)
		if !ok || back != key {
			t.Fatalf("Decode(Encode(%q)) = %q, %v", key, back, ok)
		}
	})
}
