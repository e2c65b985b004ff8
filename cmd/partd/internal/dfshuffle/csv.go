package dfshuffle

import (
	"bufio"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	acsv "github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// csvLadder is the order in which arrow-go's csv.NewInferringReader tries
// types for a value: the first that parses it is the value's type.
var csvLadder = []arrow.DataType{
	arrow.PrimitiveTypes.Int64,
	arrow.FixedWidthTypes.Boolean,
	arrow.FixedWidthTypes.Date32,
	arrow.FixedWidthTypes.Time32s,
	&arrow.TimestampType{Unit: arrow.Second},
	&arrow.TimestampType{Unit: arrow.Nanosecond},
	&arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"},
	&arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"},
	arrow.PrimitiveTypes.Float64,
	arrow.BinaryTypes.String,
	arrow.BinaryTypes.Binary,
}

// parses reports whether arrow-go's CSV reader reads v as a value of dt,
// by the rules its type inference uses.
func parses(v string, dt arrow.DataType) bool {
	var err error
	switch dt := dt.(type) {
	case *arrow.Int64Type:
		_, err = strconv.ParseInt(v, 10, 64)
	case *arrow.BooleanType:
		_, err = strconv.ParseBool(v)
	case *arrow.Date32Type:
		_, err = time.Parse("2006-01-02", v)
	case *arrow.Time32Type:
		_, err = arrow.Time32FromString(v, dt.Unit)
	case *arrow.TimestampType:
		loc, lerr := dt.GetZone()
		if lerr != nil {
			return false
		}
		var zone bool
		_, zone, err = arrow.TimestampFromStringInLocation(v, dt.Unit, loc)
		if err == nil && zone != (dt.TimeZone != "") {
			return false
		}
	case *arrow.Float64Type:
		_, err = strconv.ParseFloat(v, 64)
	case *arrow.StringType:
		return utf8.ValidString(v)
	case *arrow.BinaryType:
		_, err = base64.StdEncoding.DecodeString(v)
	default:
		return false
	}
	return err == nil
}

// InferCSVTypes returns the type of a CSV column whose non-NULL values are
// vals, as arrow-go infers a column's type from one value, applied to all
// of them: the first type of arrow-go's order (int64, bool, date32,
// time32[s], timestamp[s], timestamp[ns], the same with zone UTC, float64,
// utf8, binary) that reads every value. A column without values is utf8.
func InferCSVTypes(vals []string) arrow.DataType {
	if len(vals) == 0 {
		return arrow.BinaryTypes.String
	}
	return csvLadder[ladderIndex(vals, 0)]
}

// ladderIndex returns the first index k ≥ from of csvLadder whose type
// reads every one of vals (binary's if none does).
func ladderIndex(vals []string, from int) int {
	k := from
	for {
		for _, v := range vals {
			for k < len(csvLadder)-1 && !parses(v, csvLadder[k]) {
				k++
			}
		}
		ok := true
		for _, v := range vals {
			if !parses(v, csvLadder[k]) {
				ok = false
				break
			}
		}
		if ok || k == len(csvLadder)-1 {
			return k
		}
		k++
	}
}

// csvSample is what the first rows of a CSV file say: its header, and for
// each column whether it has non-NULL values and the first type of
// csvLadder that reads them all.
type csvSample struct {
	file   int
	path   string
	header []string
	index  []int
	values []bool
}

// bomless returns r without a leading UTF-8 byte order mark.
func bomless(r io.Reader) io.Reader {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		br.Discard(3)
	}
	return br
}

func newCSVReader(r io.Reader, opts CSVOptions) *csv.Reader {
	cr := csv.NewReader(bomless(r))
	cr.Comma = opts.Comma
	cr.FieldsPerRecord = -1
	return cr
}

