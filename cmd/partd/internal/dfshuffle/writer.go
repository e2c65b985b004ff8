package dfshuffle

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	acsv "github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// parquetCodec returns the Parquet codec of a Job.Compression name.
func parquetCodec(name string) (compress.Compression, error) {
	switch name {
	case "snappy":
		return compress.Codecs.Snappy, nil
	case "zstd":
		return compress.Codecs.Zstd, nil
	case "lz4":
		return compress.Codecs.Lz4Raw, nil
	case "gzip":
		return compress.Codecs.Gzip, nil
	case "none", "uncompressed":
		return compress.Codecs.Uncompressed, nil
	}
	return 0, fmt.Errorf("dfshuffle: unknown Parquet compression %q (want snappy, zstd, lz4, gzip or none)", name)
}

// parquetBatchRows is how many rows the Parquet writer gathers before it
// writes them (at most a row group).
const parquetBatchRows = 64 << 10

// dictSampleRows is how many rows of a partition the Parquet writer looks
// at to choose the columns to dictionary-encode.
const dictSampleRows = 16 << 10

// fileWriter writes one output file.
type fileWriter interface {
	write(rec arrow.RecordBatch) error
	size() int64 // bytes written so far, about
	close() error
}

// partWriter writes the batches of one partition to one file or more in
// the staging directory, under partial names until finish.
type partWriter struct {
	p    *Plan
	part int
	mem  memory.Allocator

	partials []string // files written and closed, in order
	cur      fileWriter
	curPath  string
	bytes    int64

	// Parquet: batches held until parquetBatchRows rows have come (or the
	// end), written as one; the first ones choose the columns to
	// dictionary-encode.
	held     []arrow.RecordBatch
	heldRows int64
	dict     []bool // per column; nil until chosen
}

func newPartWriter(p *Plan, part int, mem memory.Allocator) *partWriter {
	return &partWriter{p: p, part: part, mem: mem}
}

func (w *partWriter) write(rec arrow.RecordBatch) error {
	if w.p.Job.OutputFormat != Parquet {
		return w.put(rec)
	}
	rec.Retain()
	w.held = append(w.held, rec)
	if w.heldRows += rec.NumRows(); w.heldRows < min(parquetBatchRows, w.p.Job.RowGroupRows) {
		return nil
	}
	return w.release()
}

// release writes the held batches as one: the store's batches are small
// (a map task's share of one partition), and pqarrow's cost per write call
// is high (it clears a pooled buffer of its own each time). The first time,
// it also chooses the columns to dictionary-encode.
func (w *partWriter) release() error {
	if len(w.held) == 0 {
		return nil
	}
	if w.dict == nil {
		switch w.p.Job.Dictionary {
		case "all", "none":
			w.dict = make([]bool, w.p.schema.NumFields())
			for i := range w.dict {
				w.dict[i] = w.p.Job.Dictionary == "all"
			}
		default:
			w.dict = chooseDictionaries(w.p.schema, w.held)
		}
	}
	held := w.held
	w.held, w.heldRows = nil, 0
	rec, err := concatBatches(w.mem, held)
	releaseAll(held)
	if err != nil {
		return err
	}
	defer rec.Release()
	return w.put(rec)
}

// put writes rec to the current file, opening one if needed and closing it
// once it has grown past FileBytes.
func (w *partWriter) put(rec arrow.RecordBatch) error {
	if w.cur == nil {
		path := filepath.Join(w.p.Staging, fmt.Sprintf("part-%05d-%d.%s%s", w.part, len(w.partials), w.p.Job.OutputFormat, partialSuffix))
		fw, err := w.open(path)
		if err != nil {
			return err
		}
		w.cur, w.curPath = fw, path
	}
	if err := w.cur.write(rec); err != nil {
		return err
	}
	if w.cur.size() >= w.p.Job.FileBytes {
		return w.closeCur()
	}
	return nil
}

func (w *partWriter) closeCur() error {
	if w.cur == nil {
		return nil
	}
	err := w.cur.close()
	w.cur = nil
	if err != nil {
		os.Remove(w.curPath)
		return err
	}
	fi, err := os.Stat(w.curPath)
	if err != nil {
		return err
	}
	w.bytes += fi.Size()
	w.partials = append(w.partials, w.curPath)
	return nil
}

func (w *partWriter) open(path string) (fileWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return nil, err
	}
	var fw fileWriter
	switch w.p.Job.OutputFormat {
	case Parquet:
		fw, err = newParquetFile(f, w.p, w.dict, w.mem)
	case Arrow:
		fw, err = newArrowFile(f, w.p, w.mem)
	default:
		fw = newCSVFile(f, w.p)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return fw, nil
}

