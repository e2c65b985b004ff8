package shuffle

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/arrowstore"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/encode"
)

// Format is how partitions are stored.
type Format string

// The formats.
const (
	// Msgpack stores each appended batch of a partition as one msgpack frame
	// of rows (encode.Msgpack), the format of Python's partd.Python.
	Msgpack Format = "msgpack"
	// Columns stores each partition as a table with columns id, key, value
	// and name (encode.Columns), readable by Python's partd.Numpy.
	Columns Format = "columns"
	// Arrow stores each appended batch of a partition as one Arrow IPC
	// stream with columns id, key, value and name (arrowstore), readable by
	// any Arrow stream reader.
	Arrow Format = "arrow"
)

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case Msgpack, Columns, Arrow:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want msgpack, columns or arrow)", s)
}

// Layers is the stack a mapper or reducer works through, built over a raw
// store (a client of the server, or a File store).
type Layers struct {
	raw     partd.Store
	counter *Counter
	rows    *encode.Encoded[[]Row]
	table   *encode.Columns
	batches *arrowstore.Store

	writeAs  *Attempt  // where Append writes; nil: the partitions' own keys
	readFrom []Attempt // what Get reads; nil: the partitions' own keys
}

// Attempt is one attempt of one mapper: each writes keys of its own
// (AttemptKey), so that a reducer reads exactly one attempt of each worker
// whatever a killed one left behind.
type Attempt struct{ Worker, Try int }

// AttemptKey is the key under which attempt a keeps its rows of partition
// p: PartitionKey(p) followed by /wWWWW-aAAAA.
func AttemptKey(p int, a Attempt) string {
	return fmt.Sprintf("%s/w%04d-a%04d", PartitionKey(p), a.Worker, a.Try)
}

// WriteAs has l's Appends go to the keys of attempt a (AttemptKey).
func (l *Layers) WriteAs(a Attempt) { l.writeAs = &a }

// ReadFrom has l's Gets read, for each partition, the keys the attempts
// wrote, in their order, as one partition; nil reads the partitions' own
// keys.
func (l *Layers) ReadFrom(attempts []Attempt) { l.readFrom = attempts }

// writeKey is the key Append writes partition p's rows to.
func (l *Layers) writeKey(p int) string {
	if l.writeAs != nil {
		return AttemptKey(p, *l.writeAs)
	}
	return PartitionKey(p)
}

// readKeys are the keys Get reads for partition p.
func (l *Layers) readKeys(p int) []string {
	if l.readFrom == nil {
		return []string{PartitionKey(p)}
	}
	keys := make([]string, len(l.readFrom))
	for i, a := range l.readFrom {
		keys[i] = AttemptKey(p, a)
	}
	return keys
}

// NewLayers wraps raw in an optional compression layer, a Counter that
// measures the encoded bytes appended and read, and the format's encoding.
// Close closes every layer, raw included.
func NewLayers(raw partd.Store, format Format, comp compress.Setting) (*Layers, error) {
	inner, err := comp.Wrap(raw)
	if err != nil {
		return nil, err
	}
	l := &Layers{raw: raw, counter: &Counter{Store: inner}}
	switch format {
	case Msgpack:
		l.rows = encode.Msgpack[Row](l.counter)
	case Columns:
		l.table = encode.NewColumns(l.counter)
	case Arrow:
		if l.batches, err = arrowstore.New(l.counter, arrowstore.WithSchema(rowSchema)); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown format %q", format)
	}
	return l, nil
}

// Counter returns the byte counter between the encoding and the compression.
func (l *Layers) Counter() *Counter { return l.counter }

// Close closes the layers and the raw store.
func (l *Layers) Close() error {
	switch {
	case l.rows != nil:
		return l.rows.Close()
	case l.batches != nil:
		return l.batches.Close()
	}
	return l.table.Close()
}

// Append appends each partition's rows.
func (l *Layers) Append(parts map[int][]Row) error {
	if l.rows != nil {
		m := make(map[string][]Row, len(parts))
		for p, rows := range parts {
			m[l.writeKey(p)] = rows
		}
		return l.rows.Append(m)
	}
	if l.batches != nil {
		return l.appendBatches(parts)
	}
	m := make(map[string]encode.Table, len(parts))
	for p, rows := range parts {
		m[l.writeKey(p)] = toTable(rows)
	}
	return l.table.Append(m)
}

// Get reads the rows of the given partitions (of the attempts ReadFrom
// names, one after another).
func (l *Layers) Get(parts ...int) ([][]Row, error) {
	var keys []string
	var owner []int // owner[i]: the index in parts of the partition keys[i] holds
	for i, p := range parts {
		for _, k := range l.readKeys(p) {
			keys, owner = append(keys, k), append(owner, i)
		}
	}
	got, err := l.getKeys(keys, func(i int) int { return parts[owner[i]] })
	if err != nil {
		return nil, err
	}
	out := make([][]Row, len(parts))
	for i, rows := range got {
		out[owner[i]] = append(out[owner[i]], rows...)
	}
	return out, nil
}

