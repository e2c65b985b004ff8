package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/internal/frame"
	"github.com/gopartd/partd/internal/keypath"
)

// The everyday commands: append, get, keys, delete, drop, stat, repair.
// Each works on a File store directory (--dir) or a server (--addr).

const targetHelp = `
The store is a File store directory (--dir DIR), opened directly, or a partd
server (--addr tcp://HOST:PORT or ipc://PATH). --compress adds a compression
layer over it, as the program that wrote the keys used (Python partd's
partd.ZLib and partd.Snappy included).`

// targetHelpRaw is targetHelp for commands that work below any layer.
const targetHelpRaw = `

The store is a File store directory (--dir DIR), opened directly, or a partd
server (--addr tcp://HOST:PORT or ipc://PATH).`

// withStore runs fn on the store the target flags name, then closes it.
func withStore(t *target, fn func(s partd.Store) error) error {
	if err := t.check(); err != nil {
		return err
	}
	s, _, err := t.open()
	if err != nil {
		return err
	}
	err = fn(s)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
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
	var t target
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
			return withStore(&t, func(s partd.Store) error {
				return s.Append(map[string][]byte{args[0]: data})
			})
		},
	}
	addTargetFlags(cmd, &t, true)
	return cmd
}

func newGetCmd() *cobra.Command {
	t := target{existing: true}
	cmd := &cobra.Command{
		Use:   "get KEY...",
		Short: "Write the bytes of keys to stdout",
		Long: `Write the bytes each KEY holds to stdout, one key after the other, with
nothing in between. A key that holds nothing writes nothing.` + targetHelp,
		Example: `  partd get --dir /data/spill df/part-1 > part-1.bin
  partd get --addr tcp://127.0.0.1:5555 greeting`,
		Args: minArgs(1, "at least one KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkKeys(args); err != nil {
				return err
			}
			return withStore(&t, func(s partd.Store) error {
				w := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<20)
				// A few keys per Get, so a long list does not hold every value at once.
				for i := 0; i < len(args); i += 16 {
					vals, err := s.Get(args[i:min(i+16, len(args))]...)
					if err != nil {
						return err
					}
					for _, v := range vals {
						if _, err := w.Write(v); err != nil {
							return err
						}
					}
				}
				return w.Flush()
			})
		},
	}
	addTargetFlags(cmd, &t, true)
	return cmd
}

func newKeysCmd() *cobra.Command {
	t := target{existing: true}
	cmd := &cobra.Command{
		Use:   "keys [PREFIX]",
		Short: "List the keys, one per line",
		Long: `List every key that holds bytes, sorted, one per line; with PREFIX, only
the keys that start with it.` + targetHelp,
		Example: `  partd keys --dir /data/spill
  partd keys --addr tcp://127.0.0.1:5555 df/`,
		Args: rangeArgs(0, 1, "an optional PREFIX"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(&t, func(s partd.Store) error {
				keys, err := s.Keys()
				if err != nil {
					return err
				}
				w := bufio.NewWriter(cmd.OutOrStdout())
				for _, k := range keys {
					if len(args) == 0 || strings.HasPrefix(k, args[0]) {
						fmt.Fprintln(w, k)
					}
				}
				return w.Flush()
			})
		},
	}
	addTargetFlags(cmd, &t, true)
	return cmd
}

func newDeleteCmd() *cobra.Command {
	t := target{existing: true}
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
			return withStore(&t, func(s partd.Store) error { return s.Delete(args...) })
		},
	}
	addTargetFlags(cmd, &t, true)
	return cmd
}

func newDropCmd() *cobra.Command {
	t := target{existing: true}
	cmd := &cobra.Command{
		Use:   "drop",
		Short: "Delete every key",
		Long: `Delete every key of the store. The store stays usable; a File store keeps
its directory and lock file.` + targetHelp,
		Example: `  partd drop --dir /data/spill
  partd drop --addr tcp://127.0.0.1:5555`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(&t, func(s partd.Store) error { return s.Drop() })
		},
	}
	addTargetFlags(cmd, &t, true)
	return cmd
}

func newStatCmd() *cobra.Command {
	t := target{existing: true}
	cmd := &cobra.Command{
		Use:   "stat [KEY...]",
		Short: "Show the stored size of keys, or of the whole store",
		Long: `Show how many bytes each KEY takes in the store (compressed bytes, for a
compressed key), and the total. Without keys, every key of a directory is
listed; a server reports its own figures (store type, bytes held, requests).

With --dir the sizes are the files' sizes, found without reading any value.
With --addr and keys, the values are read to measure them.` + targetHelpRaw,
		Example: `  partd stat --dir /data/spill
  partd stat --dir /data/spill df/part-1 df/part-2
  partd stat --addr tcp://127.0.0.1:5555`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := t.check(); err != nil {
				return err
			}
			if err := checkKeys(args); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if t.dir != "" {
				return statDir(out, t.dir, args)
			}
			return statStore(out, &t, args)
		},
	}
	addTargetFlags(cmd, &t, false)
	return cmd
}

// statDir prints the sizes of the key files of a File store directory.
func statDir(w io.Writer, dir string, keys []string) error {
	f, err := partd.OpenFile(dir, &partd.FileOptions{NoCreate: true})
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		keys, err = f.Keys()
	}
	f.Close()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	var total int64
	for _, k := range keys {
		var size int64
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(keypath.Encode(k))))
		switch {
		case err == nil && fi.Mode().IsRegular():
			size = fi.Size()
		case err == nil:
			// A directory: k is the parent of tuple keys, holding nothing itself.
		case !errors.Is(err, os.ErrNotExist):
			return err
		}
		total += size
		fmt.Fprintf(tw, "%d\t  %s\n", size, k)
	}
	fmt.Fprintf(tw, "%d\t  total (%d keys)\n", total, len(keys))
	return tw.Flush()
}

