package dfshuffle

import (
	"fmt"
	"strings"
)

// MismatchError is the error of a failed verification: every partition
// whose rows did not come back as the map tasks sent them.
type MismatchError struct {
	Partitions int        // partitions in the shuffle
	Bad        []Mismatch // in partition order
}

// Mismatch is one partition whose written rows differ from the rows sent.
type Mismatch struct {
	Partition int
	Mapped    Stats // what the map tasks sent the partition
	Reduced   Stats // what its reducer wrote
	Missing   bool  // no reducer reported the partition
}

// String says how the partition differs.
func (m Mismatch) String() string {
	switch {
	case m.Missing:
		return fmt.Sprintf("partition %d: no reducer reported it (mapped %d rows)", m.Partition, m.Mapped.Rows)
	case m.Mapped.Rows != m.Reduced.Rows:
		return fmt.Sprintf("partition %d: %d rows sent, %d written", m.Partition, m.Mapped.Rows, m.Reduced.Rows)
	default:
		return fmt.Sprintf("partition %d: checksum mismatch over %d rows: sent sum %016x xor %016x, written sum %016x xor %016x",
			m.Partition, m.Mapped.Rows, m.Mapped.Sum, m.Mapped.Xor, m.Reduced.Sum, m.Reduced.Xor)
	}
}

// Error lists the first ten mismatched partitions.
func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dfshuffle: verification failed: %d of %d partitions differ", len(e.Bad), e.Partitions)
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

// Verify checks that every task of p was mapped once, that every partition
// was reduced at most once, and that each partition's rows and checksum as
// written equal the sum of what the map tasks sent it. It returns the
// totals over all partitions, and a *MismatchError naming every partition
// that differs (or another error for a malformed report).
func Verify(p *Plan, mapped []MapStats, reduced []ReduceStats) (Stats, error) {
	n := p.Job.Partitions
	want := make([]Stats, n)
	seen := make([]bool, len(p.Tasks))
	for _, m := range mapped {
		if m.Task < 0 || m.Task >= len(p.Tasks) {
			return Stats{}, fmt.Errorf("dfshuffle: a map report names task %d of %d", m.Task, len(p.Tasks))
		}
		if seen[m.Task] {
			return Stats{}, fmt.Errorf("dfshuffle: task %d reported twice", m.Task)
		}
		seen[m.Task] = true
		if a, ok := p.Committed[m.Task]; p.Committed != nil && (!ok || a != m.Attempt) {
			return Stats{}, fmt.Errorf("dfshuffle: task %d reported by attempt %d, but attempt %d is committed", m.Task, m.Attempt, a)
		}
		if len(m.Parts) != n {
			return Stats{}, fmt.Errorf("dfshuffle: task %d reported %d partitions, want %d", m.Task, len(m.Parts), n)
		}
		var rows int64
		for q, s := range m.Parts {
			want[q].Merge(s)
			rows += s.Rows
		}
		if rows != m.Rows {
			return Stats{}, fmt.Errorf("dfshuffle: task %d read %d rows but sent %d", m.Task, m.Rows, rows)
		}
	}
	for t, ok := range seen {
		if !ok {
			return Stats{}, fmt.Errorf("dfshuffle: task %d was not mapped", t)
		}
	}
	got := make([]Stats, n)
	done := make([]bool, n)
	for _, r := range reduced {
		if r.Partition < 0 || r.Partition >= n {
			return Stats{}, fmt.Errorf("dfshuffle: a reducer reported partition %d of %d", r.Partition, n)
		}
		if done[r.Partition] {
			return Stats{}, fmt.Errorf("dfshuffle: partition %d reported by two reducers", r.Partition)
		}
		done[r.Partition] = true
		got[r.Partition] = r.Stats
	}
	var total Stats
	e := &MismatchError{Partitions: n}
	for q := range n {
		total.Merge(got[q])
		if !done[q] && want[q].Rows == 0 {
			continue
		}
		if !done[q] || got[q] != want[q] {
			e.Bad = append(e.Bad, Mismatch{Partition: q, Mapped: want[q], Reduced: got[q], Missing: !done[q]})
		}
	}
	if len(e.Bad) > 0 {
		return total, e
	}
	return total, nil
}
