package shuffle

import (
	"fmt"
	"strings"
)

// MismatchError is the error of a failed verification: it lists every
// partition whose rows did not come back as they were sent.
type MismatchError struct {
	Partitions int        // partitions in the shuffle
	Bad        []Mismatch // in partition order
}

// Mismatch is one partition whose reduced stats differ from the mapped ones.
type Mismatch struct {
	Partition       int
	Mapped, Reduced Stats
	Missing         bool // no reducer reported the partition
}

// String says how the partition differs, for error messages.
func (m Mismatch) String() string {
	switch {
	case m.Missing:
		return fmt.Sprintf("partition %d: no reducer reported it (mapped %d rows)", m.Partition, m.Mapped.Rows)
	case m.Mapped.Rows != m.Reduced.Rows:
		return fmt.Sprintf("partition %d: row count mismatch: mapped %d rows, reduced %d", m.Partition, m.Mapped.Rows, m.Reduced.Rows)
	default:
		return fmt.Sprintf("partition %d: checksum mismatch over %d rows: mapped sum %016x xor %016x, reduced sum %016x xor %016x",
			m.Partition, m.Mapped.Rows, m.Mapped.Sum, m.Mapped.Xor, m.Reduced.Sum, m.Reduced.Xor)
	}
}

// Error lists the first ten mismatched partitions.
func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "verification failed: %d of %d partitions differ", len(e.Bad), e.Partitions)
	for i, m := range e.Bad {
		if i == 10 {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Bad)-i)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(m.String())
	}
	return b.String()
}

// Verify compares what the mappers sent (mapped[w][p]: worker w's stats for
// partition p) with what the reducers read (reduced[p]) and returns the
// totals, or a *MismatchError naming every partition that differs.
// A reducer reporting a partition outside [0, partitions) is an error too.
func Verify(partitions int, mapped [][]Stats, reduced map[int]Stats) (Stats, error) {
	want := make([]Stats, partitions)
	for w, ws := range mapped {
		if len(ws) != partitions {
			return Stats{}, fmt.Errorf("worker %d reported %d partitions, want %d", w, len(ws), partitions)
		}
		for p, s := range ws {
			want[p].Merge(s)
		}
	}
	for p := range reduced {
		if p < 0 || p >= partitions {
			return Stats{}, fmt.Errorf("a reducer reported partition %d of %d", p, partitions)
		}
	}
	var total Stats
	e := &MismatchError{Partitions: partitions}
	for p, w := range want {
		got, ok := reduced[p]
		total.Merge(got)
		if !ok && w.Rows == 0 {
			continue
		}
		if !ok || got != w {
			e.Bad = append(e.Bad, Mismatch{Partition: p, Mapped: w, Reduced: got, Missing: !ok})
		}
	}
	if len(e.Bad) > 0 {
		return total, e
	}
	return total, nil
}

// Message is one JSON line that a mapper or reducer process writes to its
// standard output for the process that started it.
type Message struct {
	// Progress is the rows appended (mapper) or partitions read (reducer)
	// so far.
	Progress int `json:"progress,omitempty"`
	// Done marks the last message, which carries the results below.
	Done bool `json:"done,omitempty"`
	// Worker and Reducer are the number of the mapper or reducer that
	// reports.
	Worker  int `json:"worker,omitempty"`
	Reducer int `json:"reducer,omitempty"`
	// Mapped is a mapper's stats, one per partition.
	Mapped []Stats `json:"mapped,omitempty"`
	// Reduced is a reducer's stats by partition.
	Reduced map[int]Stats `json:"reduced,omitempty"`
	// Bytes is the encoded bytes appended (mapper) or read (reducer).
	Bytes int64 `json:"bytes,omitempty"`
	// PeakRSS is the process's peak resident set size in bytes (VmHWM).
	// The process reports it itself: its parent's view (getrusage of a
	// child) would count the parent's memory at the time of the fork.
	PeakRSS int64 `json:"peak_rss,omitempty"`
}
