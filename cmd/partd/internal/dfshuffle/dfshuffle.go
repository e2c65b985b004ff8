// Package dfshuffle is the engine of `partd shuffle --input`: a verified
// shuffle of a user's own Parquet, CSV and Arrow IPC files by one or more
// columns into N partition files, through a partd store.
//
// The command line only starts processes, shows progress and prints; every
// decision about what is read, where a row goes, what is written and whether
// the run was lossless lives here.
//
// # Phases
//
//  1. [NewPlan] expands the inputs (globs, directories), reads every file's
//     schema (a Parquet footer, an Arrow IPC schema, a CSV header and a sample
//     of rows), checks that they agree and that the --by columns exist,
//     refuses a non-empty output directory unless Job.Overwrite, splits the
//     work into tasks (Parquet by row groups, Arrow IPC files by record
//     batches, CSV files whole) and creates a staging directory beside the
//     output directory. Nothing is read beyond footers, headers and samples.
//  2. Map: [RunMapTask] reads one task's rows in batches, splits each batch
//     by the hash of the --by columns (arrowstore.Partition) and appends the
//     pieces to the store as Arrow IPC streams, under one key per partition,
//     task, attempt and chunk (see [ChunkKey]). It returns [MapStats]: per partition,
//     the rows sent and their order-independent checksum ([Stats]).
//  3. Reduce: once every map task has succeeded, [RunReduce] reads one
//     partition's keys batch by batch, checks that every row belongs to the
//     partition, writes the partition file(s) into the staging directory and
//     returns the rows and checksum it wrote.
//  4. [Verify] compares the map and reduce stats; [Plan.Commit] moves the
//     staging directory into place, [Plan.Abort] removes it.
//
// [Run] does all of it in one process with goroutines.
//
// # Output
//
// Partition p is written as DIR/part-NNNNN.EXT (p zero-padded to 5 digits),
// or, if it outgrows Job.FileBytes, as DIR/part-NNNNN-K.EXT for K = 0, 1, …
// A partition without rows has no file; an input without any rows yields one
// file, part-00000, without rows, so that the schema can still be read.
// Parquet files carry the Arrow schema (ARROW:schema), so Arrow readers get
// back the exact types (timestamp units and zones, large strings, unsigned
// integers); every column keeps its name, type and NULLs. Parquet has no
// unit of seconds: time32[s] and timestamp[s] columns (CSV inference gives
// them) are written in milliseconds, the same instants, as every Parquet
// writer does; the Arrow and CSV outputs keep them as they are.
//
// Output is all or nothing: partition files are written only after every
// map task has succeeded, into a staging directory in the output's parent
// (so that the final rename is atomic, on one file system), each file under a
// temporary name that is renamed once it is complete. Commit renames the
// staging directory to the output directory (with Overwrite, the old one is
// renamed aside first and removed after). A failed or interrupted run leaves
// the output directory as it was.
//
// # Partitioning
//
// Row r goes to partition arrowstore.PartitionOf(arrowstore.HashRows(r, by), N):
// a fixed hash of the --by columns' values (XXH3 for strings, the value as a
// 64-bit word for integers and times, MurmurHash3's finalizer to combine),
// the same in every process, run and machine. Rows with equal --by values
// always land in the same partition, and within a partition file the rows of
// one input task keep their input order.
//
// # Checksums
//
// A row's checksum is a hash of every column's value, NULLs included, salted
// by the column's position, name and type (see [RowChecksums]); a set of rows
// is summarized by its count, the wrapping sum and the xor of its rows'
// checksums, so the order in which rows arrive does not matter while a lost,
// duplicated, misplaced or altered row does.
//
// # Memory
//
// A map task holds one input batch (Job.BatchRows rows), the partitioned
// pieces waiting to be appended (up to Job.FlushBytes, twice while one append
// is in flight) and, for Parquet, the pages of the column chunks being read.
// A reducer holds one store key (at most about Job.KeyBytes) and one output
// row group (Job.RowGroupRows rows, encoded). The shuffled data itself lives
// in the store: with a Buffer over a Log, in the Buffer's memory limit and on
// disk.
package dfshuffle

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gopartd/partd/arrowstore"
)

// Formats of input and output files.
const (
	Parquet = "parquet" // Apache Parquet, read and written with parquet/pqarrow
	CSV     = "csv"     // comma-separated values with a header line
	Arrow   = "arrow"   // the Arrow IPC file format (Feather v2); inputs may also be IPC streams
)

// Defaults of the tuning fields of Job.
const (
	DefaultPrefix       = "dfshuffle"
	DefaultTaskRows     = 1 << 20
	DefaultBatchRows    = 64 << 10
	DefaultFlushBytes   = 8 << 20
	DefaultKeyBytes     = 32 << 20
	DefaultRowGroupRows = 1 << 20
	DefaultFileBytes    = 1 << 30
	DefaultInferRows    = 10_000
)