// getKeys reads the rows of each key; part(i) is the partition of keys[i].
func (l *Layers) getKeys(keys []string, part func(i int) int) ([][]Row, error) {
	if l.rows != nil {
		return l.rows.Get(keys...)
	}
	if l.batches != nil {
		return l.getBatches(keys, part)
	}
	tables, err := l.table.Get(keys...)
	if err != nil {
		return nil, err
	}
	out := make([][]Row, len(tables))
	for i, t := range tables {
		if out[i], err = fromTable(t); err != nil {
			return nil, fmt.Errorf("partition %d: %w", part(i), err)
		}
	}
	return out, nil
}

func toTable(rows []Row) encode.Table {
	ids := make([]uint64, len(rows))
	keys := make([]uint64, len(rows))
	vals := make([]float64, len(rows))
	names := make([]string, len(rows))
	for i, r := range rows {
		ids[i], keys[i], vals[i], names[i] = r.ID, r.Key, r.Value, r.Name
	}
	return encode.Table{Columns: []encode.Column{
		{Name: "id", Data: ids}, {Name: "key", Data: keys}, {Name: "value", Data: vals}, {Name: "name", Data: names},
	}}
}

func fromTable(t encode.Table) ([]Row, error) {
	if t.Len() == 0 {
		return nil, nil
	}
	col := func(name string) any { v, _ := t.Column(name); return v }
	ids, ok1 := col("id").([]uint64)
	keys, ok2 := col("key").([]uint64)
	vals, ok3 := col("value").([]float64)
	names, ok4 := col("name").([]string)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, fmt.Errorf("table does not have the columns id, key, value, name of the expected types")
	}
	n := len(ids)
	if len(keys) != n || len(vals) != n || len(names) != n {
		return nil, fmt.Errorf("columns differ in length: %d, %d, %d, %d", len(ids), len(keys), len(vals), len(names))
	}
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = Row{ID: ids[i], Key: keys[i], Value: vals[i], Name: names[i]}
	}
	return rows, nil
}

// Counter is a partd.Store that counts the bytes appended through it and
// returned by Get (leaving out the Columns metadata keys, so that both count
// the same bytes).
type Counter struct {
	partd.Store
	appended, read atomic.Int64
}

// Append counts the values' bytes and appends them.
func (c *Counter) Append(data map[string][]byte) error {
	var n int64
	for _, v := range data {
		n += int64(len(v))
	}
	if err := c.Store.Append(data); err != nil {
		return err
	}
	c.appended.Add(n)
	return nil
}

// Get reads keys and counts the bytes returned.
func (c *Counter) Get(keys ...string) ([][]byte, error) {
	vals, err := c.Store.Get(keys...)
	var n int64
	for i, v := range vals {
		if i < len(keys) && isMeta(keys[i]) {
			continue
		}
		n += int64(len(v))
	}
	c.read.Add(n)
	return vals, err
}

// isMeta reports whether key holds a Columns table's metadata (its schema or
// a column's dtype), which Get reads but Append does not write.
func isMeta(key string) bool {
	return strings.HasSuffix(key, encode.DtypeSuffix) || strings.HasSuffix(key, "/"+encode.SchemaPart)
}

// Appended returns the bytes appended so far.
func (c *Counter) Appended() int64 { return c.appended.Load() }

// Read returns the bytes read so far.
func (c *Counter) Read() int64 { return c.read.Load() }

// MapConfig is one mapper's share of a shuffle.
type MapConfig struct {
	Seed       uint64
	Worker     int
	Rows       int // rows this worker generates
	Partitions int
	// BatchRows is how many rows are generated between two appends (spread
	// over the partitions); 0 means 65,536.
	BatchRows int
	// Appenders is how many appends run at once while the next batch is
	// generated; 0 means 2.
	Appenders int
	// Progress, if set, is called after each append with the rows appended
	// so far. Calls do not overlap.
	Progress func(rows int)
}

// Map generates the worker's rows, appends them to their partitions through
// l, and returns what it sent to each partition.
func Map(l *Layers, cfg MapConfig) ([]Stats, error) {
	if cfg.Partitions <= 0 {
		return nil, errors.New("shuffle: partitions must be positive")
	}
	batchRows := cfg.BatchRows
	if batchRows <= 0 {
		batchRows = 1 << 16
	}
	appenders := cfg.Appenders
	if appenders <= 0 {
		appenders = 2
	}
	stats := make([]Stats, cfg.Partitions)
	type batch struct {
		parts map[int][]Row
		rows  int
	}
	work := make(chan batch, appenders)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		failed   atomic.Bool
		mu       sync.Mutex // serializes Progress
		done     int
	)
	for range appenders {
		wg.Go(func() {
			for b := range work {
				if failed.Load() {
					continue
				}
				if err := l.Append(b.parts); err != nil {
					errOnce.Do(func() { firstErr = err })
					failed.Store(true)
					continue
				}
				if cfg.Progress != nil {
					mu.Lock()
					done += b.rows
					cfg.Progress(done)
					mu.Unlock()
				}
			}
		})
	}
	g := NewGenerator(cfg.Seed, cfg.Worker)
	for n := 0; n < cfg.Rows && !failed.Load(); {
		size := min(batchRows, cfg.Rows-n)
		parts := make(map[int][]Row, cfg.Partitions)
		for range size {
			r := g.Next()
			p := Partition(r.Key, cfg.Partitions)
			parts[p] = append(parts[p], r)
			stats[p].Add(r)
		}
		n += size
		work <- batch{parts, size}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("shuffle: worker %d: append: %w", cfg.Worker, firstErr)
	}
	return stats, nil
}

