package dfshuffle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// source yields the batches of one map task.
type source interface {
	// next returns the next batch, which the caller releases, or nil at the
	// end.
	next() (arrow.RecordBatch, error)
	close() error
}

// ipcMagic starts (and ends) an Arrow IPC file.
var ipcMagic = []byte("ARROW1")

// guard turns a panic of arrow-go on a corrupt file into an error.
func guard(path string, err *error) {
	if r := recover(); r != nil {
		*err = &InputError{File: path, Err: fmt.Errorf("corrupt file: %v", r)}
	}
}

// readerProps are the Parquet reader's properties: pages streamed from the
// file rather than whole column chunks read first, so a map task holds a
// little of each column at a time.
func readerProps(mem memory.Allocator) *parquet.ReaderProperties {
	props := parquet.NewReaderProperties(mem)
	props.BufferedStreamEnabled = true
	props.BufferSize = 1 << 20
	return props
}

// parquetSchema reads a Parquet file's footer: its Arrow schema, rows and
// row groups.
func parquetSchema(f *File) (sc *arrow.Schema, err error) {
	defer guard(f.Path, &err)
	rdr, err := file.OpenParquetFile(f.Path, false, file.WithReadProps(readerProps(memory.DefaultAllocator)))
	if err != nil {
		return nil, &InputError{File: f.Path, Err: fmt.Errorf("not a readable Parquet file: %w", err)}
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return nil, &InputError{File: f.Path, Err: fmt.Errorf("reading its schema: %w", err)}
	}
	if sc, err = fr.Schema(); err != nil {
		return nil, &InputError{File: f.Path, Err: fmt.Errorf("reading its schema: %w", err)}
	}
	f.Rows = rdr.NumRows()
	f.Parts = rdr.NumRowGroups()
	f.rowGroupRows = make([]int64, f.Parts)
	var sum int64
	for g := range f.Parts {
		f.rowGroupRows[g] = rdr.MetaData().RowGroup(g).NumRows()
		sum += f.rowGroupRows[g]
	}
	if sum != f.Rows {
		return nil, &InputError{File: f.Path, Err: fmt.Errorf("corrupt footer: its row groups hold %d rows, it says %d", sum, f.Rows)}
	}
	return sc, nil
}

// arrowSchema reads an Arrow IPC file's schema and batch count, or an IPC
// stream's schema.
func arrowSchema(f *File) (sc *arrow.Schema, err error) {
	defer guard(f.Path, &err)
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, &InputError{File: f.Path, Err: statError(err)}
	}
	defer fh.Close()
	head := make([]byte, len(ipcMagic))
	if _, err := io.ReadFull(fh, head); err != nil {
		return nil, &InputError{File: f.Path, Err: errors.New("not an Arrow IPC file: too short")}
	}
	if !bytes.Equal(head, ipcMagic) {
		f.Stream = true
		if _, err := fh.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		r, err := ipc.NewReader(fh)
		if err != nil {
			return nil, &InputError{File: f.Path, Err: fmt.Errorf("not an Arrow IPC file or stream: %w", err)}
		}
		defer r.Release()
		return r.Schema(), nil
	}
	r, err := ipc.NewFileReader(fh)
	if err != nil {
		return nil, &InputError{File: f.Path, Err: fmt.Errorf("not a readable Arrow IPC file: %w", err)}
	}
	defer r.Close()
	f.Parts = r.NumRecords()
	f.Rows = -1 // the footer does not say how many rows the batches hold
	return r.Schema(), nil
}

// openTask opens the source of a task's batches.
func openTask(ctx context.Context, p *Plan, t Task, mem memory.Allocator) (source, error) {
	f := p.Files[t.File]
	fi, err := os.Stat(f.Path)
	if err != nil {
		return nil, &InputError{File: f.Path, Err: statError(err)}
	}
	if fi.Size() != f.Size || !fi.ModTime().Equal(f.ModTime) {
		return nil, &InputError{File: f.Path, Err: errors.New("the file changed since the shuffle was planned")}
	}
	switch {
	case f.Format == Parquet:
		return openParquet(ctx, p, f, t, mem)
	case f.Format == CSV:
		return openCSV(p, f, mem)
	case f.Stream:
		return openIPCStream(p, f, mem)
	default:
		return openIPCFile(p, f, t, mem)
	}
}

// conform returns rec with the plan's schema (the same columns; the field
// nullability and metadata of the plan), or an error if its columns differ.
func conform(p *Plan, path string, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	if rec.Schema().Equal(p.schema) {
		rec.Retain()
		return rec, nil
	}
	if err := sameColumns(p.schema, rec.Schema(), "when planned", "now"); err != nil {
		return nil, &InputError{File: path, Err: fmt.Errorf("its schema changed since the shuffle was planned: %w", err)}
	}
	return array.NewRecordBatch(p.schema, rec.Columns(), rec.NumRows()), nil
}

type parquetSource struct {
	p    *Plan
	path string
	want int64 // rows the task's row groups hold
	got  int64
	rdr  *file.Reader
	rr   pqarrow.RecordReader
}

