package encode

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/frame"
)

// SchemaPart is the last part of the key under which [Columns] stores a
// table's schema: table "t" has its schema at "t/.schema". Column names
// cannot start with ".", so no column collides with it.
const SchemaPart = ".schema"

// Column is one named column of a [Table]. Data is a slice of one of the
// supported column types: []int8, []int16, []int32, []int64, []uint8,
// []uint16, []uint32, []uint64, []float32, []float64, []string or [][]byte.
type Column struct {
	Name string
	Data any
}

// Table is a set of named columns of equal length, in order. Column names
// are valid key parts that neither start with "." nor end in ".dtype".
type Table struct {
	Columns []Column
}

// Len returns the number of rows: the length of the first column, or 0.
func (t Table) Len() int {
	if len(t.Columns) == 0 {
		return 0
	}
	ct, ok := typeOfData(t.Columns[0].Data)
	if !ok {
		return 0
	}
	return ct.length(t.Columns[0].Data)
}

// Column returns the data of the named column.
func (t Table) Column(name string) (any, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c.Data, true
		}
	}
	return nil, false
}

// Field is one column of a stored schema: its name and type ("int64",
// "float32", "string", "bytes", …).
type Field struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// schemaDoc is the JSON stored under key/.schema.
type schemaDoc struct {
	Version int     `json:"version"`
	Columns []Field `json:"columns"`
}

// colType is one supported column type.
type colType struct {
	name   string
	dtype  string // numpy dtype string, "|O" for strings and bytes
	zero   any    // an empty slice of the type
	length func(any) int
	encode func(any) ([]byte, error)
	decode func([]byte) (any, error)
}

func numType[N Number](name string) colType {
	return colType{
		name:   name,
		dtype:  Dtype[N](),
		zero:   []N(nil),
		length: func(v any) int { return len(v.([]N)) },
		encode: func(v any) ([]byte, error) { return numBytes(v.([]N)), nil },
		decode: func(b []byte) (any, error) {
			var zero N
			if size := int(unsafe.Sizeof(zero)); len(b)%size != 0 {
				return nil, fmt.Errorf("%w: %d bytes is not a whole number of %d-byte elements", partd.ErrCorrupt, len(b), size)
			}
			return numsFrom[N](b), nil
		},
	}
}

func objType[E string | []byte](name string) colType {
	return colType{
		name:   name,
		dtype:  "|O",
		zero:   []E(nil),
		length: func(v any) int { return len(v.([]E)) },
		encode: func(v any) ([]byte, error) {
			// One frame of one msgpack list, as partd.Numpy's serialize.
			if len(v.([]E)) == 0 {
				return nil, nil
			}
			b, at := frame.Reserve(nil)
			b, err := MsgpackCodec[E]{}.AppendEncode(b, v.([]E))
			if err != nil {
				return nil, err
			}
			frame.Seal(b, at)
			return b, nil
		},
		decode: func(b []byte) (any, error) {
			frames, err := frame.Split(b)
			if err != nil {
				return nil, err
			}
			parts := make([][]E, len(frames))
			for i, f := range frames {
				if parts[i], err = (MsgpackCodec[E]{}).Decode(f); err != nil {
					return nil, corrupt(err)
				}
			}
			return joinSlices(parts), nil
		},
	}
}

var colTypes = []colType{
	numType[int8]("int8"), numType[int16]("int16"), numType[int32]("int32"), numType[int64]("int64"),
	numType[uint8]("uint8"), numType[uint16]("uint16"), numType[uint32]("uint32"), numType[uint64]("uint64"),
	numType[float32]("float32"), numType[float64]("float64"),
	objType[string]("string"), objType[[]byte]("bytes"),
}