// ReduceConfig is one reducer's share of a shuffle.
type ReduceConfig struct {
	Reducer, Reducers int
	Partitions        int
	// PerGet is how many partitions one Get asks for; 0 means 4.
	PerGet int
	// Progress, if set, is called after each Get with the partitions read
	// so far.
	Progress func(partitions int)
}

// Mine returns the partitions reducer r of n reads: r, r+n, r+2n, ...
func Mine(r, n, partitions int) []int {
	var ps []int
	for p := r; p < partitions; p += n {
		ps = append(ps, p)
	}
	return ps
}

// Reduce reads the reducer's partitions through l and returns the Stats of
// each (keyed by partition). A row found in a partition it does not hash to
// is an error naming both.
func Reduce(l *Layers, cfg ReduceConfig) (map[int]Stats, error) {
	if cfg.Reducers <= 0 || cfg.Reducer < 0 || cfg.Reducer >= cfg.Reducers || cfg.Partitions <= 0 {
		return nil, errors.New("shuffle: bad reducer configuration")
	}
	per := cfg.PerGet
	if per <= 0 {
		per = 4
	}
	mine := Mine(cfg.Reducer, cfg.Reducers, cfg.Partitions)
	out := make(map[int]Stats, len(mine))
	for i := 0; i < len(mine); i += per {
		chunk := mine[i:min(i+per, len(mine))]
		got, err := l.Get(chunk...)
		if err != nil {
			return nil, fmt.Errorf("shuffle: reducer %d: get partitions %v: %w", cfg.Reducer, chunk, err)
		}
		for j, rows := range got {
			p := chunk[j]
			var s Stats
			for _, r := range rows {
				if q := Partition(r.Key, cfg.Partitions); q != p {
					return nil, fmt.Errorf("shuffle: partition %d holds row %d (key %d) of partition %d", p, r.ID, r.Key, q)
				}
				s.Add(r)
			}
			out[p] = s
		}
		if cfg.Progress != nil {
			cfg.Progress(i + len(chunk))
		}
	}
	return out, nil
}

// Cleanup deletes every key of raw under Prefix (a shuffle's partitions in
// either format) and returns how many it deleted.
func Cleanup(raw partd.Store) (int, error) {
	keys, err := raw.Keys()
	if err != nil {
		return 0, err
	}
	var del []string
	for _, k := range keys {
		if strings.HasPrefix(k, Prefix+"/") {
			del = append(del, k)
		}
	}
	if len(del) == 0 {
		return 0, nil
	}
	return len(del), raw.Delete(del...)
}

// StoredKeys returns every key of the raw store that a shuffle in format
// over partitions partitions may write, for stores that cannot list their
// keys (Python partd's server): the partitions' own keys, and those of the
// given attempts.
func StoredKeys(format Format, partitions int, attempts []Attempt) []string {
	var keys []string
	for p := range partitions {
		names := []string{PartitionKey(p)}
		for _, a := range attempts {
			names = append(names, AttemptKey(p, a))
		}
		keys = append(keys, storedKeys(format, names)...)
	}
	return keys
}

// storedKeys returns the raw keys that the layer of format keeps the
// layer's keys names under.
func storedKeys(format Format, names []string) []string {
	var keys []string
	for _, k := range names {
		if format != Columns { // Msgpack and Arrow: one key per partition
			keys = append(keys, k)
			continue
		}
		keys = append(keys, k+"/"+encode.SchemaPart)
		for _, c := range []string{"id", "key", "value", "name"} {
			keys = append(keys, k+"/"+c, k+"/"+c+encode.DtypeSuffix)
		}
	}
	return keys
}

// Corrupt damages partition p in raw, the store below every layer: it flips
// the lowest bit of the last stored byte of the partition (for Msgpack, the
// last character of the last row's name; for Columns, the top byte of the
// last value; for Arrow, the lowest bit of the last value), so that the
// bytes still decode but a row differs. With attempts, it damages the key
// of the first of them that wrote rows to p. It exists so that tests can
// check that verification catches a damaged store.
func Corrupt(raw partd.Store, format Format, p int, attempts []Attempt) error {
	key := PartitionKey(p)
	for _, a := range attempts {
		k := AttemptKey(p, a)
		probe := k
		if format == Columns {
			probe += "/value"
		}
		if vals, err := raw.Get(probe); err == nil && len(vals[0]) > 0 {
			key = k
			break
		}
	}
	switch format {
	case Arrow:
		return corruptArrow(raw, key)
	case Columns:
		key += "/value"
	}
	vals, err := raw.Get(key)
	if err != nil {
		return err
	}
	return flipLastByte(raw, key, vals[0])
}
