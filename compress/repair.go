package compress

import (
	"fmt"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/frame"
)

// Repair cuts key's bytes in inner back to its whole frames, dropping a torn
// last frame (one that runs past the end of the data, as a crash in the
// middle of an append leaves it), and reports how many stored bytes it kept
// and dropped. It works below any layer of this package, and below Python
// partd's Encode layers, because it only reads the frame lengths: pass the
// store the layer wraps, not the layer. A key with nothing to drop is not
// written; a key left with no whole frame is deleted.
//
// Repair reads and then rewrites the key with inner.Set; an append to the key
// between the two is lost. Run it when nothing else writes the key, such as
// at recovery before the store is used.
//
// Repair does not decompress: a whole frame with damaged contents stays, and
// Get still reports it. [Salvage] finds those too.
func Repair(inner partd.Store, key string) (kept, dropped int64, err error) {
	raw, kept, dropped, err := tornTail(inner, key)
	if err != nil || dropped == 0 {
		return kept, dropped, err
	}
	if err := inner.Set(key, raw[:kept]); err != nil {
		return 0, 0, err
	}
	return kept, dropped, nil
}

// TornTail reports what Repair would do to key in inner, and writes
// nothing: how many stored bytes are whole frames, kept, and how many a
// torn last frame takes, dropped. A key with kept 0 and dropped above 0
// holds no whole frame: it may not be a framed key at all.
func TornTail(inner partd.Store, key string) (kept, dropped int64, err error) {
	_, kept, dropped, err = tornTail(inner, key)
	return kept, dropped, err
}

// tornTail reads key's stored bytes in inner and splits them into whole
// frames, raw[:kept], and a torn tail of dropped bytes.
func tornTail(inner partd.Store, key string) (raw []byte, kept, dropped int64, err error) {
	vs, err := inner.Get(key)
	if err != nil {
		return nil, 0, 0, err
	}
	raw = vs[0]
	_, n := frame.SplitPrefix(raw)
	return raw, int64(n), int64(len(raw) - n), nil
}

// Salvage returns what can still be read of key through s, a layer made by
// this package: the concatenated values of the frames before the first one
// that is torn or fails to decompress. It writes nothing. dropped counts the
// stored bytes it left out, from that frame on (summed over the layers when s
// wraps other layers of this package, each of which is salvaged first); for
// an intact key Salvage returns the same bytes as Get and dropped is 0.
//
// To keep only the readable part, write it back through the layer:
//
//	v, dropped, err := compress.Salvage(s, key)
//	if err == nil && dropped > 0 {
//		err = s.Set(key, v) // one frame holding every salvaged value
//	}
//
// A store s not made by this package is an error.
func Salvage(s partd.Store, key string) (value []byte, dropped int64, err error) {
	l, ok := s.(*layer)
	if !ok {
		return nil, 0, fmt.Errorf("partd: salvage %q: %T is not a compression layer", key, s)
	}
	if err := l.unusable("salvage"); err != nil {
		return nil, 0, err
	}
	var raw []byte
	if _, ok := l.inner.(*layer); ok {
		raw, dropped, err = Salvage(l.inner, key)
	} else {
		var vs [][]byte
		vs, err = l.inner.Get(key)
		if err == nil {
			raw = vs[0]
		}
	}
	if err != nil {
		return nil, 0, err
	}
	frames, n := frame.SplitPrefix(raw)
	off := 0 // start of frames[i] in raw
	for i, f := range frames {
		v, err := l.decodeFrames(key, frames[i:i+1])
		if err != nil {
			return value, dropped + int64(len(raw)-off), nil
		}
		value = append(value, v...)
		off += frame.HeaderLen + len(f)
	}
	return value, dropped + int64(len(raw)-n), nil
}
