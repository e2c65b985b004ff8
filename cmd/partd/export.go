package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	acsv "github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/spf13/cobra"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/arrowstore"
	"github.com/gopartd/partd/internal/keypath"
)

func newExportCmd() *cobra.Command {
	t := target{existing: true}
	var (
		prefix, output, format string
		overwrite              bool
	)
	cmd := &cobra.Command{
		Use:   "export --output DIR",
		Short: "Write the keys that hold Arrow record batches to Parquet, Arrow or CSV files",
		Long: `Write every key of the store that holds Arrow record batches (what the
arrowstore layer, partd shuffle and Dask's P2P shuffle append: concatenated
Arrow IPC streams) to a file of its own in --output, so that a spill a Go
program made opens in DuckDB, Polars, pandas or Spark. Key a/b becomes
DIR/a/b.parquet (.arrow, .csv: --output-format); a key part that is not a
plain file name is escaped as the File store escapes it. Keys that hold
other bytes are listed as skipped. Each file is written under a temporary
name and renamed into place once whole. --prefix exports only the keys
under a prefix.` + targetHelpRaw,
		Example: `  partd export --store log:///data/spill --output /tmp/export
  partd export --addr tcp://127.0.0.1:5555 --prefix dfshuffle/ --output-format arrow --output /tmp/parts`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := t.check(); err != nil {
				return err
			}
			if output == "" {
				return usageError{errors.New("export needs --output DIR")}
			}
			ext, ok := map[string]string{"parquet": ".parquet", "arrow": ".arrow", "csv": ".csv"}[format]
			if !ok {
				return usageError{fmt.Errorf("--output-format %q: want parquet, arrow or csv", format)}
			}
			if !overwrite {
				if names, _ := readNames(output); len(names) > 0 {
					return fmt.Errorf("--output %s is not empty (--overwrite writes into it anyway)", output)
				}
			}
			return t.use(cmd.Context(), false, func(s partd.Store) error {
				return exportKeys(cmd.OutOrStdout(), s, prefix, output, ext)
			})
		},
	}
	addTargetFlags(cmd, &t, true)
	fl := cmd.Flags()
	fl.StringVar(&prefix, "prefix", "", "export only the keys that start with this")
	fl.StringVar(&output, "output", "", "the directory the files go to")
	fl.StringVar(&format, "output-format", "parquet", "parquet, arrow or csv")
	fl.BoolVar(&overwrite, "overwrite", false, "write into a non-empty --output, replacing files of the same names")
	return cmd
}

// readNames returns the names in dir, nil if it does not exist.
func readNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(1)
}

// exportKeys writes each key of s under prefix that holds Arrow streams to
// a file in dir, and reports each.
func exportKeys(w io.Writer, s partd.Store, prefix, dir, ext string) error {
	keys, err := partd.KeysPrefix(s, prefix)
	if err != nil {
		return err
	}
	// The arrowstore layer over s; Close would close s, which use does.
	as, err := arrowstore.New(noClose{s})
	if err != nil {
		return err
	}
	defer as.Close()
	var files, skipped int
	var rows int64
	for _, k := range keys {
		path := filepath.Join(dir, filepath.FromSlash(keypath.Encode(k))+ext)
		n, err := exportKey(as, k, path, ext)
		if errors.Is(err, partd.ErrCorrupt) {
			skipped++
			fmt.Fprintf(w, "%s: skipped: not Arrow record batches (%v)\n", showKey(k), err)
			continue
		}
		if err != nil {
			return fmt.Errorf("export %q: %w", k, err)
		}
		files++
		rows += n
		fmt.Fprintf(w, "%s: %d rows -> %s\n", showKey(k), n, path)
	}
	fmt.Fprintf(w, "%d keys exported, %s rows, %d skipped\n", files, groupDigits(uint64(rows)), skipped)
	return nil
}

// exportKey writes the batches of key to path through a temporary file.
func exportKey(as *arrowstore.Store, key, path, ext string) (int64, error) {
	rd, err := as.Reader(key)
	if err != nil {
		return 0, err
	}
	defer rd.Release()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	n, err := writeBatches(f, rd, ext)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return n, nil
}

// batchWriter is what the three file formats have in common.
type batchWriter interface {
	Write(rec arrow.RecordBatch) error
	Close() error
}

// writeBatches writes what rd reads to f in the format of ext, and returns
// the rows.
func writeBatches(f *os.File, rd array.RecordReader, ext string) (int64, error) {
	sc := rd.Schema()
	w := struct{ io.Writer }{f} // Parquet's writer closes what it writes to; the caller closes f
	var bw batchWriter
	switch ext {
	case ".parquet":
		props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy), parquet.WithDictionaryDefault(false))
		pw, err := pqarrow.NewFileWriter(sc, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
		if err != nil {
			return 0, err
		}
		bw = pw
	case ".arrow":
		aw, err := ipc.NewFileWriter(w, ipc.WithSchema(sc))
		if err != nil {
			return 0, err
		}
		bw = aw
	default:
		bw = csvWriter{acsv.NewWriter(w, sc, acsv.WithHeader(true), acsv.WithNullWriter(""))}
	}
	var rows int64
	for rd.Next() {
		rec := rd.RecordBatch()
		if err := bw.Write(rec); err != nil {
			bw.Close()
			return 0, err
		}
		rows += rec.NumRows()
	}
	if err := rd.Err(); err != nil {
		bw.Close()
		return 0, err
	}
	return rows, bw.Close()
}

// csvWriter is arrow-go's CSV writer with a Close that flushes it.
type csvWriter struct{ *acsv.Writer }

func (w csvWriter) Close() error { return w.Flush() }

// noClose is a Store whose Close does nothing: a layer over a store that
// someone else closes.
type noClose struct{ partd.Store }

func (noClose) Close() error { return nil }

// Unwrap returns the store below, whose capabilities the layer may use.
func (n noClose) Unwrap() partd.Store { return n.Store }