// finish writes what is held, closes the last file and gives the files
// their final names: part-NNNNN.EXT, or part-NNNNN-K.EXT if there are
// several. It returns the names and their bytes.
func (w *partWriter) finish() ([]string, int64, error) {
	if err := w.release(); err != nil {
		return nil, 0, err
	}
	if err := w.closeCur(); err != nil {
		return nil, 0, err
	}
	names := make([]string, len(w.partials))
	for k, partial := range w.partials {
		names[k] = PartitionFile(w.part, k, len(w.partials) > 1, w.p.Job.OutputFormat)
		if err := os.Rename(partial, filepath.Join(w.p.Staging, names[k])); err != nil {
			return nil, 0, err
		}
	}
	w.partials = nil
	return names, w.bytes, nil
}

// abort closes and removes what the writer wrote.
func (w *partWriter) abort() {
	releaseAll(w.held)
	w.held = nil
	if w.cur != nil {
		w.cur.close()
		os.Remove(w.curPath)
		w.cur = nil
	}
	for _, f := range w.partials {
		os.Remove(f)
	}
	w.partials = nil
	removePartFiles(w.p.Staging, w.part)
}

// chooseDictionaries returns, per column, whether to dictionary-encode it
// in Parquet: if its values in recs repeat, on average, at least twice
// (distinct values at most half the rows). Building a dictionary of a column
// whose values are mostly distinct costs much time for nothing; a column of
// few distinct values shrinks and is read faster with one. Columns already
// dictionary-encoded in Arrow keep their dictionary. It looks at the first
// dictSampleRows rows of recs, and counts their distinct values by linear
// counting over a bitmap of 2^17 bits, which is within a few percent at
// that size.
func chooseDictionaries(sc *arrow.Schema, recs []arrow.RecordBatch) []bool {
	const logBits = 17
	dict := make([]bool, sc.NumFields())
	var rows int64
	var sample []arrow.RecordBatch
	for _, r := range recs {
		if rows >= dictSampleRows {
			break
		}
		if n := dictSampleRows - rows; r.NumRows() > n {
			r = r.NewSlice(0, n)
			defer r.Release()
		}
		sample = append(sample, r)
		rows += r.NumRows()
	}
	recs = sample
	bitmap := make([]uint64, 1<<logBits/64)
	var words []uint64
	for c, f := range sc.Fields() {
		switch f.Type.ID() {
		case arrow.DICTIONARY:
			dict[c] = true
			continue
		case arrow.BOOL, arrow.NULL, arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.LIST_VIEW,
			arrow.LARGE_LIST_VIEW, arrow.STRUCT, arrow.MAP, arrow.EXTENSION:
			continue
		}
		clear(bitmap)
		ok := true
		for _, r := range recs {
			col := r.Column(c)
			words = growWords(words, col.Len())
			if err := valueWords(col, words); err != nil {
				ok = false
				break
			}
			nulls := col.NullN() > 0
			for i, wd := range words {
				if nulls && col.IsNull(i) {
					continue
				}
				b := mix64(wd) >> (64 - logBits)
				bitmap[b/64] |= 1 << (b % 64)
			}
		}
		if !ok {
			continue
		}
		set := 0
		for _, w := range bitmap {
			set += bits.OnesCount64(w)
		}
		zero := float64(1<<logBits - set)
		distinct := float64(1<<logBits) * math.Log(float64(1<<logBits)/max(zero, 1))
		dict[c] = distinct <= float64(rows)/2
	}
	return dict
}

// parquetFile writes a Parquet file with pqarrow: the plan's codec,
// dictionaries only where chooseDictionaries found them worth it, row
// groups of RowGroupRows rows, and the Arrow schema stored in the file
// (ARROW:schema) so that Arrow readers get back the exact types.
type parquetFile struct {
	f  *os.File
	bw *bufio.Writer
	fw *pqarrow.FileWriter
}

func newParquetFile(f *os.File, p *Plan, dict []bool, mem memory.Allocator) (*parquetFile, error) {
	codec, err := parquetCodec(p.Job.Compression)
	if err != nil {
		return nil, err
	}
	opts := []parquet.WriterProperty{
		parquet.WithAllocator(mem),
		parquet.WithCompression(codec),
		parquet.WithDictionaryDefault(false),
		parquet.WithMaxRowGroupLength(p.Job.RowGroupRows),
		parquet.WithCreatedBy("partd shuffle (" + parquet.DefaultCreatedBy + ")"),
	}
	for c, on := range dict {
		if on {
			opts = append(opts, parquet.WithDictionaryPath(parquet.ColumnPath{p.schema.Field(c).Name}, true))
		}
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	fw, err := pqarrow.NewFileWriter(p.schema, bw, parquet.NewWriterProperties(opts...),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem)))
	if err != nil {
		return nil, err
	}
	return &parquetFile{f: f, bw: bw, fw: fw}, nil
}

// rowGroupBytes is the most encoded bytes a Parquet row group collects in
// memory before it is written out.
const rowGroupBytes = 64 << 20

