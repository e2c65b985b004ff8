package redisstore

import (
	"fmt"
	"strings"

	"github.com/gopartd/partd"
)

// The names of a namespace NS, for a key K whose first tuple part is F
// ("df" for "df/x"), with TAG = "{" + F escaped + "}" (F with "%" as "%25"
// and "}" as "%7D", so the hash tag is never empty or cut short):
//
//	NS:d TAG K           the key's bytes (a string), or its manifest (a list)
//	NS:x TAG K \0 ID     one part of a key held in several parts
//	NS:c TAG P           how many keys are stored under the tuple prefix P
//	NS:s TAG ID          a chunk staged for an Append not yet committed (expires)
//	NS:o TAG ID          an Append already applied, against a replay (expires)
//
// Everything a key's conflicts and writes touch shares its hash tag, so it is
// in one cluster slot and one script sees it all atomically. The fast path of
// Append (fastScript) also uses staged names, ID.g and ID.hN, which exist only
// inside its MULTI … EXEC.

const (
	kindData    = 'd'
	kindPart    = 'x'
	kindCount   = 'c'
	kindStaged  = 's'
	kindApplied = 'o'
)

// maxPrefixLen is the longest namespace name.
const maxPrefixLen = 64

// ValidatePrefix reports what is wrong with a namespace name, or nil if
// New accepts it: 1 to 64 letters, digits and "_-.:".
func ValidatePrefix(ns string) error {
	if ns == "" || len(ns) > maxPrefixLen {
		return fmt.Errorf("redisstore: namespace %q: want 1 to %d characters", ns, maxPrefixLen)
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '_' || c == '-' || c == '.' || c == ':') {
			return fmt.Errorf("redisstore: namespace %q: only letters, digits and _ - . : are allowed", ns)
		}
	}
	return nil
}

// firstPart returns the first tuple part of key.
func firstPart(key string) string {
	if i := strings.IndexByte(key, '/'); i >= 0 {
		return key[:i]
	}
	return key
}

// tagOf returns the hash tag of key: "{" + its first part escaped + "}".
func tagOf(key string) string {
	f := firstPart(key)
	if !strings.ContainsAny(f, "%}") {
		return "{" + f + "}"
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case '%':
			b.WriteString("%25")
		case '}':
			b.WriteString("%7D")
		default:
			b.WriteByte(f[i])
		}
	}
	b.WriteByte('}')
	return b.String()
}

// name returns the Redis name of kind for rest (a key, a prefix or an id)
// under tag.
func (s *Store) name(kind byte, tag, rest string) string {
	var b strings.Builder
	b.Grow(len(s.ns) + 2 + len(tag) + len(rest))
	b.WriteString(s.ns)
	b.WriteByte(':')
	b.WriteByte(kind)
	b.WriteString(tag)
	b.WriteString(rest)
	return b.String()
}

// dataName returns the name holding key's bytes or manifest.
func (s *Store) dataName(key string) string { return s.name(kindData, tagOf(key), key) }

// partName returns the name of the part id of key.
func (s *Store) partName(key, id string) string {
	return s.name(kindPart, tagOf(key), key+"\x00"+id)
}

// keyOf returns the key a data name holds, and false if the name is not one
// this namespace writes.
func (s *Store) keyOf(name string) (string, bool) {
	head := s.ns + ":" + string(rune(kindData)) + "{"
	rest, ok := strings.CutPrefix(name, head)
	if !ok {
		return "", false
	}
	i := strings.IndexByte(rest, '}')
	if i < 0 {
		return "", false
	}
	key := rest[i+1:]
	if partd.ValidateKey(key) != nil || tagOf(key) != "{"+rest[:i+1] {
		return "", false
	}
	return key, true
}
