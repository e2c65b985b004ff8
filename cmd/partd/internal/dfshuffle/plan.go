package dfshuffle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/gopartd/partd/internal/tmpdir"
)

// Plan is a checked job: its input files, their common schema, the map
// tasks and the staging directory the partition files are written to.
// NewPlan makes one; it travels to other processes as JSON ([Plan.Save],
// [ReadPlan]). Its exported fields are for reading.
type Plan struct {
	Job     Job    `json:"job"`     // the job, with defaults filled in and paths made absolute
	Files   []File `json:"files"`   // the input files, in the order they were named
	Tasks   []Task `json:"tasks"`   // the map tasks; Tasks[i].ID == i
	Staging string `json:"staging"` // the directory the partition files are written to before Commit
	// SchemaIPC is the common schema as an Arrow IPC stream without
	// batches, for the JSON form; Schema returns it decoded.
	SchemaIPC []byte `json:"schema_ipc"`

	// Attempt numbers the map attempts of this process: the keys its map
	// tasks write carry it (ChunkKey). A process that runs a task again
	// after a failed attempt uses a new number. Not saved.
	Attempt int `json:"-"`
	// Committed, if not nil, holds the attempt of each map task whose keys
	// a reducer reads (the first attempt that succeeded); keys of other
	// attempts are left alone. Nil reads every key. Not saved: see
	// SaveCommitted.
	Committed map[int]int `json:"-"`

	schema  *arrow.Schema
	staging *tmpdir.Dir // held by the process that made the plan; nil in those that read it
}

// File is one input file of a plan.
type File struct {
	Path    string    `json:"path"`             // absolute
	Format  string    `json:"format"`           // parquet, csv or arrow
	Stream  bool      `json:"stream,omitempty"` // an Arrow IPC stream rather than an IPC file
	Size    int64     `json:"size"`             // when planned: a map task refuses a file that changed since
	ModTime time.Time `json:"mod_time"`         // when planned, as Size
	Rows    int64     `json:"rows"`             // -1 if the file does not say before it is read (CSV, Arrow IPC)
	Parts   int       `json:"parts"`            // row groups of a Parquet file, record batches of an IPC file

	rowGroupRows []int64 // the rows of each row group of a Parquet file, at planning
}

// Task is one unit of map work: a range of row groups of a Parquet file, a
// range of record batches of an Arrow IPC file, or a whole CSV file or IPC
// stream.
type Task struct {
	ID    int   `json:"id"`
	File  int   `json:"file"`            // index into Plan.Files
	First int   `json:"first,omitempty"` // first row group or record batch
	Count int   `json:"count,omitempty"` // row groups or record batches; 0: the whole file
	Rows  int64 `json:"rows"`            // rows the task reads; -1 if not known in advance
}

// Schema returns the schema every input file has (field by field: names and
// types equal, nullable if any file's is) and every partition file gets.
func (p *Plan) Schema() *arrow.Schema { return p.schema }

// Rows returns the rows of all inputs, or -1 if some file does not say
// before it is read (CSV and Arrow IPC files).
func (p *Plan) Rows() int64 {
	var n int64
	for _, f := range p.Files {
		if f.Rows < 0 {
			return -1
		}
		n += f.Rows
	}
	return n
}

