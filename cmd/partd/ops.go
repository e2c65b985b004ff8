package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/compress"
)

// The everyday commands: append, get, keys, delete, drop, stat, repair.
// Each works on any store by URI (--store, $PARTD_STORE), a File store
// directory (--dir) or a server (--addr, $PARTD_ADDR).

const targetHelp = `

The store is named by --store URI (mem://, file:///abs/dir, log:///abs/dir,
tcp://HOST:PORT, ipc://PATH), or by the shorthands --dir DIR (a File store
directory, opened directly) and --addr ADDR (a partd server). Without any of
them, $PARTD_STORE (a URI) or $PARTD_ADDR (a server) names it; a flag wins
over the environment. --compress adds a compression layer over the store,
as the program that wrote the keys used (Python partd's partd.ZLib and
partd.Snappy included).`

// targetHelpRaw is targetHelp for commands that work below any layer.
const targetHelpRaw = `

The store is named by --store URI (mem://, file:///abs/dir, log:///abs/dir,
tcp://HOST:PORT, ipc://PATH), or by the shorthands --dir DIR (a File store
directory, opened directly) and --addr ADDR (a partd server). Without any of
them, $PARTD_STORE (a URI) or $PARTD_ADDR (a server) names it; a flag wins
over the environment.`

// withStore runs fn on the store the target flags name, then closes it;
// see target.use for what a signal does.
func withStore(ctx context.Context, t *target, fn func(s partd.Store) error) error {
	if err := t.check(); err != nil {
		return err
	}
	return t.use(ctx, false, fn)
}

// minArgs returns an Args checker that wants at least n arguments.
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError{fmt.Errorf("%s needs %s", cmd.Name(), what)}
		}
		return nil
	}
}

// rangeArgs returns an Args checker that wants between lo and hi arguments.
func rangeArgs(lo, hi int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usageError{fmt.Errorf("%s takes %s, got %d arguments", cmd.Name(), what, len(args))}
		}
		return nil
	}
}

// checkKeys returns a usage error for the first invalid key.
func checkKeys(keys []string) error {
	for _, k := range keys {
		if err := partd.ValidateKey(k); err != nil {
			return usageError{errors.New(strings.TrimPrefix(err.Error(), "partd: "))}
		}
	}
	return nil
}

func newAppendCmd() *cobra.Command {
	t := target{changes: true}
	cmd := &cobra.Command{
		Use:   "append KEY [FILE|-]",
		Short: "Append the bytes of a file (or stdin) to a key",
		Long:  "Append the bytes of FILE, or of stdin if FILE is - or missing, to the end of KEY." + targetHelp,
		Example: `  partd append --dir /data/spill df/part-1 rows.bin
  printf 'hello' | partd append --addr tcp://127.0.0.1:5555 greeting
  partd append --dir /data/spill --compress zstd logs/today - < app.log`,
		Args: rangeArgs(1, 2, "a KEY and an optional FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkKeys(args[:1]); err != nil {
				return err
			}
			var in io.Reader = cmd.InOrStdin()
			if len(args) == 2 && args[1] != "-" {
				f, err := os.Open(args[1])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			data, err := io.ReadAll(in)
			if err != nil {
				return err
			}
			if err := cmd.Context().Err(); err != nil {
				// A signal: the input may end early because it killed the
				// writer of a pipe. Append nothing rather than a part.
				return context.Cause(cmd.Context())
			}
			return withStore(cmd.Context(), &t, func(s partd.Store) error {
				return s.Append(map[string][]byte{args[0]: data})
			})
		},
	}
	addTargetFlags(cmd, &t, true)
	return cmd
}