func typeOfData(v any) (*colType, bool) {
	var name string
	switch v.(type) {
	case []int8:
		name = "int8"
	case []int16:
		name = "int16"
	case []int32:
		name = "int32"
	case []int64:
		name = "int64"
	case []uint8:
		name = "uint8"
	case []uint16:
		name = "uint16"
	case []uint32:
		name = "uint32"
	case []uint64:
		name = "uint64"
	case []float32:
		name = "float32"
	case []float64:
		name = "float64"
	case []string:
		name = "string"
	case [][]byte:
		name = "bytes"
	default:
		return nil, false
	}
	return typeNamed(name)
}

func typeNamed(name string) (*colType, bool) {
	for i := range colTypes {
		if colTypes[i].name == name {
			return &colTypes[i], true
		}
	}
	return nil, false
}

// Columns stores tables of named typed columns in an inner [partd.Store],
// one key per column, so that reading some columns reads only their keys.
// Build it with [NewColumns]. The layout is in the package documentation:
// the schema at "key/.schema" and each column at "key/name" with its numpy
// dtype at "key/name.dtype", as Python's partd.Numpy stores an array.
//
// Appending a table to a key whose stored schema has other column names or
// types (in any order) is an error wrapping [ErrSchema]. A table with no
// rows creates nothing. Get returns the columns in the stored schema's
// order.
//
// Table keys follow the key rules, and may nest: tables "x" and "x/y" can
// both exist, since their inner keys differ, unless a column of "x" is
// named "y" (then the second is partd.ErrInvalidKey, nothing written).
//
// Reads of a table that another goroutine is appending to see whole
// appends only if the inner store applies an Append batch atomically (Dict
// does); otherwise its columns may differ in length, which Get reports as
// partd.ErrCorrupt. Set is not atomic across columns.
type Columns struct {
	inner  partd.Store
	closed atomic.Bool
}

// NewColumns returns a Columns layer over inner. The layer owns inner: its
// Close closes inner.
func NewColumns(inner partd.Store) *Columns { return &Columns{inner: inner} }

// Inner returns the store the layer wraps.
func (c *Columns) Inner() partd.Store { return c.inner }

// Unwrap returns the store the layer wraps, as a partd.Wrapper's Unwrap
// does, so code that walks layers (partd.Find, partd.BufferStatsOf, ...)
// walks this one too: partd.Size(x.Unwrap()) is the memory under x.
func (c *Columns) Unwrap() partd.Store { return c.inner }

func schemaKey(key string) string { return key + "/" + SchemaPart }

// checkTable validates a table's key, column names, types and lengths, and
// returns its schema.
func checkTable(op, key string, t Table) ([]Field, error) {
	if err := partd.ValidateKey(key); err != nil {
		return nil, err
	}
	if err := partd.ValidateKey(schemaKey(key)); err != nil {
		return nil, err
	}
	fields := make([]Field, len(t.Columns))
	rows := -1
	for i, col := range t.Columns {
		if err := checkColumnName(key, col.Name); err != nil {
			return nil, err
		}
		for _, prev := range fields[:i] {
			if prev.Name == col.Name {
				return nil, fmt.Errorf("encode: %s %q: %w: column %q appears twice", op, key, ErrSchema, col.Name)
			}
		}
		ct, ok := typeOfData(col.Data)
		if !ok {
			return nil, fmt.Errorf("encode: %s %q: %w: column %q has unsupported type %T", op, key, ErrSchema, col.Name, col.Data)
		}
		n := ct.length(col.Data)
		if rows >= 0 && n != rows {
			return nil, fmt.Errorf("encode: %s %q: %w: column %q has %d rows, column %q has %d", op, key, ErrSchema, col.Name, n, t.Columns[0].Name, rows)
		}
		rows = n
		fields[i] = Field{Name: col.Name, Type: ct.name}
	}
	return fields, nil
}