// NewPlan checks job and plans it: it expands the inputs, reads every
// file's schema (Parquet footers, Arrow IPC schemas, CSV headers and a
// sample of rows to infer types), checks that the schemas agree and that
// the By columns exist, checks the output directory, splits the work into
// tasks and creates the staging directory, which the caller ends with
// Commit or Abort. Bad input is an *InputError naming the file (and the
// column, or the other file); nothing is created then.
func NewPlan(ctx context.Context, job Job) (*Plan, error) {
	if err := job.normalize(); err != nil {
		return nil, err
	}
	out, err := filepath.Abs(job.Output)
	if err != nil {
		return nil, err
	}
	job.Output = out
	paths, err := expandInputs(job.Inputs)
	if err != nil {
		return nil, err
	}
	p := &Plan{Job: job, Files: make([]File, len(paths))}
	for i, path := range paths {
		format := job.InputFormat
		if format == "" {
			if format = formatOf(path); format == "" {
				return nil, &InputError{File: path, Err: errors.New("unknown file type: name it .parquet, .csv or .arrow, or give the input format")}
			}
		}
		p.Files[i] = File{Path: path, Format: format, Rows: -1}
	}
	if err := p.checkOutput(); err != nil {
		return nil, err
	}
	schemas, err := p.readSchemas(ctx)
	if err != nil {
		return nil, err
	}
	if p.schema, err = unifySchemas(p.Files, schemas); err != nil {
		return nil, err
	}
	if err := checkBy(p.schema, job.By, p.Files[0].Path); err != nil {
		return nil, err
	}
	if p.SchemaIPC, err = encodeSchema(p.schema); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o777); err != nil {
		return nil, err
	}
	// Staging directories of runs that were killed are removed first.
	pattern := "." + filepath.Base(out) + ".partd-*"
	if _, err := tmpdir.Sweep(filepath.Dir(out), pattern); err != nil {
		return nil, err
	}
	if p.staging, err = tmpdir.Make(filepath.Dir(out), pattern); err != nil {
		return nil, fmt.Errorf("dfshuffle: creating the staging directory: %w", err)
	}
	p.Staging = p.staging.Path
	return p, nil
}

// inputExts are the extensions an input format is known by.
var inputExts = map[string]string{
	".parquet": Parquet, ".parq": Parquet, ".pq": Parquet,
	".csv":   CSV,
	".arrow": Arrow, ".feather": Arrow, ".ipc": Arrow, ".arrows": Arrow,
}

func formatOf(path string) string { return inputExts[strings.ToLower(filepath.Ext(path))] }