func newGetCmd() *cobra.Command {
	t := target{existing: true}
	var allowMissing bool
	cmd := &cobra.Command{
		Use:   "get KEY...",
		Short: "Write the bytes of keys to stdout",
		Long: `Write the bytes each KEY holds to stdout, one key after the other, with
nothing in between.

A key that holds no bytes does not exist (a partd store keeps no empty
values): for each, get says "partd: no such key: KEY" on stderr, goes on
with the other keys and exits with status 1, as cat does for a missing
file. With --allow-missing such a key writes nothing and is no error.

A File, a Log and a compression layer over them are read a piece at a
time (partd.NewReader), so a key larger than memory can be written out;
a server's keys are read whole.` + targetHelp,
		Example: `  partd get --dir /data/spill df/part-1 > part-1.bin
  partd get --addr tcp://127.0.0.1:5555 greeting
  PARTD_ADDR=tcp://127.0.0.1:5555 partd get --allow-missing df/part-1 df/part-2`,
		Args: minArgs(1, "at least one KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkKeys(args); err != nil {
				return err
			}
			missing := 0
			err := withStore(cmd.Context(), &t, func(s partd.Store) error {
				w := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<20)
				noSuchKey := func(key string) error {
					if allowMissing {
						return nil
					}
					missing++
					// In order with stdout, for a terminal showing both.
					if err := w.Flush(); err != nil {
						return err
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "partd: no such key: %s\n", showKey(key))
					return nil
				}
				if _, ok := s.(partd.KeyReader); ok {
					// A store that streams a key (a File, a Log, a compression
					// layer): each key is read a piece at a time, however large.
					for _, key := range args {
						n, err := copyKey(w, s, key)
						if err != nil {
							return err
						}
						if n == 0 {
							if err := noSuchKey(key); err != nil {
								return err
							}
						}
					}
					return w.Flush()
				}
				// A few keys per Get, so a long list does not hold every value at once.
				for i := 0; i < len(args); i += 16 {
					chunk := args[i:min(i+16, len(args))]
					vals, err := s.Get(chunk...)
					if err != nil {
						return err
					}
					for j, v := range vals {
						if len(v) == 0 {
							if err := noSuchKey(chunk[j]); err != nil {
								return err
							}
							continue
						}
						if _, err := w.Write(v); err != nil {
							return err
						}
					}
				}
				return w.Flush()
			})
			if err == nil && missing > 0 {
				err = exitError{1}
			}
			return err
		},
	}
	addTargetFlags(cmd, &t, true)
	cmd.Flags().BoolVar(&allowMissing, "allow-missing", false, "a key that does not exist writes nothing and is no error")
	return cmd
}

// copyKey writes the bytes of key in s to w through partd.NewReader, and
// returns how many it wrote.
func copyKey(w io.Writer, s partd.Store, key string) (int64, error) {
	r, err := partd.NewReader(s, key)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(w, r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// showKey returns key as messages show it: as it is, or quoted if it holds
// a character that is not printable (a newline).
func showKey(key string) string {
	for _, r := range key {
		if !unicode.IsPrint(r) {
			return strconv.Quote(key)
		}
	}
	return key
}

func newKeysCmd() *cobra.Command {
	t := target{existing: true}
	var asJSON, nul bool
	cmd := &cobra.Command{
		Use:   "keys [PREFIX]",
		Short: "List the keys, one per line",
		Long: `List every key that holds bytes, sorted, one per line; with PREFIX, only
the keys that start with it.

A key may hold a newline: -0 ends each key with a NUL byte instead (for
xargs -0), and --json prints a JSON array of strings.` + targetHelp,
		Example: `  partd keys --dir /data/spill
  partd keys --addr tcp://127.0.0.1:5555 df/
  partd keys --dir /data/spill -0 | xargs -0 partd get --dir /data/spill
  partd keys --store file:///data/spill --json`,
		Args: rangeArgs(0, 1, "an optional PREFIX"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON && nul {
				return usageError{errors.New("--json and -0 exclude each other")}
			}
			return withStore(cmd.Context(), &t, func(s partd.Store) error {
				prefix := ""
				if len(args) > 0 {
					prefix = args[0]
				}
				keys, err := partd.KeysPrefix(s, prefix)
				if err != nil {
					return err
				}
				if asJSON {
					if keys == nil {
						keys = []string{}
					}
					return writeJSON(cmd.OutOrStdout(), keys)
				}
				end := "\n"
				if nul {
					end = "\x00"
				}
				w := bufio.NewWriter(cmd.OutOrStdout())
				for _, k := range keys {
					w.WriteString(k)
					w.WriteString(end)
				}
				return w.Flush()
			})
		},
	}
	addTargetFlags(cmd, &t, true)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the keys as a JSON array")
	cmd.Flags().BoolVarP(&nul, "null", "0", false, "end each key with a NUL byte instead of a newline")
	return cmd
}

// writeJSON writes v to w as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newDeleteCmd() *cobra.Command {
	t := target{existing: true, changes: true}
	cmd := &cobra.Command{
		Use:     "delete KEY...",
		Short:   "Delete keys",
		Long:    "Delete each KEY. Keys that do not exist are not an error." + targetHelp,
		Example: `  partd delete --dir /data/spill df/part-1 df/part-2`,
		Args:    minArgs(1, "at least one KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkKeys(args); err != nil {
				return err
			}
			return withStore(cmd.Context(), &t, func(s partd.Store) error { return s.Delete(args...) })
		},
	}
	addTargetFlags(cmd, &t, true)
	return cmd
}