func (w *parquetFile) write(rec arrow.RecordBatch) error {
	if err := w.fw.WriteBuffered(rec); err != nil {
		return err
	}
	if w.fw.RowGroupTotalCompressedBytes()+w.fw.RowGroupTotalBytesWritten() >= rowGroupBytes {
		return w.fw.NewBufferedRowGroupChecked()
	}
	return nil
}
func (w *parquetFile) size() int64 { return w.fw.TotalCompressedBytes() }

func (w *parquetFile) close() error {
	err := w.fw.Close()
	if err == nil {
		err = w.bw.Flush()
	}
	return errors.Join(err, w.f.Close())
}

// arrowFile writes an Arrow IPC file, joining the small batches of the
// store into batches of about BatchRows rows.
type arrowFile struct {
	f     *os.File
	bw    *bufio.Writer
	w     *ipc.FileWriter
	mem   memory.Allocator
	limit int64
	held  []arrow.RecordBatch
	rows  int64
}

func newArrowFile(f *os.File, p *Plan, mem memory.Allocator) (*arrowFile, error) {
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := ipc.NewFileWriter(bw, ipc.WithSchema(p.schema), ipc.WithAllocator(mem))
	if err != nil {
		return nil, err
	}
	return &arrowFile{f: f, bw: bw, w: w, mem: mem, limit: int64(p.Job.BatchRows)}, nil
}

func (a *arrowFile) write(rec arrow.RecordBatch) error {
	rec.Retain()
	a.held = append(a.held, rec)
	if a.rows += rec.NumRows(); a.rows >= a.limit {
		return a.flush()
	}
	return nil
}

func (a *arrowFile) flush() error {
	if len(a.held) == 0 {
		return nil
	}
	defer func() {
		releaseAll(a.held)
		a.held, a.rows = nil, 0
	}()
	rec, err := concatBatches(a.mem, a.held)
	if err != nil {
		return err
	}
	defer rec.Release()
	return a.w.Write(rec)
}

func (a *arrowFile) size() int64 {
	fi, err := a.f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size() + int64(a.bw.Buffered())
}

func (a *arrowFile) close() error {
	err := a.flush()
	if err == nil {
		err = a.w.Close()
	}
	if err == nil {
		err = a.bw.Flush()
	}
	return errors.Join(err, a.f.Close())
}

// concatBatches joins batches of one schema into one (or returns the one).
func concatBatches(mem memory.Allocator, recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(recs) == 1 {
		recs[0].Retain()
		return recs[0], nil
	}
	return joinBatches(mem, recs)
}

// joinBatches copies the rows of batches of one schema into one new batch.
func joinBatches(mem memory.Allocator, recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	sc := recs[0].Schema()
	cols := make([]arrow.Array, sc.NumFields())
	defer releaseArrays(cols)
	var rows int64
	for _, r := range recs {
		rows += r.NumRows()
	}
	parts := make([]arrow.Array, len(recs))
	for c := range cols {
		for i, r := range recs {
			parts[i] = r.Column(c)
		}
		var err error
		if cols[c], err = array.Concatenate(parts, mem); err != nil {
			return nil, err
		}
	}
	return array.NewRecordBatch(sc, cols, rows), nil
}

// csvFile writes a CSV file with a header line; NULL is an empty field.
type csvFile struct {
	f  *os.File
	bw *bufio.Writer
	w  *acsv.Writer
}

func newCSVFile(f *os.File, p *Plan) *csvFile {
	bw := bufio.NewWriterSize(f, 1<<20)
	comma := p.Job.CSV.Comma
	return &csvFile{f: f, bw: bw, w: acsv.NewWriter(bw, p.schema, acsv.WithHeader(true), acsv.WithNullWriter(""), acsv.WithComma(comma))}
}

func (c *csvFile) write(rec arrow.RecordBatch) error { return c.w.Write(rec) }

func (c *csvFile) size() int64 {
	fi, err := c.f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size() + int64(c.bw.Buffered())
}

func (c *csvFile) close() error {
	c.w.Flush()
	err := c.w.Error()
	if err == nil {
		err = c.bw.Flush()
	}
	return errors.Join(err, c.f.Close())
}

// writeEmptyPartition writes part-00000 without rows into the staging
// directory, so that an output whose input had no rows still has a file
// with the schema.
func writeEmptyPartition(p *Plan) error {
	w := newPartWriter(p, 0, memory.DefaultAllocator)
	w.dict = make([]bool, p.schema.NumFields())
	cols := emptyColumns(p.schema)
	rec := array.NewRecordBatch(p.schema, cols, 0)
	releaseArrays(cols)
	defer rec.Release()
	if err := w.put(rec); err != nil {
		w.abort()
		return err
	}
	if _, _, err := w.finish(); err != nil {
		w.abort()
		return err
	}
	return nil
}

func emptyColumns(sc *arrow.Schema) []arrow.Array {
	cols := make([]arrow.Array, sc.NumFields())
	for i, f := range sc.Fields() {
		cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, 0)
	}
	return cols
}

func releaseArrays(arrs []arrow.Array) {
	for _, a := range arrs {
		if a != nil {
			a.Release()
		}
	}
}