// Job is what a user asks of a shuffle. The zero values of the tuning
// fields mean their defaults.
type Job struct {
	// Inputs are files, directories (their files with a known extension,
	// not hidden and not starting with "_", not recursively) or glob
	// patterns (path/filepath.Match syntax). A file named twice is read
	// once.
	Inputs []string `json:"inputs"`
	// InputFormat is parquet, csv or arrow for every input; "" decides by
	// extension: .parquet .parq .pq, .csv, .arrow .feather .ipc .arrows.
	InputFormat string `json:"input_format,omitempty"`
	// By are the columns whose values decide a row's partition.
	By []string `json:"by"`
	// Partitions is the number of partitions, at least 1.
	Partitions int `json:"partitions"`
	// Output is the directory the partition files go to. It may not exist
	// yet (it and its parents are created); if it holds anything, the job
	// is refused unless Overwrite.
	Output string `json:"output"`
	// OutputFormat is parquet (the default), arrow or csv.
	OutputFormat string `json:"output_format,omitempty"`
	// Overwrite replaces a non-empty Output directory, all of its contents,
	// once the new one is complete.
	Overwrite bool `json:"overwrite,omitempty"`

	// Compression is the Parquet output's codec: snappy (the default),
	// zstd, lz4, gzip or none.
	Compression string `json:"compression,omitempty"`
	// Dictionary says which Parquet output columns are dictionary-encoded:
	// auto (the default: those whose values repeat, see below), all or
	// none. Under auto, a partition's first 16Ki rows decide: a column is
	// dictionary-encoded if its distinct values are at most half of them.
	Dictionary string `json:"dictionary,omitempty"`
	// StoreCompression is the Arrow IPC body compression of what the map
	// tasks append to the store: none (the default), lz4 or zstd. It trades
	// CPU for fewer bytes through the server and into the Buffer and Log.
	StoreCompression string `json:"store_compression,omitempty"`
	// CSV says how CSV inputs are read.
	CSV CSVOptions `json:"csv,omitzero"`
	// Prefix is the first part of every store key the job writes (default
	// "dfshuffle"): two jobs that share a store need different prefixes.
	Prefix string `json:"prefix,omitempty"`

	// TaskRows is about how many rows one map task reads: Parquet row
	// groups and Arrow record batches of a file are grouped into tasks of
	// at most this many rows (a single larger row group is a task of its
	// own). CSV files are one task each.
	TaskRows int64 `json:"task_rows,omitempty"`
	// BatchRows is how many rows are read, partitioned and checksummed at a
	// time.
	BatchRows int `json:"batch_rows,omitempty"`
	// FlushBytes is how many bytes of partitioned batches a map task
	// gathers before it appends them to the store, in one call.
	FlushBytes int64 `json:"flush_bytes,omitempty"`
	// KeyBytes bounds the bytes one store key collects: past it, a map task
	// starts a new key for the partition, so a reducer never holds more than
	// about this much of the store at once.
	KeyBytes int64 `json:"key_bytes,omitempty"`
	// RowGroupRows is the most rows of one Parquet row group of the
	// output; a row group also ends once it holds 64 MiB encoded, which
	// bounds what a reducer holds in memory.
	RowGroupRows int64 `json:"row_group_rows,omitempty"`
	// FileBytes is the size past which a partition continues in a new file
	// (part-NNNNN-K), checked after each row group.
	FileBytes int64 `json:"file_bytes,omitempty"`
}

// CSVOptions say how CSV inputs are read. Their column types are inferred
// as arrow-go's csv.NewInferringReader infers them, over a sample of rows
// rather than the first row alone (see [InferCSVTypes]).
type CSVOptions struct {
	// Comma is the field delimiter; 0 means ','.
	Comma rune `json:"comma,omitempty"`
	// NullValues are the field values read as NULL, in every column
	// (strings too); nil means arrow-go's csv.DefaultNullValues: "",
	// "NULL", "null".
	NullValues []string `json:"null_values,omitempty"`
	// InferRows is how many rows of each file are sampled to infer the
	// column types; 0 means DefaultInferRows.
	InferRows int `json:"infer_rows,omitempty"`
}