func newDropCmd() *cobra.Command {
	t := target{existing: true, changes: true}
	cmd := &cobra.Command{
		Use:   "drop",
		Short: "Delete every key",
		Long: `Delete every key of the store. The store stays usable; a File store keeps
its directory and lock file.` + targetHelp,
		Example: `  partd drop --dir /data/spill
  partd drop --addr tcp://127.0.0.1:5555`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), &t, func(s partd.Store) error { return s.Drop() })
		},
	}
	addTargetFlags(cmd, &t, true)
	return cmd
}

func newStatCmd() *cobra.Command {
	t := target{existing: true}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stat [KEY...]",
		Short: "Show the stored size of keys, or of the whole store",
		Long: `Show how many bytes each KEY takes in the store (compressed bytes, for a
compressed key), and the total. A KEY that holds no bytes does not exist:
it is listed as missing and not counted. Without keys, every key of the
store is listed; a server reports its own figures instead (store type,
bytes held, requests). A KEY that is missing makes the exit status 1, as
get's does.

The sizes are found without reading the values where the store can tell
them (a File's file sizes, a Log's or a Dict's index, a server that
answers the sizes command); otherwise the values are read to measure them.

--json prints the same as one JSON object: {"keys": [{"key", "bytes"}...],
"missing": [...], "total_bytes", "key_count"}, or for a server its figures
as the stat command of the protocol reports them, with "server" and
"key_count".` + targetHelpRaw,
		Example: `  partd stat --dir /data/spill
  partd stat --dir /data/spill df/part-1 df/part-2
  partd stat --addr tcp://127.0.0.1:5555
  partd stat --addr tcp://127.0.0.1:5555 --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := t.check(); err != nil {
				return err
			}
			if err := checkKeys(args); err != nil {
				return err
			}
			return statStore(cmd.Context(), cmd.OutOrStdout(), &t, args, asJSON)
		},
	}
	addTargetFlags(cmd, &t, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the figures as JSON")
	return cmd
}

// keySize is one key's line of stat.
type keySize struct {
	Key   string `json:"key"`
	Bytes int64  `json:"bytes"`
}

// keysStat is what stat reports of keys.
type keysStat struct {
	Keys       []keySize `json:"keys"`        // the keys that exist, in the order asked
	Missing    []string  `json:"missing"`     // the keys asked for that hold no bytes
	TotalBytes int64     `json:"total_bytes"` // the sum of Keys' bytes
	KeyCount   int       `json:"key_count"`   // len(Keys)
}

// add records key's size; 0 is a missing key.
func (st *keysStat) add(key string, size int64) {
	if size == 0 {
		st.Missing = append(st.Missing, key)
		return
	}
	st.Keys = append(st.Keys, keySize{key, size})
	st.TotalBytes += size
	st.KeyCount++
}

// write prints st as a table or as JSON.
func (st *keysStat) write(w io.Writer, asJSON bool) error {
	if asJSON {
		if st.Keys == nil {
			st.Keys = []keySize{}
		}
		if st.Missing == nil {
			st.Missing = []string{}
		}
		return writeJSON(w, st)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	for _, k := range st.Keys {
		fmt.Fprintf(tw, "%d\t  %s\n", k.Bytes, showKey(k.Key))
	}
	for _, k := range st.Missing {
		fmt.Fprintf(tw, "missing\t  %s\n", showKey(k))
	}
	fmt.Fprintf(tw, "%d\t  total (%d keys", st.TotalBytes, st.KeyCount)
	if len(st.Missing) > 0 {
		fmt.Fprintf(tw, ", %d missing", len(st.Missing))
	}
	fmt.Fprintln(tw, ")")
	return tw.Flush()
}

// serverStat is what stat reports of a server.
type serverStat struct {
	Server   string `json:"server"`
	KeyCount int    `json:"key_count"`
	client.Stats
}

// statStore prints a server's figures, or the sizes of keys (every key, for
// a store other than a server) read from the store.
func statStore(ctx context.Context, w io.Writer, t *target, keys []string, asJSON bool) error {
	return t.use(ctx, true, func(raw partd.Store) error {
		if c, ok := raw.(*client.Client); ok && len(keys) == 0 {
			st, err := c.Stat()
			if err != nil {
				return err
			}
			all, err := c.Keys()
			if err != nil {
				return err
			}
			ss := serverStat{Server: c.Addr(), KeyCount: len(all), Stats: st}
			if asJSON {
				return writeJSON(w, ss)
			}
			return ss.write(w)
		}
		if len(keys) == 0 {
			var err error
			if keys, err = raw.Keys(); err != nil {
				return err
			}
		}
		sizes, err := partd.Sizes(raw, keys...)
		if err != nil {
			return err
		}
		st := new(keysStat)
		for i, k := range keys {
			st.add(k, sizes[i])
		}
		if err := st.write(w, asJSON); err != nil {
			return err
		}
		if len(st.Missing) > 0 {
			return fmt.Errorf("no such key in %s: %s", t.name(), strings.Join(st.Missing, ", "))
		}
		return nil
	})
}

// write prints ss as a table.
func (ss serverStat) write(w io.Writer) error {
	st := ss.Stats
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "server\t%s (protocol %s, up %.0fs)\n", ss.Server, st.Version, st.UptimeSeconds)
	fmt.Fprintf(tw, "store\t%s\n", st.Store)
	fmt.Fprintf(tw, "keys\t%d\n", ss.KeyCount)
	if st.StoreBytes >= 0 {
		fmt.Fprintf(tw, "bytes in memory\t%d\n", st.StoreBytes)
	}
	var reqs []string
	for _, k := range slices.Sorted(maps.Keys(st.Requests)) {
		reqs = append(reqs, fmt.Sprintf("%s %d", k, st.Requests[k]))
	}
	fmt.Fprintf(tw, "requests\t%s\n", strings.Join(reqs, ", "))
	fmt.Fprintf(tw, "errors\t%d\n", st.Errors)
	fmt.Fprintf(tw, "bytes received / sent\t%d / %d\n", st.BytesIn, st.BytesOut)
	return tw.Flush()
}

func newRepairCmd() *cobra.Command {
	var (
		t      target
		all    bool
		dryRun bool
	)
	t.existing, t.changes = true, true
	cmd := &cobra.Command{
		Use:   "repair KEY...|--all",
		Short: "Repair a damaged Log; cut torn tails off framed (compressed or encoded) keys",
		Long:  repairLong + targetHelpRaw,
		Example: `  partd repair --store log:///data/spill --dry-run
  partd repair --dir /data/spill --all
  partd repair --dir /data/spill --dry-run logs/today
  partd repair --addr tcp://127.0.0.1:5555 df/part-1 df/part-2`,
		RunE: func(cmd *cobra.Command, args []string) error { return runRepair(cmd, &t, args, all, dryRun) },
	}
	addTargetFlags(cmd, &t, false)
	cmd.Flags().BoolVar(&all, "all", false, "check every key")
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "report torn tails without cutting them")
	return cmd
}