// statStore prints a server's figures, or the sizes of keys (every key, for
// a store other than a server) read from the store.
func statStore(w io.Writer, t *target, keys []string) error {
	raw, err := t.openRaw()
	if err != nil {
		return err
	}
	defer raw.Close()
	if c, ok := raw.(*client.Client); ok && len(keys) == 0 {
		st, err := c.Stat()
		if err != nil {
			return err
		}
		all, err := c.Keys()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintf(tw, "server\t%s (protocol %s, up %.0fs)\n", t.addr, st.Version, st.UptimeSeconds)
		fmt.Fprintf(tw, "store\t%s\n", st.Store)
		fmt.Fprintf(tw, "keys\t%d\n", len(all))
		if st.StoreBytes >= 0 {
			fmt.Fprintf(tw, "bytes in memory\t%d\n", st.StoreBytes)
		}
		var cmds []string
		for k := range st.Requests {
			cmds = append(cmds, k)
		}
		sort.Strings(cmds)
		var reqs []string
		for _, k := range cmds {
			reqs = append(reqs, fmt.Sprintf("%s %d", k, st.Requests[k]))
		}
		fmt.Fprintf(tw, "requests\t%s\n", strings.Join(reqs, ", "))
		fmt.Fprintf(tw, "errors\t%d\n", st.Errors)
		fmt.Fprintf(tw, "bytes received / sent\t%d / %d\n", st.BytesIn, st.BytesOut)
		return tw.Flush()
	}
	if len(keys) == 0 {
		if keys, err = raw.Keys(); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	var total int64
	for i := 0; i < len(keys); i += 16 {
		chunk := keys[i:min(i+16, len(keys))]
		vals, err := raw.Get(chunk...)
		if err != nil {
			return err
		}
		for j, v := range vals {
			total += int64(len(v))
			fmt.Fprintf(tw, "%d\t  %s\n", len(v), chunk[j])
		}
	}
	fmt.Fprintf(tw, "%d\t  total (%d keys)\n", total, len(keys))
	return tw.Flush()
}

func newRepairCmd() *cobra.Command {
	var (
		t      target
		all    bool
		dryRun bool
	)
	t.existing = true
	cmd := &cobra.Command{
		Use:   "repair KEY...|--all",
		Short: "Cut torn tails off framed (compressed or encoded) keys",
		Long: `Check that each KEY (or, with --all, every key) is a whole number of frames,
the format of partd's compression layers and framed encodings (and of Python
partd's Encode layers), and cut off a torn last frame, as a crash in the
middle of an append leaves it. A key with no whole frame is deleted. Each
key is reported: intact, or how many bytes were kept and dropped.

Run it while nothing else writes the keys. --dry-run reports without
changing anything. Repair reads only frame lengths; a whole frame with
damaged contents is not detected (partd get reports it).

With --all, a key that does not start with a whole frame is reported and
left alone, since it is more likely a key of raw bytes than a torn one;
name it to have it deleted.` + targetHelpRaw,
		Example: `  partd repair --dir /data/spill --all
  partd repair --dir /data/spill --dry-run logs/today
  partd repair --addr tcp://127.0.0.1:5555 df/part-1 df/part-2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return usageError{errors.New("repair needs KEY arguments or --all, not both")}
			}
			if err := t.check(); err != nil {
				return err
			}
			if err := checkKeys(args); err != nil {
				return err
			}
			raw, err := t.openRaw()
			if err != nil {
				return err
			}
			defer raw.Close()
			keys := args
			if all {
				if keys, err = raw.Keys(); err != nil {
					return err
				}
			}
			return repairKeys(cmd.OutOrStdout(), raw, keys, dryRun, all)
		},
	}
	addTargetFlags(cmd, &t, false)
	cmd.Flags().BoolVar(&all, "all", false, "check every key")
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "report torn tails without cutting them")
	return cmd
}

// repairKeys checks and repairs keys in raw, the store below any layer.
// With skipUnframed, keys without a single whole frame are left alone.
func repairKeys(w io.Writer, raw partd.Store, keys []string, dryRun, skipUnframed bool) error {
	var torn, skipped, bytesDropped int64
	for _, k := range keys {
		var kept, dropped int64
		if dryRun || skipUnframed {
			vals, err := raw.Get(k)
			if err != nil {
				return err
			}
			kept = wholeFrames(vals[0])
			dropped = int64(len(vals[0])) - kept
			if kept == 0 && dropped > 0 && skipUnframed {
				skipped++
				fmt.Fprintf(w, "%s: skipped: no whole frame in %d bytes (not a framed key?)\n", k, dropped)
				continue
			}
		}
		if !dryRun {
			var err error
			if kept, dropped, err = compress.Repair(raw, k); err != nil {
				return fmt.Errorf("repair %q: %w", k, err)
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
	return nil
}

// wholeFrames returns the length of the longest prefix of b made of whole
// frames (an 8-byte little-endian length, then that many bytes).
func wholeFrames(b []byte) int64 {
	_, n := frame.SplitPrefix(b)
	return int64(n)
}