func openParquet(ctx context.Context, p *Plan, f File, t Task, mem memory.Allocator) (s source, err error) {
	defer guard(f.Path, &err)
	rdr, err := file.OpenParquetFile(f.Path, false, file.WithReadProps(readerProps(mem)))
	if err != nil {
		return nil, &InputError{File: f.Path, Err: fmt.Errorf("not a readable Parquet file: %w", err)}
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: int64(p.Job.BatchRows), PreAllocBinaryData: true}, mem)
	if err != nil {
		rdr.Close()
		return nil, &InputError{File: f.Path, Err: err}
	}
	groups := make([]int, t.Count)
	var want int64
	for i := range groups {
		groups[i] = t.First + i
		if groups[i] >= rdr.NumRowGroups() {
			rdr.Close()
			return nil, &InputError{File: f.Path, Err: errors.New("the file changed since the shuffle was planned")}
		}
		want += rdr.MetaData().RowGroup(groups[i]).NumRows()
	}
	rr, err := fr.GetRecordReader(ctx, nil, groups)
	if err != nil {
		rdr.Close()
		return nil, &InputError{File: f.Path, Err: fmt.Errorf("row groups %d to %d: %w", t.First, t.First+t.Count-1, err)}
	}
	return &parquetSource{p: p, path: f.Path, want: want, rdr: rdr, rr: rr}, nil
}

func (s *parquetSource) next() (rec arrow.RecordBatch, err error) {
	defer guard(s.path, &err)
	if !s.rr.Next() {
		if err := s.rr.Err(); err != nil && !errors.Is(err, io.EOF) {
			return nil, &InputError{File: s.path, Err: fmt.Errorf("corrupt data: %w", err)}
		}
		if s.got != s.want {
			return nil, &InputError{File: s.path, Err: fmt.Errorf("corrupt data: read %d rows of row groups that hold %d", s.got, s.want)}
		}
		return nil, nil
	}
	r := s.rr.RecordBatch()
	s.got += r.NumRows()
	return conform(s.p, s.path, r)
}

func (s *parquetSource) close() error {
	s.rr.Release()
	return s.rdr.Close()
}

type ipcFileSource struct {
	p          *Plan
	path       string
	fh         *os.File
	r          *ipc.FileReader
	next_, end int
}

func openIPCFile(p *Plan, f File, t Task, mem memory.Allocator) (s source, err error) {
	defer guard(f.Path, &err)
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, &InputError{File: f.Path, Err: statError(err)}
	}
	r, err := ipc.NewFileReader(fh, ipc.WithAllocator(mem))
	if err != nil {
		fh.Close()
		return nil, &InputError{File: f.Path, Err: fmt.Errorf("not a readable Arrow IPC file: %w", err)}
	}
	end := t.First + t.Count
	if end > r.NumRecords() {
		r.Close()
		fh.Close()
		return nil, &InputError{File: f.Path, Err: errors.New("the file changed since the shuffle was planned")}
	}
	return &ipcFileSource{p: p, path: f.Path, fh: fh, r: r, next_: t.First, end: end}, nil
}

func (s *ipcFileSource) next() (rec arrow.RecordBatch, err error) {
	defer guard(s.path, &err)
	if s.next_ >= s.end {
		return nil, nil
	}
	r, err := s.r.RecordBatchAt(s.next_)
	if err != nil {
		return nil, &InputError{File: s.path, Err: fmt.Errorf("record batch %d: %w", s.next_, err)}
	}
	defer r.Release()
	s.next_++
	if err := validateBatch(r); err != nil {
		return nil, &InputError{File: s.path, Err: fmt.Errorf("record batch %d: corrupt: %w", s.next_-1, err)}
	}
	return conform(s.p, s.path, r)
}

func (s *ipcFileSource) close() error {
	err := s.r.Close()
	return errors.Join(err, s.fh.Close())
}

type ipcStreamSource struct {
	p    *Plan
	path string
	fh   *os.File
	r    *ipc.Reader
	n    int
}

func openIPCStream(p *Plan, f File, mem memory.Allocator) (s source, err error) {
	defer guard(f.Path, &err)
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, &InputError{File: f.Path, Err: statError(err)}
	}
	r, err := ipc.NewReader(fh, ipc.WithAllocator(mem))
	if err != nil {
		fh.Close()
		return nil, &InputError{File: f.Path, Err: fmt.Errorf("not a readable Arrow IPC stream: %w", err)}
	}
	return &ipcStreamSource{p: p, path: f.Path, fh: fh, r: r}, nil
}

func (s *ipcStreamSource) next() (rec arrow.RecordBatch, err error) {
	defer guard(s.path, &err)
	if !s.r.Next() {
		if err := s.r.Err(); err != nil {
			return nil, &InputError{File: s.path, Err: fmt.Errorf("record batch %d: corrupt: %w", s.n, err)}
		}
		return nil, nil
	}
	r := s.r.RecordBatch()
	s.n++
	if err := validateBatch(r); err != nil {
		return nil, &InputError{File: s.path, Err: fmt.Errorf("record batch %d: corrupt: %w", s.n-1, err)}
	}
	return conform(s.p, s.path, r)
}

func (s *ipcStreamSource) close() error {
	s.r.Release()
	return s.fh.Close()
}

// validateBatch checks a batch read from an IPC file fully, so that reading
// its values cannot panic later.
func validateBatch(rec arrow.RecordBatch) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return array.ValidateRecordFull(rec)
}