// repairLong is the help text of `partd repair`, before the target flags'.
const repairLong = `A Log store (--store log:///dir) whose open fails with "corrupt data" has
damage that a crash does not do: a bad record with valid ones after it, or
in a sealed segment. repair --store log:///dir drops the damaged records and
every key they touched (a key missing one of its appends must not come back
shorter), and reports both; --dry-run reports what it would drop, changes
nothing, and exits with status 1 if it found damage. Keys or --all then go
on to the framed check below.

Check that each KEY (or, with --all, every key) is a whole number of frames,
the format of partd's compression layers and framed encodings (and of Python
partd's Encode layers), and cut off a torn last frame, as a crash in the
middle of an append leaves it. A key with no whole frame is deleted. Each
key is reported: intact, or how many bytes were kept and dropped.

Run it while nothing else writes the keys. --dry-run reports without
changing anything, and exits with status 1 if it found a torn tail (0 if
every key is intact), for scripts to check. Repair reads only frame lengths; a whole frame with
damaged contents is not detected (partd get reports it).

With --all, a key that does not start with a whole frame is reported and
left alone, since it is more likely a key of raw bytes than a torn one;
name it to have it deleted.`

// runRepair runs `partd repair`: a Log's damaged records (RepairLog), then
// the torn tails of framed keys (repairKeys).
func runRepair(cmd *cobra.Command, t *target, args []string, all, dryRun bool) error {
	if all && len(args) > 0 {
		return usageError{errors.New("repair needs KEY arguments or --all, not both")}
	}
	if err := t.check(); err != nil {
		return err
	}
	spec, _ := t.spec()
	isLog := spec.Scheme == "log" && spec.Dir != ""
	if !isLog && !all && len(args) == 0 {
		return usageError{errors.New("repair needs KEY arguments or --all (or a Log store, --store log:///dir)")}
	}
	if err := checkKeys(args); err != nil {
		return err
	}
	var damaged error
	if isLog {
		rep, err := partd.RepairLog(spec.Dir, dryRun, nil)
		if err != nil {
			return err
		}
		printLogRepair(cmd.OutOrStdout(), rep, dryRun)
		if dryRun && len(rep.Damage) > 0 {
			damaged = exitError{1}
		}
		if !all && len(args) == 0 {
			return damaged
		}
	}
	return t.use(cmd.Context(), true, func(raw partd.Store) error {
		keys := args
		if all {
			var err error
			if keys, err = raw.Keys(); err != nil {
				return err
			}
		}
		torn, err := repairKeys(cmd.OutOrStdout(), raw, keys, dryRun, all)
		if err == nil && dryRun && torn > 0 {
			err = exitError{1} // the report says what is torn
		}
		return cmp.Or(err, damaged)
	})
}

