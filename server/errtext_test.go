package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/encode"
)

// TestErrorText checks error messages through every layer: one prefix per
// layer boundary, the key named once, and errors.Is unchanged. Before the
// fix they read "partd: partd: zstd: key …" and "partd/client: append:
// partd: server error (invalid-key): partd: append "x/y": partd: invalid
// key: …".
func TestErrorText(t *testing.T) {
	file, err := partd.NewFile(t.TempDir())
	must(t, err)
	defer file.Close()
	must(t, file.Append(map[string][]byte{"junk": []byte("not frames at all")}))
	c := dial(t, startServer(t, partd.NewDict(), "tcp://127.0.0.1:*").Addr())
	must(t, c.Append(map[string][]byte{"x": []byte("1"), "junk": []byte("garbage")}))

	errOf := func(_ any, err error) error { return err }
	cases := []struct {
		name string
		err  error
		is   error
		want string
	}{
		{"file bad key", file.Append(map[string][]byte{"a/../b": []byte("x")}), partd.ErrInvalidKey,
			`partd: key "a/../b": invalid key: key part is "." or ".."`},
		{"dict conflict", partd.NewDict().Append(map[string][]byte{"x": []byte("1"), "x/y": []byte("2")}), partd.ErrInvalidKey,
			`partd: key "x/y": invalid key: conflicts with key "x" in the same batch`},
		{"zstd bad key", compress.Zstd(file).Append(map[string][]byte{"x/..": []byte("x")}), partd.ErrInvalidKey,
			`partd: key "x/..": invalid key: key part is "." or ".."`},
		{"zstd corrupt", errOf(compress.Zstd(file).Get("junk")), partd.ErrCorrupt,
			`partd: zstd: key "junk": frame at byte 0 runs past the end of 17 bytes: corrupt data`},
		{"msgpack over snappy corrupt", errOf(encode.Msgpack[int](compress.Snappy(file)).Get("junk")), partd.ErrCorrupt,
			`partd: snappy: key "junk": frame at byte 0 runs past the end of 17 bytes: corrupt data`},
		{"client bad key", c.Append(map[string][]byte{"x/..": []byte("1")}), partd.ErrInvalidKey,
			`partd/client: append: server (invalid-key): key "x/..": invalid key: key part is "." or ".."`},
		{"client conflict", c.Append(map[string][]byte{"x/y": []byte("1")}), partd.ErrInvalidKey,
			`partd/client: append: server (invalid-key): append "x/y": invalid key: conflicts with stored key "x"`},
		{"zstd over client corrupt", errOf(compress.Zstd(c).Get("junk")), partd.ErrCorrupt,
			`partd: zstd: key "junk": frame at byte 0 runs past the end of 7 bytes: corrupt data`},
	}
	for _, tc := range cases {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		msg := tc.err.Error()
		if msg != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, msg, tc.want)
		}
		if !errors.Is(tc.err, tc.is) {
			t.Errorf("%s: errors.Is(%v) is false", tc.name, tc.is)
		}
		for _, p := range []string{"partd: partd", "partd: server", ": partd:", "store closed: store closed"} {
			if strings.Contains(msg, p) {
				t.Errorf("%s: %q repeats a prefix (%q)", tc.name, msg, p)
			}
		}
	}

	closed := compress.Zstd(file)
	file.Close()
	if err := closed.Append(map[string][]byte{"x": []byte("x")}); err == nil || err.Error() != "partd: append: store closed" || !errors.Is(err, partd.ErrClosed) {
		t.Errorf("append after close: %v", err)
	}
}