// expandInputs turns the inputs into a list of distinct absolute file
// paths, in the order given (a glob's or directory's matches sorted).
func expandInputs(inputs []string) ([]string, error) {
	var out []string
	seen := make(map[string]bool)
	add := func(path string) error {
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		if !seen[abs] {
			seen[abs] = true
			out = append(out, abs)
		}
		return nil
	}
	for _, in := range inputs {
		if in == "" {
			return nil, errors.New("dfshuffle: an empty input path")
		}
		matches := []string{in}
		if _, err := os.Lstat(in); err != nil && strings.ContainsAny(in, `*?[\`) { // a file of that very name is taken as it is
			var err error
			if matches, err = filepath.Glob(in); err != nil {
				return nil, &InputError{File: in, Err: fmt.Errorf("bad pattern: %w", err)}
			}
			if len(matches) == 0 {
				return nil, &InputError{File: in, Err: errors.New("no file matches")}
			}
		}
		for _, m := range matches {
			fi, err := os.Stat(m)
			if err != nil {
				return nil, &InputError{File: m, Err: statError(err)}
			}
			if !fi.IsDir() {
				if err := add(m); err != nil {
					return nil, err
				}
				continue
			}
			ents, err := os.ReadDir(m)
			if err != nil {
				return nil, &InputError{File: m, Err: err}
			}
			n := 0
			for _, e := range ents {
				name := e.Name()
				if e.IsDir() || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || formatOf(name) == "" {
					continue
				}
				if err := add(filepath.Join(m, name)); err != nil {
					return nil, err
				}
				n++
			}
			if n == 0 {
				return nil, &InputError{File: m, Err: errors.New("directory holds no .parquet, .csv or .arrow file")}
			}
		}
	}
	return out, nil
}

// statError says plainly why a file cannot be used.
func statError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("no such file")
	case errors.Is(err, fs.ErrPermission):
		return errors.New("permission denied")
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkOutput refuses an output that is a file, a non-empty directory
// (unless Overwrite), or, with Overwrite, a directory holding an input.
func (p *Plan) checkOutput() error {
	out := p.Job.Output
	fi, err := os.Stat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dfshuffle: output %s: %w", out, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("dfshuffle: output %s is not a directory", out)
	}
	empty, err := emptyDir(out)
	if err != nil {
		return fmt.Errorf("dfshuffle: output %s: %w", out, err)
	}
	if empty {
		return nil
	}
	if !p.Job.Overwrite {
		return fmt.Errorf("dfshuffle: output directory %s is not empty (overwrite to replace it)", out)
	}
	for _, f := range p.Files {
		if rel, err := filepath.Rel(out, f.Path); err == nil && !strings.HasPrefix(rel, "..") {
			return fmt.Errorf("dfshuffle: input %s lies inside the output directory %s, which overwriting would remove", f.Path, out)
		}
	}
	return nil
}

func emptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if err == io.EOF {
		return true, nil
	}
	return false, err
}

// readSchemas reads every file's schema (and fills in its size, rows and
// parts), a few files at a time.
func (p *Plan) readSchemas(ctx context.Context) ([]*arrow.Schema, error) {
	schemas := make([]*arrow.Schema, len(p.Files))
	errs := make([]error, len(p.Files))
	var csvSamples []*csvSample
	var mu sync.Mutex
	sem := make(chan struct{}, max(4, runtime.GOMAXPROCS(0)))
	var wg sync.WaitGroup
	for i := range p.Files {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f := &p.Files[i]
			fi, err := os.Stat(f.Path)
			if err != nil {
				errs[i] = &InputError{File: f.Path, Err: statError(err)}
				return
			}
			f.Size, f.ModTime = fi.Size(), fi.ModTime()
			switch f.Format {
			case Parquet:
				schemas[i], errs[i] = parquetSchema(f)
			case Arrow:
				schemas[i], errs[i] = arrowSchema(f)
			case CSV:
				var s *csvSample
				s, errs[i] = sampleCSV(f.Path, p.Job.CSV)
				if s != nil {
					s.file = i
					mu.Lock()
					csvSamples = append(csvSamples, s)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if len(csvSamples) > 0 {
		slices.SortFunc(csvSamples, func(a, b *csvSample) int { return a.file - b.file })
		sc, err := inferCSVSchema(csvSamples, p.Job.CSV)
		if err != nil {
			return nil, err
		}
		for _, s := range csvSamples {
			schemas[s.file] = sc
		}
	}
	for i, f := range p.Files {
		switch {
		case f.Format == CSV || f.Stream:
			p.Tasks = append(p.Tasks, Task{ID: len(p.Tasks), File: i, Rows: -1})
		case f.Format == Parquet:
			p.Tasks = append(p.Tasks, p.parquetTasks(i)...)
		default:
			p.Tasks = append(p.Tasks, p.arrowTasks(i)...)
		}
	}
	return schemas, nil
}

// unifySchemas checks that every file has the first file's columns, in the
// same order and of the same types, and returns the common schema: the
// first file's fields, nullable where any file's is, with the field metadata
// all files agree on.
func unifySchemas(files []File, schemas []*arrow.Schema) (*arrow.Schema, error) {
	first := schemas[0]
	fields := slices.Clone(first.Fields())
	for _, f := range fields {
		if seen := first.FieldIndices(f.Name); len(seen) > 1 {
			return nil, &InputError{File: files[0].Path, Column: f.Name, Err: fmt.Errorf("%d columns have this name", len(seen))}
		}
		if !supportedType(f.Type) {
			return nil, &InputError{File: files[0].Path, Column: f.Name, Err: fmt.Errorf("type %s is not supported", f.Type)}
		}
	}
	for k := 1; k < len(schemas); k++ {
		sc := schemas[k]
		if err := sameColumns(first, sc, "there", "in this file"); err != nil {
			return nil, &InputError{File: files[k].Path, Other: files[0].Path,
				Err: fmt.Errorf("its schema differs from that of %s: %w", files[0].Path, err)}
		}
		for i, f := range sc.Fields() {
			fields[i].Nullable = fields[i].Nullable || f.Nullable
			if !fields[i].Metadata.Equal(f.Metadata) {
				fields[i].Metadata = arrow.Metadata{}
			}
		}
	}
	md := first.Metadata()
	var keys, vals []string
	for i, k := range md.Keys() {
		if k != "ARROW:schema" {
			keys, vals = append(keys, k), append(vals, md.Values()[i])
		}
	}
	meta := arrow.NewMetadata(keys, vals)
	return arrow.NewSchema(fields, &meta), nil
}

// sameColumns says how schema b differs from schema a in its columns'
// names and types, or returns nil. aWhere and bWhere say where each is
// ("there", "in this file").
func sameColumns(a, b *arrow.Schema, aWhere, bWhere string) error {
	for i := range min(a.NumFields(), b.NumFields()) {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name {
			return fmt.Errorf("column %d is %q %s, %q %s", i+1, fa.Name, aWhere, fb.Name, bWhere)
		}
		if !arrow.TypeEqual(fa.Type, fb.Type) {
			return fmt.Errorf("column %q is %s %s, %s %s", fa.Name, fa.Type, aWhere, fb.Type, bWhere)
		}
	}
	if a.NumFields() != b.NumFields() {
		return fmt.Errorf("%d columns %s, %d %s", a.NumFields(), aWhere, b.NumFields(), bWhere)
	}
	return nil
}

// supportedType reports whether the engine can carry columns of type dt:
// any type but the ones the IPC layer or the output writers cannot take.
func supportedType(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.RUN_END_ENCODED, arrow.SPARSE_UNION, arrow.DENSE_UNION:
		return false
	}
	return true
}

// checkBy checks that the by columns exist and can be hashed.
func checkBy(sc *arrow.Schema, by []string, file string) error {
	for _, c := range by {
		idx := sc.FieldIndices(c)
		if len(idx) == 0 {
			names := make([]string, sc.NumFields())
			for i, f := range sc.Fields() {
				names[i] = f.Name
			}
			return &InputError{File: file, Column: c, Err: fmt.Errorf("no such column (the columns are %s)", strings.Join(names, ", "))}
		}
		switch dt := sc.Field(idx[0]).Type; dt.ID() {
		case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.LIST_VIEW, arrow.LARGE_LIST_VIEW,
			arrow.STRUCT, arrow.MAP, arrow.INTERVAL_MONTHS, arrow.INTERVAL_DAY_TIME, arrow.INTERVAL_MONTH_DAY_NANO:
			return &InputError{File: file, Column: c, Err: fmt.Errorf("cannot partition by a column of type %s", dt)}
		}
	}
	return nil
}

// parquetTasks groups the row groups of file i into tasks of at most
// TaskRows rows.
func (p *Plan) parquetTasks(i int) []Task {
	return groupTasks(p, i, p.Files[i].rowGroupRows)
}

// ipcTaskBytes is about how many bytes of an Arrow IPC file one map task
// reads: the file's footer gives its batches' places, not their rows.
const ipcTaskBytes = 256 << 20

// arrowTasks groups the record batches of the IPC file i into tasks of
// about ipcTaskBytes of the file each, supposing batches of equal size.
func (p *Plan) arrowTasks(i int) []Task {
	f := p.Files[i]
	per := max(1, int(int64(f.Parts)*ipcTaskBytes/max(f.Size, 1)))
	var tasks []Task
	for b := 0; b < f.Parts; b += per {
		tasks = append(tasks, Task{ID: len(p.Tasks) + len(tasks), File: i, First: b, Count: min(per, f.Parts-b), Rows: -1})
	}
	return tasks
}

func groupTasks(p *Plan, file int, rows []int64) []Task {
	var tasks []Task
	cur := Task{File: file, First: 0}
	for g, n := range rows {
		if cur.Count > 0 && cur.Rows+n > p.Job.TaskRows {
			cur.ID = len(p.Tasks) + len(tasks)
			tasks = append(tasks, cur)
			cur = Task{File: file, First: g}
		}
		cur.Count++
		cur.Rows += n
	}
	if cur.Count > 0 {
		cur.ID = len(p.Tasks) + len(tasks)
		tasks = append(tasks, cur)
	}
	return tasks
}

// encodeSchema writes sc as an IPC stream without batches.
func encodeSchema(sc *arrow.Schema) ([]byte, error) {
	var b bytes.Buffer
	w := ipc.NewWriter(&b, ipc.WithSchema(sc))
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func decodeSchema(b []byte) (*arrow.Schema, error) {
	r, err := ipc.NewReader(bytes.NewReader(b), ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return nil, err
	}
	defer r.Release()
	return r.Schema(), nil
}

// planFile is the name of the plan in the staging directory.
const planFile = ".partd-plan.json"

// committedFile is the name of the committed attempts in the staging
// directory (SaveCommitted).
const committedFile = ".partd-committed.json"

// SaveCommitted writes p.Committed into the staging directory, for reduce
// processes (ReadCommitted), and returns its path.
func (p *Plan) SaveCommitted() (string, error) {
	b, err := json.Marshal(p.Committed)
	if err != nil {
		return "", err
	}
	path := filepath.Join(p.Staging, committedFile)
	return path, os.WriteFile(path, b, 0o666)
}

// ReadCommitted sets p.Committed from a file SaveCommitted wrote. Every
// task of the plan must have its attempt.
func (p *Plan) ReadCommitted(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var c map[int]int
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("dfshuffle: committed attempts %s: %w", path, err)
	}
	for _, t := range p.Tasks {
		if _, ok := c[t.ID]; !ok {
			return fmt.Errorf("dfshuffle: committed attempts %s: no attempt of task %d", path, t.ID)
		}
	}
	p.Committed = c
	return nil
}

// Save writes the plan as JSON into the staging directory, for the map and
// reduce processes, and returns its path. Commit removes it.
func (p *Plan) Save() (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	path := filepath.Join(p.Staging, planFile)
	return path, os.WriteFile(path, b, 0o666)
}

// ReadPlan reads a plan that Save wrote.
func ReadPlan(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := new(Plan)
	if err := json.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("dfshuffle: plan %s: %w", path, err)
	}
	if p.schema, err = decodeSchema(p.SchemaIPC); err != nil {
		return nil, fmt.Errorf("dfshuffle: plan %s: schema: %w", path, err)
	}
	if err := p.Job.normalize(); err != nil {
		return nil, fmt.Errorf("dfshuffle: plan %s: %w", path, err)
	}
	for i, t := range p.Tasks {
		if t.ID != i || t.File < 0 || t.File >= len(p.Files) {
			return nil, fmt.Errorf("dfshuffle: plan %s: task %d is malformed", path, i)
		}
	}
	return p, nil
}

// Abort removes the staging directory and whatever was written to it.
func (p *Plan) Abort() error {
	if p.Staging == "" {
		return nil
	}
	if p.staging != nil {
		return p.staging.Remove()
	}
	return os.RemoveAll(p.Staging)
}

// Commit makes the staging directory the output directory: it removes the
// plan file, writes an empty part-00000 if no partition had rows, and
// renames the staging directory into place. An existing output directory is
// replaced only if it is empty or the job says Overwrite; it is renamed
// aside first and removed once the new one is in place.
func (p *Plan) Commit() error {
	for _, name := range []string{planFile, committedFile} {
		if err := os.Remove(filepath.Join(p.Staging, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if p.staging != nil {
		if err := p.staging.Unlock(); err != nil {
			return err
		}
	}
	empty, err := emptyDir(p.Staging)
	if err != nil {
		return err
	}
	if empty {
		if err := writeEmptyPartition(p); err != nil {
			return err
		}
	}
	out := p.Job.Output
	old := ""
	fi, err := os.Stat(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("dfshuffle: output %s is not a directory", out)
	default:
		isEmpty, err := emptyDir(out)
		if err != nil {
			return err
		}
		if isEmpty {
			if err := os.Remove(out); err != nil {
				return err
			}
			break
		}
		if !p.Job.Overwrite {
			return fmt.Errorf("dfshuffle: output directory %s is not empty (overwrite to replace it)", out)
		}
		old = p.Staging + ".old"
		if err := os.Rename(out, old); err != nil {
			return fmt.Errorf("dfshuffle: moving the old output aside: %w", err)
		}
	}
	if err := os.Rename(p.Staging, out); err != nil {
		if old != "" {
			os.Rename(old, out)
		}
		return fmt.Errorf("dfshuffle: moving the output into place: %w", err)
	}
	p.Staging = ""
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}