// printLogRepair prints what RepairLog dropped, or would drop.
func printLogRepair(w io.Writer, rep partd.LogRepair, dryRun bool) {
	verb := "dropped"
	if dryRun {
		verb = "would drop"
	}
	for _, d := range rep.Damage {
		keys := strings.Join(d.Keys, ", ")
		if d.KeysUnknown {
			keys = "unknown (every key it may have touched is dropped)"
		}
		fmt.Fprintf(w, "%s: damaged at byte %d (%s): %s %d bytes; keys of the record: %s\n", d.Segment, d.Offset, d.Why, verb, d.Length, keys)
	}
	for _, k := range rep.DroppedKeys {
		fmt.Fprintf(w, "%s: %s (a damaged record touched it)\n", k, verb)
	}
	fmt.Fprintf(w, "log: %d damaged spans, %d keys %s", len(rep.Damage), len(rep.DroppedKeys), verb)
	if rep.TornBytes > 0 {
		fmt.Fprintf(w, ", a torn tail of %d bytes (which any open cuts)", rep.TornBytes)
	}
	if dryRun {
		fmt.Fprint(w, " (dry run: nothing changed)")
	}
	fmt.Fprintln(w)
}

// repairKeys checks and repairs keys in raw, the store below any layer.
// With skipUnframed, keys without a single whole frame are left alone. It
// returns the number of keys with a torn tail.
func repairKeys(w io.Writer, raw partd.Store, keys []string, dryRun, skipUnframed bool) (torn int64, err error) {
	var skipped, bytesDropped int64
	for _, k := range keys {
		kept, dropped, err := compress.TornTail(raw, k)
		if err != nil && !dryRun {
			err = fmt.Errorf("repair %q: %w", k, err)
		}
		if err != nil {
			return torn, err
		}
		if kept == 0 && dropped > 0 && skipUnframed {
			skipped++
			fmt.Fprintf(w, "%s: skipped: no whole frame in %d bytes (not a framed key?)\n", k, dropped)
			continue
		}
		if !dryRun && dropped > 0 {
			if kept, dropped, err = compress.Repair(raw, k); err != nil {
				return torn, fmt.Errorf("repair %q: %w", k, err)
			}
		}
		if dropped == 0 {
			fmt.Fprintf(w, "%s: intact (%d bytes)\n", k, kept)
			continue
		}
		torn++
		bytesDropped += dropped
		verb := "dropped"
		if dryRun {
			verb = "would drop"
		}
		fmt.Fprintf(w, "%s: torn tail: kept %d bytes, %s %d\n", k, kept, verb, dropped)
	}
	fmt.Fprintf(w, "%d keys checked, %d with a torn tail, %d bytes dropped", len(keys), torn, bytesDropped)
	if skipped > 0 {
		fmt.Fprintf(w, ", %d skipped", skipped)
	}
	if dryRun {
		fmt.Fprint(w, " (dry run: nothing changed)")
	}
	fmt.Fprintln(w)
	return torn, nil
}