func checkColumnName(key, name string) error {
	switch {
	case name == "" || strings.Contains(name, "/"):
		return fmt.Errorf("table %q, column %q: %w: a column name is one non-empty key part", key, name, partd.ErrInvalidKey)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("table %q, column %q: %w: column names starting with \".\" are reserved", key, name, partd.ErrInvalidKey)
	case strings.HasSuffix(name, DtypeSuffix):
		return fmt.Errorf("table %q, column %q: %w: column names ending in %q are reserved", key, name, partd.ErrInvalidKey, DtypeSuffix)
	}
	if err := partd.ValidateKey(key + "/" + name + DtypeSuffix); err != nil {
		return err
	}
	return nil
}

// sameSchema reports whether two schemas have the same columns, in any
// order, and describes the first difference.
func sameSchema(stored, got []Field) (bool, string) {
	types := make(map[string]string, len(stored))
	for _, f := range stored {
		types[f.Name] = f.Type
	}
	for _, f := range got {
		st, ok := types[f.Name]
		if !ok {
			return false, fmt.Sprintf("column %q is not in the stored schema", f.Name)
		}
		if st != f.Type {
			return false, fmt.Sprintf("column %q is %s, stored as %s", f.Name, f.Type, st)
		}
	}
	if len(stored) != len(got) {
		have := make(map[string]bool, len(got))
		for _, f := range got {
			have[f.Name] = true
		}
		for _, f := range stored {
			if !have[f.Name] {
				return false, fmt.Sprintf("stored column %q is missing", f.Name)
			}
		}
	}
	return true, ""
}

// readSchemas returns the stored schema of each key, nil where none.
func (c *Columns) readSchemas(op string, keys []string) ([][]Field, error) {
	skeys := make([]string, len(keys))
	for i, k := range keys {
		skeys[i] = schemaKey(k)
	}
	raw, err := c.inner.Get(skeys...)
	if err != nil {
		return nil, err
	}
	if len(raw) != len(keys) {
		return nil, fmt.Errorf("encode: %s: inner store returned %d values for %d keys: %w", op, len(raw), len(keys), partd.ErrCorrupt)
	}
	out := make([][]Field, len(keys))
	for i, b := range raw {
		if len(b) == 0 {
			continue
		}
		if out[i], err = parseSchema(b); err != nil {
			return nil, fmt.Errorf("encode: %s %q: %w", op, keys[i], err)
		}
	}
	return out, nil
}

func parseSchema(b []byte) ([]Field, error) {
	var doc schemaDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: schema: %v", partd.ErrCorrupt, err)
	}
	if doc.Version != 1 {
		return nil, fmt.Errorf("%w: schema version %d, want 1", partd.ErrCorrupt, doc.Version)
	}
	seen := make(map[string]bool, len(doc.Columns))
	for _, f := range doc.Columns {
		if _, ok := typeNamed(f.Type); !ok {
			return nil, fmt.Errorf("%w: schema: column %q has unknown type %q", partd.ErrCorrupt, f.Name, f.Type)
		}
		if seen[f.Name] || f.Name == "" || strings.Contains(f.Name, "/") || strings.HasPrefix(f.Name, ".") {
			return nil, fmt.Errorf("%w: schema: bad or repeated column name %q", partd.ErrCorrupt, f.Name)
		}
		seen[f.Name] = true
	}
	return doc.Columns, nil
}

func marshalSchema(fields []Field) []byte {
	b, _ := json.Marshal(schemaDoc{Version: 1, Columns: fields}) // cannot fail
	return b
}

// createTable stores the dtypes and then the schema of a new table.
func (c *Columns) createTable(key string, fields []Field) error {
	for _, f := range fields {
		ct, _ := typeNamed(f.Type)
		if err := c.inner.Set(key+"/"+f.Name+DtypeSuffix, []byte(ct.dtype)); err != nil {
			return err
		}
	}
	return c.inner.Set(schemaKey(key), marshalSchema(fields))
}