// readSample reads the header and the first InferRows rows of a CSV file,
// and returns each column's non-NULL values.
func readSample(path string, opts CSVOptions) (header []string, cols [][]string, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, &InputError{File: path, Err: statError(err)}
	}
	defer fh.Close()
	cr := newCSVReader(fh, opts)
	header, err = cr.Read()
	if err == io.EOF {
		return nil, nil, &InputError{File: path, Err: errors.New("empty file: no header line")}
	}
	if err != nil {
		return nil, nil, csvError(path, err)
	}
	header = slices.Clone(header)
	nulls := nullValues(opts)
	cols = make([][]string, len(header))
	for range opts.InferRows {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, csvError(path, err)
		}
		if len(rec) != len(header) {
			line, _ := cr.FieldPos(0)
			return nil, nil, fieldCountError(path, int64(line), len(rec), len(header))
		}
		for c, v := range rec {
			if !slices.Contains(nulls, v) {
				cols[c] = append(cols[c], v)
			}
		}
	}
	return header, cols, nil
}

// sampleCSV reads a CSV file's header and infers its columns' types from
// its first InferRows rows.
func sampleCSV(path string, opts CSVOptions) (*csvSample, error) {
	header, cols, err := readSample(path, opts)
	if err != nil {
		return nil, err
	}
	s := &csvSample{path: path, header: header, index: make([]int, len(header)), values: make([]bool, len(header))}
	for c, vals := range cols {
		s.index[c] = ladderIndex(vals, 0)
		s.values[c] = len(vals) > 0
	}
	return s, nil
}

func fieldCountError(path string, line int64, got, want int) error {
	return &InputError{File: path, Line: line, Err: fmt.Errorf("wrong number of fields: %d, the header has %d", got, want)}
}

// csvError names the file and line of an error of encoding/csv.
func csvError(path string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &InputError{File: path, Line: int64(pe.Line), Err: pe.Err}
	}
	return &InputError{File: path, Err: err}
}

// inferCSVSchema checks that the CSV files have the same header and infers
// each column's type over the samples of all of them: the first type of
// csvLadder that reads every sampled value of every file. That is at least
// the latest of the files' own; if a file's values do not all read as
// that, the samples are read again from there on (so that no more than one
// file's sample is held at a time).
func inferCSVSchema(samples []*csvSample, opts CSVOptions) (*arrow.Schema, error) {
	first := samples[0]
	for _, s := range samples[1:] {
		if !slices.Equal(s.header, first.header) {
			err := fmt.Errorf("its header differs from that of %s: %d columns there, %d in this file", first.path, len(first.header), len(s.header))
			for i := range min(len(s.header), len(first.header)) {
				if s.header[i] != first.header[i] {
					err = fmt.Errorf("its header differs from that of %s: column %d is %q there, %q in this file", first.path, i+1, first.header[i], s.header[i])
					break
				}
			}
			return nil, &InputError{File: s.path, Other: first.path, Err: err}
		}
	}
	n := len(first.header)
	index := make([]int, n)
	values := make([]bool, n)
	differ := false
	for _, s := range samples {
		for c := range n {
			if s.values[c] {
				if values[c] && index[c] != s.index[c] {
					differ = true
				}
				index[c] = max(index[c], s.index[c])
				values[c] = true
			}
		}
	}
	for differ {
		differ = false
		for _, s := range samples {
			_, cols, err := readSample(s.path, opts)
			if err != nil {
				return nil, err
			}
			for c, vals := range cols {
				if k := ladderIndex(vals, index[c]); k != index[c] {
					index[c], differ = k, true
				}
			}
		}
	}
	fields := make([]arrow.Field, n)
	for c, name := range first.header {
		dt := arrow.DataType(arrow.BinaryTypes.String)
		if values[c] {
			dt = csvLadder[index[c]]
		}
		fields[c] = arrow.Field{Name: name, Type: dt, Nullable: true}
	}
	return arrow.NewSchema(fields, nil), nil
}

func nullValues(opts CSVOptions) []string {
	if opts.NullValues != nil {
		return opts.NullValues
	}
	return acsv.DefaultNullValues
}

type csvSource struct {
	p     *Plan
	path  string
	fh    *os.File
	r     *acsv.Reader
	times []int // columns of type time32, read as strings and converted
	mem   memory.Allocator
}

