package shuffle

import (
	"bytes"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/arrowstore"
)

// rowSchema is the Arrow format's schema: a Row's fields as columns.
var rowSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "key", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "value", Type: arrow.PrimitiveTypes.Float64},
	{Name: "name", Type: arrow.BinaryTypes.String},
}, nil)

// appendBatches appends each partition's rows as one Arrow record batch.
func (l *Layers) appendBatches(parts map[int][]Row) error {
	m := make(map[string][]arrow.RecordBatch, len(parts))
	defer func() {
		for _, recs := range m {
			for _, r := range recs {
				r.Release()
			}
		}
	}()
	for p, rows := range parts {
		m[l.writeKey(p)] = []arrow.RecordBatch{toBatch(rows)}
	}
	return l.batches.Append(m)
}

// getBatches reads the rows stored under keys; part(i) is the partition
// of keys[i].
func (l *Layers) getBatches(keys []string, part func(i int) int) ([][]Row, error) {
	got, err := l.batches.Get(keys...)
	if err != nil {
		return nil, err
	}
	defer releaseAll(got)
	out := make([][]Row, len(got))
	for i, recs := range got {
		for _, rec := range recs {
			rows, err := fromBatch(rec)
			if err != nil {
				return nil, fmt.Errorf("partition %d: %w", part(i), err)
			}
			out[i] = append(out[i], rows...)
		}
	}
	return out, nil
}

func releaseAll(recs [][]arrow.RecordBatch) {
	for _, rs := range recs {
		for _, r := range rs {
			r.Release()
		}
	}
}

// toBatch builds rows into a record batch of rowSchema.
func toBatch(rows []Row) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, rowSchema)
	defer b.Release()
	ids := b.Field(0).(*array.Uint64Builder)
	keys := b.Field(1).(*array.Uint64Builder)
	vals := b.Field(2).(*array.Float64Builder)
	names := b.Field(3).(*array.StringBuilder)
	ids.Reserve(len(rows))
	keys.Reserve(len(rows))
	vals.Reserve(len(rows))
	names.Reserve(len(rows))
	for _, r := range rows {
		ids.UnsafeAppend(r.ID)
		keys.UnsafeAppend(r.Key)
		vals.UnsafeAppend(r.Value)
		names.Append(r.Name)
	}
	return b.NewRecordBatch()
}

// fromBatch reads a record batch of rowSchema back into rows.
func fromBatch(rec arrow.RecordBatch) ([]Row, error) {
	if !rec.Schema().Equal(rowSchema) {
		return nil, fmt.Errorf("batch has schema %s, want %s", rec.Schema(), rowSchema)
	}
	ids := rec.Column(0).(*array.Uint64)
	keys := rec.Column(1).(*array.Uint64)
	vals := rec.Column(2).(*array.Float64)
	names := rec.Column(3).(*array.String)
	rows := make([]Row, rec.NumRows())
	for i := range rows {
		rows[i] = Row{ID: ids.Value(i), Key: keys.Value(i), Value: vals.Value(i), Name: names.Value(i)}
	}
	return rows, nil
}

// ipcContinuation is how every message of an Arrow IPC stream begins.
var ipcContinuation = []byte{0xff, 0xff, 0xff, 0xff}

// corruptArrow damages partition key in raw so that it still decodes but a
// row differs: it flips the lowest bit of the last row's value and stores
// the partition again. Bytes that are not Arrow streams (compressed frames)
// get their last byte flipped instead, as the other formats do.
func corruptArrow(raw partd.Store, key string) error {
	vals, err := raw.Get(key)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(vals[0], ipcContinuation) {
		return flipLastByte(raw, key, vals[0])
	}
	s, err := arrowstore.New(raw, arrowstore.WithReadPool(false))
	if err != nil {
		return err
	}
	got, err := s.Get(key)
	if err != nil {
		return err
	}
	recs := got[0]
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	if len(recs) == 0 {
		return fmt.Errorf("shuffle: corrupt: %s holds no batches", key)
	}
	last := recs[len(recs)-1]
	rows, err := fromBatch(last)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("shuffle: corrupt: the last batch of %s is empty", key)
	}
	v := &rows[len(rows)-1].Value
	*v = math.Float64frombits(math.Float64bits(*v) ^ 1)
	last.Release()
	recs[len(recs)-1] = toBatch(rows)
	return s.Set(key, recs)
}

func flipLastByte(raw partd.Store, key string, b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("shuffle: corrupt: %s is empty", key)
	}
	b[len(b)-1] ^= 1
	return raw.Set(key, b)
}