// normalize checks a job and fills in its defaults.
func (j *Job) normalize() error {
	if len(j.Inputs) == 0 {
		return errors.New("dfshuffle: no input files")
	}
	if len(j.By) == 0 {
		return errors.New("dfshuffle: no columns to partition by")
	}
	seen := make(map[string]bool, len(j.By))
	for _, c := range j.By {
		if seen[c] {
			return fmt.Errorf("dfshuffle: column %q is named twice in by", c)
		}
		seen[c] = true
	}
	if j.Partitions < 1 || j.Partitions > 99_999 {
		return fmt.Errorf("dfshuffle: %d partitions: want 1 to 99,999", j.Partitions)
	}
	if j.Output == "" {
		return errors.New("dfshuffle: no output directory")
	}
	j.InputFormat = strings.ToLower(j.InputFormat)
	switch j.InputFormat {
	case "", Parquet, CSV, Arrow:
	case "ipc", "feather":
		j.InputFormat = Arrow
	default:
		return fmt.Errorf("dfshuffle: unknown input format %q (want parquet, csv or arrow)", j.InputFormat)
	}
	j.OutputFormat = strings.ToLower(j.OutputFormat)
	switch j.OutputFormat {
	case "":
		j.OutputFormat = Parquet
	case Parquet, CSV, Arrow:
	case "ipc", "feather":
		j.OutputFormat = Arrow
	default:
		return fmt.Errorf("dfshuffle: unknown output format %q (want parquet, arrow or csv)", j.OutputFormat)
	}
	j.Compression = strings.ToLower(j.Compression)
	if j.Compression == "" {
		j.Compression = "snappy"
	}
	if _, err := parquetCodec(j.Compression); err != nil {
		return err
	}
	if _, err := storeCodec(j.StoreCompression); err != nil {
		return err
	}
	j.Dictionary = strings.ToLower(j.Dictionary)
	switch j.Dictionary {
	case "":
		j.Dictionary = "auto"
	case "auto", "all", "none":
	default:
		return fmt.Errorf("dfshuffle: dictionary %q: want auto, all or none", j.Dictionary)
	}
	if j.Prefix == "" {
		j.Prefix = DefaultPrefix
	}
	if strings.Contains(j.Prefix, "/") || j.Prefix == "." || j.Prefix == ".." {
		return fmt.Errorf("dfshuffle: prefix %q: want one key part, without /", j.Prefix)
	}
	if j.CSV.InferRows <= 0 {
		j.CSV.InferRows = DefaultInferRows
	}
	if j.CSV.Comma == 0 {
		j.CSV.Comma = ','
	}
	setDefault(&j.TaskRows, DefaultTaskRows)
	setDefault(&j.BatchRows, DefaultBatchRows)
	setDefault(&j.FlushBytes, DefaultFlushBytes)
	setDefault(&j.KeyBytes, DefaultKeyBytes)
	setDefault(&j.RowGroupRows, DefaultRowGroupRows)
	setDefault(&j.FileBytes, DefaultFileBytes)
	return nil
}

func setDefault[T int | int64](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// storeCodec returns the arrowstore compression of a Job.StoreCompression
// name.
func storeCodec(name string) (arrowstore.Compression, error) {
	switch strings.ToLower(name) {
	case "", "none", "uncompressed":
		return arrowstore.Uncompressed, nil
	case "lz4":
		return arrowstore.LZ4Frame, nil
	case "zstd":
		return arrowstore.Zstd, nil
	}
	return 0, fmt.Errorf("dfshuffle: unknown store compression %q (want none, lz4 or zstd)", name)
}

// PartitionPrefix is the prefix of the store keys that hold partition p of
// a job whose Job.Prefix is prefix.
func PartitionPrefix(prefix string, p int) string {
	return fmt.Sprintf("%s/part-%05d/", prefix, p)
}

// ChunkKey is the store key that holds chunk seq of what attempt attempt
// of map task task sent to partition p: PartitionPrefix followed by
// tTTTTTTTT-aAAAA-SSSS. Keys of one partition sort by task, then attempt,
// then chunk, which is the order a reducer writes them in. Each attempt at
// a task writes keys of its own, so that a reducer reads exactly one
// attempt of each task (Plan.Committed) whatever the others left behind.
func ChunkKey(prefix string, p, task, attempt, seq int) string {
	return fmt.Sprintf("%s/part-%05d/t%08d-a%04d-%04d", prefix, p, task, attempt, seq)
}

// chunkAttempt returns the task and attempt of a key ChunkKey made.
func chunkAttempt(key string) (task, attempt int, ok bool) {
	name := key[strings.LastIndexByte(key, '/')+1:]
	var seq int
	if n, err := fmt.Sscanf(name, "t%08d-a%04d-%04d", &task, &attempt, &seq); err != nil || n != 3 {
		return 0, 0, false
	}
	return task, attempt, true
}

// PartitionFile is the name of partition p's output file in format: part-NNNNN.EXT,
// or part-NNNNN-K.EXT for the file k of a partition written in several.
func PartitionFile(p, k int, several bool, format string) string {
	if several {
		return fmt.Sprintf("part-%05d-%d.%s", p, k, format)
	}
	return fmt.Sprintf("part-%05d.%s", p, format)
}

// InputError is the error of a bad input: a missing or unreadable file, a
// corrupt one, a column that is not there, schemas that differ, a CSV row
// that does not fit. It names the file and, where it knows them, the column
// and the line.
type InputError struct {
	File   string // the file at fault
	Other  string // for schemas that differ: the file it differs from
	Column string // the column, if one is at fault
	Line   int64  // the line of a CSV file, if known (1 is the header)
	Err    error
}

// Error says what is wrong and where.
func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, ": column %q", e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error.
func (e *InputError) Unwrap() error { return e.Err }