// Append adds each table's rows to the end of the table stored under its
// key. The first append to a key stores the schema; later ones must match
// it. All columns of all tables go to the inner store in one Append.
func (c *Columns) Append(data map[string]Table) error {
	if c.closed.Load() {
		return fmt.Errorf("encode: append: %w", partd.ErrClosed)
	}
	keys, schemas, stored, err := c.checkAppend(data)
	if err != nil || len(keys) == 0 {
		return err
	}
	batch := make(map[string][]byte)
	for _, k := range keys {
		for _, col := range data[k].Columns {
			ct, _ := typeOfData(col.Data)
			b, err := ct.encode(col.Data)
			if err != nil {
				return fmt.Errorf("encode: append %q, column %q: %w", k, col.Name, err)
			}
			batch[k+"/"+col.Name] = b
		}
	}
	// New tables get their dtypes and schema first; if the batch then fails
	// (a key conflicts with a stored one), they are removed again.
	created, err := c.createTables(keys, schemas, stored)
	if err == nil {
		if err = c.inner.Append(batch); err != nil {
			err = fmt.Errorf("encode: append: %w", err)
		}
	}
	if err != nil && len(created) > 0 {
		if derr := c.inner.Delete(created...); derr != nil {
			return errors.Join(err, fmt.Errorf("encode: append: removing the schemas it set: %w", derr))
		}
	}
	return err
}

// checkAppend checks an Append batch before anything is encoded: each
// table's shape, its schema against the stored one, and the keys it writes
// against each other. It returns the keys of the tables with rows, their
// schemas, and their stored schemas (nil for a new table).
func (c *Columns) checkAppend(data map[string]Table) (keys []string, schemas map[string][]Field, stored [][]Field, err error) {
	schemas = make(map[string][]Field, len(data))
	for k, t := range data {
		fields, err := checkTable("append", k, t)
		if err != nil {
			return nil, nil, nil, err
		}
		if t.Len() > 0 {
			keys = append(keys, k)
			schemas[k] = fields
		}
	}
	if len(keys) == 0 {
		return nil, nil, nil, nil
	}
	if stored, err = c.readSchemas("append", keys); err != nil {
		return nil, nil, nil, err
	}
	for i, k := range keys {
		if stored[i] == nil {
			continue
		}
		if ok, why := sameSchema(stored[i], schemas[k]); !ok {
			return nil, nil, nil, fmt.Errorf("encode: append %q: %w: %s", k, ErrSchema, why)
		}
	}
	if len(keys) > 1 {
		writes := make(map[string]bool)
		for _, k := range keys {
			writes[schemaKey(k)] = true
			for _, col := range data[k].Columns {
				writes[k+"/"+col.Name], writes[k+"/"+col.Name+DtypeSuffix] = true, true
			}
		}
		if err := checkWrites("append", writes); err != nil {
			return nil, nil, nil, err
		}
	}
	return keys, schemas, stored, nil
}

// createTables stores the dtypes and schema of each new table of keys (one
// whose stored schema is nil) and returns the keys it set, for a rollback,
// also when it fails.
func (c *Columns) createTables(keys []string, schemas map[string][]Field, stored [][]Field) (created []string, err error) {
	for i, k := range keys {
		if stored[i] != nil {
			continue
		}
		created = append(created, schemaKey(k))
		for _, f := range schemas[k] {
			created = append(created, k+"/"+f.Name+DtypeSuffix)
		}
		if err := c.createTable(k, schemas[k]); err != nil {
			return created, fmt.Errorf("encode: append %q: %w", k, err)
		}
	}
	return created, nil
}

// Get returns every column of each key's table; an unknown key yields an
// empty Table.
func (c *Columns) Get(keys ...string) ([]Table, error) {
	return c.GetColumns(nil, keys...)
}