// openCSV reads a CSV file with arrow-go's reader and the plan's schema.
// That reader does not take time32 columns, which arrow-go's inference
// gives: those are read as strings and converted here.
func openCSV(p *Plan, f File, mem memory.Allocator) (s source, err error) {
	defer guard(f.Path, &err)
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, &InputError{File: f.Path, Err: statError(err)}
	}
	fields := slices.Clone(p.schema.Fields())
	var times []int
	for i, fl := range fields {
		if fl.Type.ID() == arrow.TIME32 {
			fields[i].Type = arrow.BinaryTypes.String
			times = append(times, i)
		}
	}
	r := acsv.NewReader(bomless(fh), arrow.NewSchema(fields, nil),
		acsv.WithHeader(true),
		acsv.WithChunk(p.Job.BatchRows),
		acsv.WithComma(p.Job.CSV.Comma),
		acsv.WithNullReader(true, nullValues(p.Job.CSV)...),
		acsv.WithAllocator(mem))
	return &csvSource{p: p, path: f.Path, fh: fh, r: r, times: times, mem: mem}, nil
}

func (s *csvSource) next() (rec arrow.RecordBatch, err error) {
	defer guard(s.path, &err)
	more := s.r.Next()
	if err := s.r.Err(); err != nil {
		return nil, s.fail(err)
	}
	if !more {
		return nil, nil
	}
	rec = s.r.RecordBatch()
	if len(s.times) == 0 {
		return conform(s.p, s.path, rec)
	}
	cols := slices.Clone(rec.Columns())
	for _, c := range s.times {
		arr, err := parseTimes(s.mem, cols[c].(*array.String), s.p.schema.Field(c).Type.(*arrow.Time32Type))
		if err != nil {
			return nil, s.fail(err)
		}
		defer arr.Release()
		cols[c] = arr
	}
	return array.NewRecordBatch(s.p.schema, cols, rec.NumRows()), nil
}

// parseTimes converts strings into a time32 array.
func parseTimes(mem memory.Allocator, strs *array.String, dt *arrow.Time32Type) (arrow.Array, error) {
	b := array.NewTime32Builder(mem, dt)
	defer b.Release()
	b.Reserve(strs.Len())
	for i := range strs.Len() {
		if strs.IsNull(i) {
			b.AppendNull()
			continue
		}
		v, err := arrow.Time32FromString(strs.Value(i), dt.Unit)
		if err != nil {
			return nil, err
		}
		b.Append(v)
	}
	return b.NewArray(), nil
}

// fail finds the line and column of an error of arrow-go's CSV reader, which
// does not say where it is, by reading the file again.
func (s *csvSource) fail(err error) error {
	if located := locateCSVError(s.path, s.p.Job.CSV, s.p.schema); located != nil {
		return located
	}
	return csvError(s.path, err)
}

// locateCSVError reads a CSV file from the start and returns an
// *InputError for its first line that does not fit the schema: the wrong
// number of fields, a value of another type, bad quoting. It returns nil if
// every line fits.
func locateCSVError(path string, opts CSVOptions, sc *arrow.Schema) error {
	fh, err := os.Open(path)
	if err != nil {
		return &InputError{File: path, Err: statError(err)}
	}
	defer fh.Close()
	cr := newCSVReader(fh, opts)
	cr.ReuseRecord = true
	nulls := nullValues(opts)
	header, err := cr.Read()
	if err != nil {
		return csvError(path, err)
	}
	if len(header) != sc.NumFields() {
		return fieldCountError(path, 1, len(header), sc.NumFields())
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return csvError(path, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != sc.NumFields() {
			return fieldCountError(path, int64(line), len(rec), sc.NumFields())
		}
		for c, v := range rec {
			dt := sc.Field(c).Type
			if slices.Contains(nulls, v) || parses(v, dt) {
				continue
			}
			line, _ := cr.FieldPos(c)
			if len(v) > 40 {
				v = v[:40] + "…"
			}
			return &InputError{File: path, Line: int64(line), Column: sc.Field(c).Name,
				Err: fmt.Errorf("%q is not a value of type %s, inferred from the first rows (raise the rows sampled to infer types)", v, dt)}
		}
	}
}

func (s *csvSource) close() error {
	s.r.Release()
	return s.fh.Close()
}
