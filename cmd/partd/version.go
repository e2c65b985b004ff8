package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// versionInfo is what the binary knows of its own build.
type versionInfo struct {
	Version  string `json:"version"`            // the module version, or "(devel)"
	Revision string `json:"revision,omitempty"` // the VCS revision, if stamped
	Time     string `json:"time,omitempty"`     // the revision's commit time (RFC 3339), if stamped
	Modified bool   `json:"modified"`           // the work tree had changes not in Revision
	Go       string `json:"go"`                 // the Go toolchain that built it
	Platform string `json:"platform"`           // GOOS/GOARCH
}

// buildVersion reads the build information the Go toolchain stamps into the
// binary: the module version (a tag, a pseudo-version, or "(devel)" for a
// build from a work tree Go did not version) and, for a build in a VCS
// checkout without -buildvcs=false, the revision, its time and whether the
// tree was modified.
func buildVersion() versionInfo {
	v := versionInfo{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// line formats v as one line, as --version prints it:
//
//	partd v0.3.0 (revision 122c37d0a1b2, 2025-05-01T10:00:00Z, modified) go1.26.8 linux/amd64
//	partd (devel) (revision unknown) go1.26.8 linux/amd64
func (v versionInfo) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "partd %s (revision ", v.Version)
	if v.Revision == "" {
		b.WriteString("unknown")
	} else {
		b.WriteString(v.Revision[:min(len(v.Revision), 12)])
	}
	if v.Time != "" {
		b.WriteString(", " + v.Time)
	}
	if v.Modified {
		b.WriteString(", modified")
	}
	fmt.Fprintf(&b, ") %s %s", v.Go, v.Platform)
	return b.String()
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version and the revision partd was built from",
		Long: `Print the module version of partd and, when the binary was built in a git
checkout, the revision, its commit time and whether the work tree had
changes ("modified"). A binary built from a work tree without version
information says "(devel)" and "revision unknown". partd --version prints
the same line.`,
		Example: `  partd version
  partd version --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildVersion()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), v.line())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the build information as JSON, with the full revision")
	return cmd
}