// GetColumns returns the named columns of each key's table, in the order
// named, reading only those columns' keys; nil columns means all of them.
// A column the stored table does not have is an error wrapping [ErrSchema].
// An unknown key yields an empty Table.
func (c *Columns) GetColumns(columns []string, keys ...string) ([]Table, error) {
	if c.closed.Load() {
		return nil, fmt.Errorf("encode: get: %w", partd.ErrClosed)
	}
	schemas, err := c.readSchemas("get", keys)
	if err != nil {
		return nil, err
	}
	out, wants, err := planColumns(schemas, columns, keys)
	if err != nil || len(wants) == 0 {
		return out, err
	}
	dkeys := make([]string, len(wants))
	for n, w := range wants {
		dkeys[n] = keys[w.table] + "/" + out[w.table].Columns[w.col].Name
	}
	raw, err := c.inner.Get(dkeys...)
	if err != nil {
		return nil, err
	}
	if len(raw) != len(dkeys) {
		return nil, fmt.Errorf("encode: get: inner store returned %d values for %d keys: %w", len(raw), len(dkeys), partd.ErrCorrupt)
	}
	for n, w := range wants {
		v, err := w.ct.decode(raw[n])
		if err != nil {
			return nil, fmt.Errorf("encode: get %q: %w", dkeys[n], err)
		}
		if v == nil || isEmptyColumn(v) {
			v = w.ct.zero
		}
		out[w.table].Columns[w.col].Data = v
	}
	for i, t := range out {
		if err := checkRows(keys[i], t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// wantColumn is a column GetColumns reads: of table out[table], its
// column col, of type ct.
type wantColumn struct {
	table, col int
	ct         *colType
}

// planColumns returns the tables GetColumns returns for keys, with the
// schemas stored for them, their columns named (columns, or every column
// if nil) but without data, and the columns to read.
func planColumns(schemas [][]Field, columns, keys []string) ([]Table, []wantColumn, error) {
	out := make([]Table, len(keys))
	var wants []wantColumn
	for i, fields := range schemas {
		if fields == nil {
			continue
		}
		names := columns
		if names == nil {
			names = make([]string, len(fields))
			for j, f := range fields {
				names[j] = f.Name
			}
		}
		out[i].Columns = make([]Column, len(names))
		for j, name := range names {
			idx := slices.IndexFunc(fields, func(f Field) bool { return f.Name == name })
			if idx < 0 {
				return nil, nil, fmt.Errorf("encode: get %q: %w: no column %q", keys[i], ErrSchema, name)
			}
			ct, _ := typeNamed(fields[idx].Type)
			out[i].Columns[j] = Column{Name: name}
			wants = append(wants, wantColumn{i, j, ct})
		}
	}
	return out, wants, nil
}

// checkRows checks that every column of t, the table of key, has as many
// rows as the first.
func checkRows(key string, t Table) error {
	rows := -1
	for _, col := range t.Columns {
		ct, _ := typeOfData(col.Data)
		n := ct.length(col.Data)
		if rows >= 0 && n != rows {
			return fmt.Errorf("encode: get %q: %w: column %q has %d rows, column %q has %d", key, partd.ErrCorrupt, col.Name, n, t.Columns[0].Name, rows)
		}
		rows = n
	}
	return nil
}

func isEmptyColumn(v any) bool {
	ct, ok := typeOfData(v)
	return ok && ct.length(v) == 0
}

// Schema returns the stored schema of the table under key, or nil if there
// is none.
func (c *Columns) Schema(key string) ([]Field, error) {
	if c.closed.Load() {
		return nil, fmt.Errorf("encode: schema: %w", partd.ErrClosed)
	}
	s, err := c.readSchemas("schema", []string{key})
	if err != nil {
		return nil, err
	}
	return s[0], nil
}

// Set replaces the table under key, schema included; a table with no rows
// deletes it. Set is atomic per column, not across columns.
func (c *Columns) Set(key string, t Table) error {
	if c.closed.Load() {
		return fmt.Errorf("encode: set: %w", partd.ErrClosed)
	}
	fields, err := checkTable("set", key, t)
	if err != nil {
		return err
	}
	if t.Len() == 0 {
		return c.Delete(key)
	}
	old, err := c.readSchemas("set", []string{key})
	if err != nil && !isCorrupt(err) {
		return err
	}
	// A new table that cannot be written whole (a column key conflicts with
	// a stored key) is removed again.
	fail := func(err error) error {
		if old == nil || old[0] == nil {
			if derr := c.Delete(key); derr != nil {
				return errors.Join(err, derr)
			}
		}
		return err
	}
	if err := c.createTable(key, fields); err != nil {
		return fail(fmt.Errorf("encode: set %q: %w", key, err))
	}
	for _, col := range t.Columns {
		ct, _ := typeOfData(col.Data)
		b, err := ct.encode(col.Data)
		if err != nil {
			return fail(fmt.Errorf("encode: set %q, column %q: %w", key, col.Name, err))
		}
		if err := c.inner.Set(key+"/"+col.Name, b); err != nil {
			return fail(fmt.Errorf("encode: set %q: %w", key, err))
		}
	}
	var gone []string
	if old != nil {
		for _, f := range old[0] {
			if _, ok := t.Column(f.Name); !ok {
				gone = append(gone, key+"/"+f.Name, key+"/"+f.Name+DtypeSuffix)
			}
		}
	}
	if err := c.inner.Delete(gone...); err != nil {
		return fmt.Errorf("encode: set %q: %w", key, err)
	}
	return nil
}

func isCorrupt(err error) bool { return errors.Is(err, partd.ErrCorrupt) }

// Delete removes tables: their schema, columns and dtypes. Unknown keys are
// not an error.
func (c *Columns) Delete(keys ...string) error {
	if c.closed.Load() {
		return fmt.Errorf("encode: delete: %w", partd.ErrClosed)
	}
	var all []string
	var scan []string // keys whose schema is unreadable: delete all under them
	for _, k := range keys {
		s, err := c.readSchemas("delete", []string{k})
		switch {
		case err != nil && isCorrupt(err):
			scan = append(scan, k)
		case err != nil:
			return err
		default:
			for _, f := range s[0] {
				all = append(all, k+"/"+f.Name, k+"/"+f.Name+DtypeSuffix)
			}
		}
		all = append(all, schemaKey(k))
	}
	if len(scan) > 0 {
		stored, err := c.inner.Keys()
		if err != nil {
			return err
		}
		for _, sk := range stored {
			for _, k := range scan {
				if strings.HasPrefix(sk, k+"/") {
					all = append(all, sk)
				}
			}
		}
	}
	if err := c.inner.Delete(all...); err != nil {
		return err
	}
	return nil
}

// Keys returns the key of every stored table, sorted.
func (c *Columns) Keys() ([]string, error) {
	if c.closed.Load() {
		return nil, fmt.Errorf("encode: keys: %w", partd.ErrClosed)
	}
	all, err := c.inner.Keys()
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, k := range all {
		if t, ok := strings.CutSuffix(k, "/"+SchemaPart); ok {
			keys = append(keys, t)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// Drop removes everything from the inner store; the layer stays usable.
func (c *Columns) Drop() error {
	if c.closed.Load() {
		return fmt.Errorf("encode: drop: %w", partd.ErrClosed)
	}
	if err := c.inner.Drop(); err != nil {
		return err
	}
	return nil
}

// Close closes the layer and the inner store. Later calls return
// partd.ErrClosed; a second Close returns nil.
func (c *Columns) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if err := c.inner.Close(); err != nil {
		return err
	}
	return nil
}

// Flush flushes the inner store as partd.Flush does: the first
// partd.Flusher of its chain (a Buffer), if any.
func (c *Columns) Flush() error {
	if c.closed.Load() {
		return fmt.Errorf("encode: flush: %w", partd.ErrClosed)
	}
	return partd.Flush(c.inner)
}
