package partd

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gopartd/partd/internal/keypath"
	"github.com/gopartd/partd/internal/keysort"
	"github.com/gopartd/partd/internal/osfile"
)

// The Log store is split by concern:
//
//	log.go           the Store API, the index, opening and recovery
//	log_record.go    the record format and its reader
//	log_compact.go   compaction
//	log_recover.go   damage found on open, and RepairLog
//	log_capability.go  Sizes, KeysPrefix, KeysPage and Pop from the index
//
// Every system call goes through internal/osfile (the exclusive lock,
// opening without following links, and the write path, osfile.FS, which
// tests wrap to inject failures: internal/errorfs).

// Log is a log-structured Store: every Append, Set, Delete and Drop is one
// record written sequentially to the current segment file of the directory,
// and an index in memory says where each key's bytes are. Many keys and
// small appends therefore cost what the bytes cost, not a file each, and a
// Buffer spills into it at disk speed.
//
// A batch is crash-atomic: after a crash at any moment, reopening shows
// every call that returned, and each batch whole or absent, never some of
// its keys. Records carry CRC-32C checksums, checked on open. The one
// damage a crash does, the torn tail of the newest segment, is cut off on
// open and reported (see LogStats). Any other damage (a bad record with
// valid ones after it, a bad sealed segment, a damaged compaction marker of
// an older version) fails the open with ErrCorrupt naming the segment and
// offset, and changes nothing: RepairLog is the explicit act that drops it
// and reports what it dropped. No file of the Log is opened through a
// symlink. With LogOptions.Sync each call fsyncs before it returns, so
// what returned survives a machine crash too; without it, a process crash.
//
// One process holds the directory (an exclusive lock on its .partd-log
// file): a second opener gets ErrLocked at once. Processes share a Log
// through a server (partd serve).
//
// The index holds, per key, its size and the places of its bytes: its
// memory grows with the keys and with the appended values whose place is
// not next to the key's previous one, and Compact puts each key's bytes
// within a segment in one place. Opening reads and checks every segment, so
// it takes time in proportion to the Log's bytes. (BenchmarkLogReopen
// measures both.)
//
// Set, Delete and Drop leave dead bytes in the segments. Compact rewrites
// the sealed segments that hold dead bytes one at a time, each into a new
// file that replaces it, so it needs free space for one segment's live
// bytes, not for the whole Log's; it runs by itself in the background (one
// goroutine, which Close waits for) once dead bytes are at least
// LogOptions.CompactGarbage of the segments and at least
// LogOptions.CompactMinBytes. Drop removes every segment: its cost is the
// number of segments, not of keys.
//
// The format is private to this package; a File store is the one Python
// partd reads.
type Log struct {
	dir  string
	temp bool
	opts LogOptions
	lock *os.File
	log  *slog.Logger

	// Lock order: compactMu -> writeMu -> ioMu -> mu.
	//
	// Sealed segments are read through read-only memory maps (see
	// logSegment.data). A Get takes ioMu for reading, then mu for reading
	// to look up its runs and the segments' mappings, lets go of mu, and
	// copies from the mappings while it still holds ioMu; a segment is
	// unmapped (removeSegmentLocked, closeSegments) only with ioMu held for
	// writing, by compaction, Drop and Close, so never under a reader. A
	// segment is mapped once, when it is sealed (startSegment, load) or
	// written whole (a compaction's replacement), with mu held for writing.
	compactMu sync.Mutex // one compaction at a time; Drop and Close wait for it

	writeMu sync.Mutex // serializes writers: only they write segments or change the index
	active  *logSegment
	head    []byte   // scratch for record heads
	vec     [][]byte // scratch for a record's pieces
	stage   []byte   // scratch for a record's small pieces, copied together
	broken  error    // a write that could not be undone: every later write fails

	ioMu sync.RWMutex // held for reading while segment files or their mappings are read, for writing while they are removed or unmapped

	mu        sync.RWMutex // guards what follows
	closed    bool
	index     map[string]*logKey
	tree      *keypath.Tree
	segs      map[uint32]*logSegment
	nextID    uint32
	nextMajor uint64
	gen       uint32        // the latest committed compaction
	stats     LogStats      // but Bytes, which is bytes
	bytes     atomic.Int64  // bytes in the segment files
	replayer  *recordReader // reads segments on open

	fs osfile.FS // the write path: osfile.Default, or a test's faults (export_test.go)

	compacting atomic.Bool
	closing    atomic.Bool // Close is waiting: a compaction stops between segments
	compactWG  sync.WaitGroup
	// warm takes the warming goroutine's jobs (see warmBehind), where
	// osfile.CanPopulate; Close closes it.
	warm chan warmJob

	// Recovery, on open only.
	mode    int           // openPlain, openRepair or openCheck
	rec     recovery      // what a repair learns while it replays
	repair  LogRepair     // what it dropped
	scanner *recordReader // checks the records after damage
}

// LogOptions tunes a Log. A nil *LogOptions means the defaults.
type LogOptions struct {
	// SegmentSize is the size at which a new segment file is started:
	// 64 MiB if 0, at most 4 GiB - 64 KiB (offsets within a segment are
	// 32-bit). A batch larger than it gets a segment of its own.
	SegmentSize int64
	// Sync makes every Append, Set, Delete and Drop fsync before it
	// returns.
	Sync bool
	// CompactGarbage is the share of dead bytes in the segments that starts
	// a compaction in the background: 0.5 if 0; negative turns automatic
	// compaction off (Compact still works).
	CompactGarbage float64
	// CompactMinBytes is the fewest dead bytes that start a compaction:
	// SegmentSize if 0.
	CompactMinBytes int64
	// NoCreate opens only a Log that exists: nothing is created.
	NoCreate bool
	// Logger receives a warning for a torn tail cut off on open, and
	// compaction errors; slog.Default() if nil.
	Logger *slog.Logger
}

// LogStats are a Log's figures, from Stats.
type LogStats struct {
	Keys        int   // keys that hold bytes
	Segments    int   // segment files
	Bytes       int64 // bytes in the segment files
	LiveBytes   int64 // bytes of values that Get can return; the rest is dead or record overhead
	Compactions int64 // compactions done since open
	// TornRecords and TornBytes count what the last open cut off the
	// newest segment: a record torn by a crash (0 or 1), and its bytes.
	TornRecords int
	TornBytes   int64
}

// logSegment is one segment file.
type logSegment struct {
	id     uint32
	major  uint64 // order of the segment in the log
	gen    uint32 // 0, or the compaction that wrote it
	part   uint32 // which of that compaction's outputs
	f      *os.File
	size   int64
	live   int64 // bytes of values in it that the index points at
	values int64 // bytes of values it holds, live or dead
	// written and smallWritten count the bytes of values written to it and
	// those of them in runs shorter than mapCopy (read through the
	// mapping); l.writeMu guards them. See warmBehind.
	written, smallWritten int64
	warmed                int64 // how far warmBehind has asked for

	// data maps the segment's bytes read-only, so that a Get copies small
	// runs from memory instead of a pread each: a sealed segment's size
	// bytes once it is sealed; where writes show through a mapping
	// (osfile.MmapCoherent, Linux), the active segment's first SegmentSize
	// bytes as soon as it is started, of which a Get reads only what the
	// index points at, bytes written before the index took them in. nil
	// where osfile cannot map: reads use pread. Set with l.mu held for
	// writing; unmapped only with l.ioMu held for writing.
	data []byte
	// populated has a bit set for each window of data (popWindowShift)
	// whose page tables are filled in (see fillWindow).
	populated []atomic.Uint64
	// popTail is where the filled-in part of the window holding the end of
	// the active segment's file ends: that window is filled in from its
	// start as far as Gets read, not marked in populated.
	popTail atomic.Int64
}

// A window, 1<<popWindowShift bytes, is the part of a mapping whose page
// tables a Get fills in at once, the first time it copies from it: a 2 MiB window costs one system
// call where reading its pages one by one costs a page fault each (every
// 16 pages with the kernel's fault-around), and on a virtual machine a
// fault costs more than copying its page. A key appended to in many small
// batches has its runs spread over the whole segment, so its first Get
// touches every window; a Get of a few runs fills in only their windows.
const popWindowShift = 21

// mapLocked maps the first n bytes of s, if it is not yet mapped and the
// system maps files; a mapping of more (the active segment's, past its
// end) is cut to n, so that a sealed segment's windows to fill in
// (populate) end where its file does. A segment that cannot be mapped is
// read with pread. l.mu is held for writing (or l is not yet shared).
//
// Only bytes that will not change are read through a mapping: those of a
// sealed segment, and those of the active segment that the index points
// at. A mapped file that is shortened raises SIGBUS where a copy touches a
// page past its new end, and the Log never shortens a file below what a
// mapping is read at: the torn tail of the newest segment is cut on open
// before anything is mapped; a failed write is cut off the active segment,
// but the index never pointed at those bytes; compaction and RepairLog
// write new files and rename them into place, which leaves the mapped
// inode whole; Drop and compaction remove a file (the mapping keeps its
// inode) and unmap only once no Get holds l.ioMu. What a process outside
// the Log does is caught when it happens: copies from a mapping run with
// debug.SetPanicOnFault (gatherMapped), so such a fault fails the Get with
// ErrCorrupt instead of killing the process.
func (l *Log) mapLocked(s *logSegment, n int64) {
	if int64(len(s.data)) > n {
		s.data = s.data[:n] // unmap unmaps it whole
	}
	if !osfile.MmapSupported || s.data != nil || n <= 0 {
		return
	}
	if b, err := osfile.Mmap(s.f, n); err == nil {
		s.data = b
		if osfile.CanPopulate {
			windows := (len(b) + 1<<popWindowShift - 1) >> popWindowShift
			s.populated = make([]atomic.Uint64, (windows+63)/64)
		}
	}
}

// popRun is a window of a segment's mapping that a Get reads from and
// whose page tables are not yet filled in, and how far into it the Get
// reads.
type popRun struct {
	s      *logSegment
	data   []byte          // s.data, and
	bits   []atomic.Uint64 // s.populated, as l.mu guards them
	window int
	end    int // the end of the farthest run read in the window
}

// addPopulate notes that a Get copies data[off:end] of s from its mapping.
// l.mu is held for reading.
func addPopulate(pops []popRun, s *logSegment, off, end int) []popRun {
	if s.populated == nil {
		return pops
	}
	for w := off >> popWindowShift; w<<popWindowShift < end; w++ {
		if filled(s.populated, w) {
			continue
		}
		if tail := int(s.popTail.Load()); tail > 0 && (tail-1)>>popWindowShift == w && min(end, (w+1)<<popWindowShift) <= tail {
			continue
		}
		if n := len(pops); n > 0 && pops[n-1].s == s && pops[n-1].window == w {
			pops[n-1].end = max(pops[n-1].end, end)
			continue
		}
		pops = append(pops, popRun{s: s, data: s.data, bits: s.populated, window: w, end: end})
	}
	return pops
}

// populate fills in the page tables of the windows a Get is about to copy
// from (see popWindowShift). l.ioMu is held for reading, so no mapping is
// unmapped meanwhile. A window wholly within the file is marked done; one
// that reaches past the end of the active segment's file is filled in as
// far as the Get reads and left for a later Get.
func populate(pops []popRun) {
	for _, p := range pops {
		if fillWindow(p.data, p.bits, p.window) {
			continue
		}
		// Past the end of the active segment's file: as far as this Get
		// reads. (An error leaves it to page faults.)
		if end := min(p.end, len(p.data)); osfile.Populate(p.data[p.window<<popWindowShift:end]) == nil {
			p.s.popTail.Store(int64(end))
		}
	}
}

// filled reports whether bits marks window w filled in.
func filled(bits []atomic.Uint64, w int) bool { return bits[w/64].Load()&(1<<(w%64)) != 0 }

// fillWindow fills in the page tables of window w of data, a mapping,
// unless bits marks it done, marks it, and reports whether it is filled
// in: false if it reaches past the file's end (or the system cannot).
func fillWindow(data []byte, bits []atomic.Uint64, w int) bool {
	if filled(bits, w) {
		return true
	}
	start := w << popWindowShift
	if osfile.Populate(data[start:min(start+1<<popWindowShift, len(data))]) != nil {
		return false
	}
	bits[w/64].Or(1 << (w % 64))
	return true
}

// warmJob asks the warming goroutine (warmLoop) for windows [from, to)
// of s's mapping.
type warmJob struct {
	s        *logSegment
	from, to int
}

// warmBehind has the windows of s that the writer has filled since the
// last call (all of them up to size, with sealed) filled in and touched
// behind it, by the Log's warming goroutine, on a core of its own, if s
// holds mostly small runs, those Gets copy from its mapping: a Get that
// comes later then copies without filling in page tables or touching pages
// for the first time itself, which on a virtual machine costs more than
// the copy (W1 read back one key per Get). Segments of large runs, read
// with pread (a Buffer's spills), are left alone, so that their pages do
// not count in the process's resident set. A job the goroutine has no room
// for is dropped: Gets fill in what they read anyway. l.writeMu is held.
func (l *Log) warmBehind(s *logSegment, size int64, sealed bool) {
	if l.warm == nil || s.smallWritten <= s.written/2 {
		return
	}
	from, to := int(s.warmed>>popWindowShift), int(size>>popWindowShift)
	if sealed && size&(1<<popWindowShift-1) != 0 {
		to++ // the window holding the end, which no more writes fill
	}
	if to <= from {
		return
	}
	select {
	case l.warm <- warmJob{s, from, to}:
		s.warmed = int64(to) << popWindowShift
	default:
	}
}

// warmLoop fills in and touches the windows warmBehind asks for, until
// Close closes l.warm.
func (l *Log) warmLoop() {
	for j := range l.warm {
		for w := j.from; w < j.to && l.populateWindow(j.s, w); w++ {
		}
	}
}

// populateWindow fills in and touches window w of s's mapping, and reports
// whether s has windows past w (false once s is unmapped or l closing).
func (l *Log) populateWindow(s *logSegment, w int) bool {
	if l.closing.Load() {
		return false
	}
	l.ioMu.RLock() // no unmapping meanwhile
	defer l.ioMu.RUnlock()
	l.mu.RLock()
	data, bits, closed := s.data, s.populated, l.closed
	l.mu.RUnlock()
	start := w << popWindowShift
	if closed || bits == nil || start >= len(data) {
		return false
	}
	fillWindow(data, bits, w)
	touchPages(data[start:min(start+1<<popWindowShift, len(data))])
	return true
}

// touchPages reads a byte of each page of b, a part of a mapping: on a
// virtual machine whose host keeps page tables of its own (shadow paging),
// a page's first touch from user space costs an exit to the host that
// filling in the guest's page tables does not save. A fault (the file was
// shortened from outside) stops it.
func touchPages(b []byte) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			repanicUnlessFault(r)
		}
	}()
	var sum byte
	for i := 0; i < len(b); i += 4096 {
		sum += b[i]
	}
	touchSink.Store(uint32(sum))
}

// repanicUnlessFault panics again with r, recovered under
// debug.SetPanicOnFault, unless it is a memory fault.
func repanicUnlessFault(r any) {
	if _, fault := r.(interface{ Addr() uintptr }); !fault {
		panic(r)
	}
}

// touchSink keeps touchPages' reads from being optimized away (the warming
// goroutines of several Logs store to it at once).
var touchSink atomic.Uint32

// mapActiveLocked maps s, the active segment, where the system's mappings
// show later writes (osfile.MmapCoherent). l.mu is held for writing (or l
// is not yet shared).
func (l *Log) mapActiveLocked(s *logSegment) {
	if osfile.MmapCoherent {
		l.mapLocked(s, max(l.opts.SegmentSize, s.size))
	}
}

// unmap unmaps s, if it is mapped. l.ioMu is held for writing (or l is
// not shared): no reader holds a slice of the mapping.
func (s *logSegment) unmap() error {
	b := s.data
	s.data, s.populated = nil, nil
	s.popTail.Store(0)
	return osfile.Munmap(b[:cap(b)]) // a sealed segment's was cut to its file (mapLocked)
}

func (s *logSegment) name() string { return segmentName(s.major, s.gen, s.part) }

func segmentName(major uint64, gen, part uint32) string {
	return fmt.Sprintf("%016x-%08x-%04x%s", major, gen, part, segSuffix)
}

const (
	logMarker   = ".partd-log" // lock file, and what makes a directory a Log
	segSuffix   = ".seg"
	tmpSuffix   = ".tmp"       // a file being written, not yet in place
	compactName = "compacted-" // + %08x gen: a committed compaction of version 1
	// The version line in the lock file. Version 2 replaces one segment
	// at a time when it compacts (the newest generation of a segment
	// wins); version 1 rewrote them all and committed with a marker file.
	logVersion  = "partd log 2\n"
	logVersion1 = "partd log 1\n"
)

// logKey is one key of the index.
type logKey struct {
	ext  []logExtent
	size int64
}

// logExtent is a run of a key's bytes in a segment.
type logExtent struct {
	seg, off, n uint32
}

var (
	_ Store          = (*Log)(nil)
	_ VectorAppender = (*Log)(nil)
	_ GetAppender    = (*Log)(nil)
	_ Flusher        = (*Log)(nil)
)

// NewLog opens the Log in dir, creating it if need be; "" makes a temporary
// directory that Close removes. A non-empty directory that holds no Log is
// refused with ErrNotStore, and one that another process has open with
// ErrLocked.
func NewLog(dir string) (*Log, error) { return OpenLog(dir, nil) }

// OpenLog is NewLog with options.
func OpenLog(dir string, opts *LogOptions) (*Log, error) { return openLog(dir, opts, openPlain) }

func openLog(dir string, opts *LogOptions, mode int) (*Log, error) {
	l := &Log{index: make(map[string]*logKey), tree: keypath.NewTree(), segs: make(map[uint32]*logSegment), mode: mode, fs: osfile.Default}
	if opts != nil {
		l.opts = *opts
	}
	if l.opts.SegmentSize <= 0 {
		l.opts.SegmentSize = 64 << 20
	}
	if l.opts.SegmentSize > maxSegmentSize {
		return nil, fmt.Errorf("partd: log: LogOptions.SegmentSize of %d bytes is above the limit of %d (offsets within a segment are 32-bit)", l.opts.SegmentSize, int64(maxSegmentSize))
	}
	if l.opts.CompactGarbage == 0 {
		l.opts.CompactGarbage = 0.5
	}
	if l.opts.CompactMinBytes <= 0 {
		l.opts.CompactMinBytes = l.opts.SegmentSize
	}
	l.log = cmp.Or(l.opts.Logger, slog.Default())
	if dir == "" {
		d, err := os.MkdirTemp("", "partd-log-*")
		if err != nil {
			return nil, fmt.Errorf("partd: log: %w", err)
		}
		dir, l.temp = d, true
	} else if err := prepareLogDir(dir, l.opts.NoCreate); err != nil {
		return nil, err
	}
	l.dir = dir
	if err := l.open(); err != nil {
		l.closeFiles()
		if l.temp {
			os.RemoveAll(dir)
		}
		return nil, err
	}
	if osfile.CanPopulate && mode == openPlain {
		l.warm = make(chan warmJob, 64)
		go l.warmLoop()
	}
	return l, nil
}

// prepareLogDir checks that dir is a Log, or creates one where nothing is.
// A File store (.lock) is refused.
func prepareLogDir(dir string, noCreate bool) error {
	return prepareDir(dir, "log", logMarker, lockName, noCreate, false, "")
}

// open locks the directory and replays its segments.
func (l *Log) open() error {
	flags := os.O_RDWR | os.O_CREATE
	if l.opts.NoCreate {
		flags = os.O_RDWR
	}
	lock, err := osfile.OpenNoFollow(filepath.Join(l.dir, logMarker), flags, 0o644)
	if err != nil {
		return fmt.Errorf("partd: log: %w", err)
	}
	l.lock = lock
	if err := osfile.TryLock(lock); errors.Is(err, osfile.ErrWouldBlock) {
		return fmt.Errorf("partd: log %s: %w (one process holds a Log; share it through a server: partd serve --store log://%s)", l.dir, ErrLocked, l.dir)
	} else if err != nil {
		return fmt.Errorf("partd: log: lock: %w", err)
	}
	legacy, err := l.readVersion()
	if err != nil {
		return err
	}
	if err := l.load(legacy); err != nil {
		return err
	}
	if l.mode != openRepair || len(l.rec.damaged) == 0 {
		return l.finishRepair() // a dry run's report; nothing otherwise
	}
	if err := l.finishRepair(); err != nil {
		return err
	}
	// The damaged segments were rewritten under the index: replay afresh.
	repair, torn := l.repair, l.stats
	if err := l.closeSegments(); err != nil {
		return fmt.Errorf("partd: log: %w", err)
	}
	clear(l.index)
	l.tree.Clear()
	l.segs, l.nextID, l.stats, l.rec, l.active = make(map[uint32]*logSegment), 0, LogStats{}, recovery{}, nil
	l.bytes.Store(0)
	if err := l.load(false); err != nil {
		return err
	}
	if len(l.rec.damaged) > 0 {
		return fmt.Errorf("partd: log %s: still damaged after a repair: %w", l.dir, ErrCorrupt)
	}
	l.repair, l.stats.TornRecords, l.stats.TornBytes = repair, torn.TornRecords, torn.TornBytes
	return nil
}

// readVersion reads the version line of the lock file, writing it into a
// new one, and reports a Log of version 1.
func (l *Log) readVersion() (legacy bool, err error) {
	b := make([]byte, 64)
	n, err := l.lock.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("partd: log: %w", err)
	}
	switch string(b[:n]) {
	case logVersion:
		return false, nil
	case logVersion1:
		return true, nil
	case "":
		if l.mode == openCheck {
			return false, nil
		}
		if _, err := l.lock.WriteAt([]byte(logVersion), 0); err != nil {
			return false, fmt.Errorf("partd: log: %w", err)
		}
		return false, nil
	}
	return false, fmt.Errorf("partd: log %s: %s holds %q, not a version line this partd reads (%q or %q): %w",
		l.dir, logMarker, b[:n], logVersion1, logVersion, ErrCorrupt)
}

// load lists and replays the segments and readies the active one.
func (l *Log) load(legacy bool) error {
	segs, err := l.listSegments(legacy)
	if err != nil {
		return err
	}
	for i, s := range segs {
		if err := l.replay(s, i == len(segs)-1); err != nil {
			return err
		}
	}
	l.replayer, l.scanner = nil, nil // their buffers are of no use after open
	l.stats.Segments = len(segs)
	if l.mode == openCheck {
		return nil
	}
	if n := len(segs); n > 0 && segs[n-1].gen == 0 && segs[n-1].size < l.opts.SegmentSize && len(l.rec.damaged) == 0 {
		l.active = segs[n-1]
	} else if err := l.startSegment(); err != nil {
		return err
	}
	for _, s := range segs {
		if s != l.active {
			l.mapLocked(s, s.size)
		}
	}
	l.mapActiveLocked(l.active)
	return nil
}

// listSegments finds the segment files to replay, in order, after removing
// what an interrupted compaction left: a replacement not yet renamed into
// place, or a segment that one replaced. Of a version 1 Log, it first
// removes what version 1's rules made obsolete and moves it to version 2.
func (l *Log) listSegments(legacy bool) ([]*logSegment, error) {
	names, err := readDirNames(l.dir)
	if err != nil {
		return nil, fmt.Errorf("partd: log: %w", err)
	}
	obsolete := map[string]bool{}
	var markers []string
	if legacy {
		if markers, err = l.legacyObsolete(names, obsolete); err != nil {
			return nil, err
		}
	}
	newest := l.newestSegments(names, obsolete)
	if l.mode != openCheck {
		if err := l.removeObsolete(obsolete, legacy, markers); err != nil {
			return nil, err
		}
	}
	return l.openSegments(newest)
}

// newestSegments returns the names of the segments to replay: of the
// segments with one major number and part, the newest generation, which
// replaced the others. It adds the others, and replacements that were never
// renamed into place, to obsolete.
func (l *Log) newestSegments(names []string, obsolete map[string]bool) []string {
	type place struct {
		major uint64
		part  uint32
	}
	newest := map[place]string{}
	for _, n := range names {
		if base, ok := strings.CutSuffix(n, tmpSuffix); ok {
			if _, _, _, seg := parseSegmentName(base); seg {
				obsolete[n] = true // a replacement that was never put in place
			}
			continue
		}
		major, gen, part, ok := parseSegmentName(n)
		if !ok || obsolete[n] {
			continue
		}
		l.gen = max(l.gen, gen)
		at := place{major, part}
		if other, seen := newest[at]; seen {
			_, og, _, _ := parseSegmentName(other)
			if og > gen {
				obsolete[n] = true
				continue
			}
			obsolete[other] = true
		}
		newest[at] = n
	}
	return slices.Collect(maps.Values(newest))
}

// removeObsolete removes the obsolete files; of a version 1 Log (legacy),
// it then moves the Log to version 2 and removes its compaction markers.
func (l *Log) removeObsolete(obsolete map[string]bool, legacy bool, markers []string) error {
	for n := range obsolete {
		if err := os.Remove(filepath.Join(l.dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("partd: log: removing %s of an interrupted compaction: %w", n, err)
		}
	}
	if !legacy {
		return nil
	}
	// Version 2 from now on: its rules keep what is left as it is.
	if err := osfile.SyncDir(l.dir); err != nil {
		return fmt.Errorf("partd: log: %w", err)
	}
	if _, err := l.lock.WriteAt([]byte(logVersion), 0); err != nil {
		return fmt.Errorf("partd: log: %w", err)
	}
	if err := l.lock.Sync(); err != nil {
		return fmt.Errorf("partd: log: %w", err)
	}
	for _, m := range markers {
		os.Remove(filepath.Join(l.dir, m))
	}
	return nil
}

// openSegments opens the segment files names and returns them in log order.
func (l *Log) openSegments(names []string) ([]*logSegment, error) {
	flags := os.O_RDWR
	if l.mode == openCheck {
		flags = os.O_RDONLY
	}
	var segs []*logSegment
	for _, n := range names {
		major, gen, part, _ := parseSegmentName(n)
		f, err := osfile.OpenNoFollow(filepath.Join(l.dir, n), flags, 0)
		if err != nil {
			return nil, fmt.Errorf("partd: log: %w", err)
		}
		s := &logSegment{id: l.nextID, major: major, gen: gen, part: part, f: f}
		l.nextID++
		l.segs[s.id] = s
		segs = append(segs, s)
		l.nextMajor = max(l.nextMajor, major+1)
	}
	slices.SortFunc(segs, cmpSegments)
	return segs, nil
}

// cmpSegments orders segments as the log replays them: by major number,
// then part. (Generations differ only while a compaction replaces one.)
func cmpSegments(a, b *logSegment) int {
	return cmp.Or(cmp.Compare(a.major, b.major), cmp.Compare(a.part, b.part), cmp.Compare(a.gen, b.gen))
}

// legacyObsolete applies version 1's rules: the latest compaction marker
// commits its generation, whose outputs replace every older segment up to
// the major number it names; outputs of a later generation were never
// committed. A marker is checked before anything is trusted to it: its name
// and its contents must be exactly as version 1 wrote them, and the
// segments of its generation must carry the major it names. It adds the
// files to remove to obsolete and returns the markers.
func (l *Log) legacyObsolete(names []string, obsolete map[string]bool) ([]string, error) {
	var markers []string
	var gen uint32
	var commitMajor uint64
	corrupt := func(n, why string) error {
		return fmt.Errorf("partd: log %s: the compaction marker %s %s: %w; nothing was changed (a version 1 marker decides which segments a compaction replaced)", l.dir, n, why, ErrCorrupt)
	}
	for _, n := range names {
		g, ok := strings.CutPrefix(n, compactName)
		if !ok {
			continue
		}
		if strings.HasSuffix(g, tmpSuffix) {
			obsolete[n] = true // never renamed into place: never committed
			continue
		}
		gn, err := strconv.ParseUint(g, 16, 32)
		if err != nil || len(g) != 8 || g != strings.ToLower(g) || gn == 0 || gn >= math.MaxUint32>>1 {
			return nil, corrupt(n, "has a damaged name")
		}
		f, err := osfile.OpenNoFollow(filepath.Join(l.dir, n), os.O_RDONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("partd: log: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(f, 64))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("partd: log: %w", err)
		}
		hex := strings.TrimSuffix(string(b), "\n")
		major, err := strconv.ParseUint(hex, 16, 64)
		if err != nil || len(b) != 17 || len(hex) != 16 || hex != strings.ToLower(hex) || major >= math.MaxUint64>>1 {
			return nil, corrupt(n, fmt.Sprintf("holds %q, not a major number", b))
		}
		markers = append(markers, n)
		if uint32(gn) >= gen {
			gen, commitMajor = uint32(gn), major
		}
	}
	for _, n := range names {
		major, g, _, ok := parseSegmentName(n)
		if !ok {
			continue
		}
		if gen > 0 && g == gen && major != commitMajor {
			return nil, corrupt(fmt.Sprintf("%s%08x", compactName, gen), fmt.Sprintf("names major %x, but that compaction wrote %s", commitMajor, n))
		}
		if g > gen || (major <= commitMajor && g < gen) {
			obsolete[n] = true
		}
	}
	return markers, nil
}

func readDirNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

func parseSegmentName(n string) (major uint64, gen, part uint32, ok bool) {
	base, isSeg := strings.CutSuffix(n, segSuffix)
	f := strings.Split(base, "-")
	if !isSeg || len(f) != 3 || len(f[0]) != 16 || len(f[1]) != 8 || len(f[2]) != 4 {
		return 0, 0, 0, false
	}
	major, err1 := strconv.ParseUint(f[0], 16, 64)
	g, err2 := strconv.ParseUint(f[1], 16, 32)
	p, err3 := strconv.ParseUint(f[2], 16, 16)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, 0, false
	}
	return major, uint32(g), uint32(p), true
}

// replay applies the records of s to the index. A bad record is a torn
// tail, cut off, if s is the newest segment and no valid record follows it;
// anything else is damage (see log_recover.go).
func (l *Log) replay(s *logSegment, last bool) error {
	st, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("partd: log: %w", err)
	}
	end := st.Size()
	if end > maxSegmentSize {
		return fmt.Errorf("partd: log %s: segment %s holds %d bytes, more than a Log's 32-bit offsets reach: %w", l.dir, s.name(), end, ErrCorrupt)
	}
	rr := l.replayer
	if rr == nil {
		rr = newRecordReader(nil)
		l.replayer = rr // one reader's buffers serve every segment
	}
	rr.resetAt(s.f, 0, end)
	held := func(k string) bool { return l.index[k] != nil }
	for {
		kind, entries, _, err := rr.next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, errTorn) {
			q, found, err := l.badRecord(s, rr.pos, end, last, err)
			if err != nil {
				return err
			}
			if !found {
				break
			}
			rr.resetAt(s.f, q, end)
			continue
		}
		if err != nil {
			return fmt.Errorf("partd: log: reading %s: %w", s.name(), err)
		}
		l.rec.track(kind, entries, held)
		l.applyLocked(s, kind, entries)
		s.size = rr.pos
	}
	l.bytes.Add(s.size)
	return nil
}

// badRecord deals with the bad record at p in s, which ends at end: a torn
// tail (no valid record after it in the newest segment) is cut off; other
// damage is recorded (see damaged). It returns the offset of the next valid
// record and true, or false if none follows.
func (l *Log) badRecord(s *logSegment, p, end int64, last bool, why error) (int64, bool, error) {
	q, found, err := l.resync(s, p, end)
	if err != nil {
		return 0, false, fmt.Errorf("partd: log: reading %s: %w", s.name(), err)
	}
	if !found && last && s.gen == 0 {
		cut := end - p
		l.log.Warn("partd: log: cutting off a torn tail", "dir", l.dir, "segment", s.name(), "offset", p, "bytes", cut, "why", why)
		if l.mode != openCheck {
			if err := s.f.Truncate(p); err != nil {
				return 0, false, fmt.Errorf("partd: log: cutting %s back to %d bytes: %w", s.name(), p, err)
			}
		}
		l.stats.TornRecords++
		l.stats.TornBytes += cut
		return 0, false, nil
	}
	if !found {
		q = end
	}
	if err := l.damaged(s, p, q, why); err != nil {
		return 0, false, err
	}
	return q, found, nil
}

// applyLocked applies a record of segment s to the index. l.mu is held
// (or l is not yet shared).
func (l *Log) applyLocked(s *logSegment, kind byte, entries []recordEntry) {
	switch kind {
	case recDrop:
		l.clearIndexLocked()
		return
	case recDelete:
		for _, e := range entries {
			l.removeKeyLocked(e.key)
		}
		return
	}
	for _, e := range entries {
		if keypath.Validate(e.key) != nil {
			continue // never written by a Log; leave it out rather than fail
		}
		if kind == recSet || kind == recBase {
			l.removeKeyLocked(e.key)
		}
		if e.len > 0 {
			l.addExtentLocked(e.key, nil, s, e.off, e.len)
		}
	}
}

// addExtentLocked records n bytes of key at off in s, after its others. k
// is key's entry if the caller has it, else nil.
func (l *Log) addExtentLocked(key string, k *logKey, s *logSegment, off, n int64) {
	if k == nil {
		k = l.index[key]
	}
	if k == nil {
		k = &logKey{}
		l.index[key] = k
		l.tree.Add(key)
	}
	if last := len(k.ext) - 1; last >= 0 && k.ext[last].seg == s.id &&
		int64(k.ext[last].off)+int64(k.ext[last].n) == off && int64(k.ext[last].n)+n <= 1<<32-1 {
		k.ext[last].n += uint32(n) // right after its last run: one run
	} else {
		k.ext = append(k.ext, logExtent{seg: s.id, off: uint32(off), n: uint32(n)})
	}
	k.size += n
	s.live += n
	s.values += n
	l.stats.LiveBytes += n
}

// removeKeyLocked drops key from the index; its bytes become dead.
func (l *Log) removeKeyLocked(key string) {
	k := l.index[key]
	if k == nil {
		return
	}
	for _, e := range k.ext {
		if s := l.segs[e.seg]; s != nil {
			s.live -= int64(e.n)
		}
	}
	l.stats.LiveBytes -= k.size
	delete(l.index, key)
	l.tree.Remove(key)
}

func (l *Log) clearIndexLocked() {
	clear(l.index)
	l.tree.Clear()
	for _, s := range l.segs {
		s.live = 0
	}
	l.stats.LiveBytes = 0
}

// startSegment makes a new, empty segment the active one. l.writeMu is
// held (or l is not yet shared).
func (l *Log) startSegment() error {
	name := segmentName(l.nextMajor, 0, 0)
	f, err := osfile.OpenNoFollow(filepath.Join(l.dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("partd: log: %w", err)
	}
	if l.opts.Sync {
		if err := osfile.SyncDir(l.dir); err != nil {
			f.Close()
			os.Remove(filepath.Join(l.dir, name))
			return fmt.Errorf("partd: log: %w", err)
		}
	}
	s := &logSegment{major: l.nextMajor, f: f}
	l.nextMajor++
	l.mu.Lock()
	s.id = l.nextID
	l.nextID++
	l.segs[s.id] = s
	l.stats.Segments++
	if prev := l.active; prev != nil && l.segs[prev.id] == prev {
		l.mapLocked(prev, prev.size) // sealed: nothing writes it again
		l.warmBehind(prev, prev.size, true)
	}
	l.mapActiveLocked(s)
	l.mu.Unlock()
	l.active = s
	return nil
}

// usableLocked returns why l cannot serve op, or nil. l.mu is held.
func (l *Log) usableLocked(op string) error {
	if l.closed {
		return errClosed(op)
	}
	return nil
}

// writeRecord writes one record of kind for items to the active segment,
// starting a new segment first if it would not fit, and returns the segment
// and the offset of the first value. On error nothing of the record is left
// in the segment. l.writeMu is held.
func (l *Log) writeRecord(kind byte, items []logItem) (*logSegment, int64, error) {
	if l.broken != nil {
		return nil, 0, l.broken
	}
	head, length, err := encodeRecordHead(l.head, kind, items)
	if err != nil {
		return nil, 0, fmt.Errorf("partd: log: %w", err)
	}
	l.head = head[:0]
	if l.active.size > 0 && l.active.size+length > l.opts.SegmentSize {
		if err := l.startSegment(); err != nil {
			return nil, 0, err
		}
	}
	s := l.active
	start := s.size
	err = l.writeVectored(s.f, start, head, items)
	if err == nil && l.opts.Sync {
		err = l.fs.SyncFile(s.f)
	}
	if err != nil {
		if terr := l.fs.Truncate(s.f, start); terr != nil {
			l.broken = fmt.Errorf("partd: log: a failed write could not be undone (%v), so the log stops taking writes: %w", terr, err)
			return nil, 0, l.broken
		}
		return nil, 0, fmt.Errorf("partd: log: %w", err)
	}
	s.size += length
	l.bytes.Add(length) // atomic: no second trip through l.mu per write
	for _, it := range items {
		s.written += it.size
		if it.size < mapCopy {
			s.smallWritten += it.size
		}
	}
	l.warmBehind(s, s.size, false)
	return s, start + int64(len(head)), nil
}

// Pieces this large go to pwritev as they are; smaller ones are copied
// together into a staging buffer of stageSize bytes first. The kernel's
// cost is per iovec and a call takes at most 1,024 of them, so a record of
// ten thousand 100-byte values writes as one 1 MiB iovec, not ten calls of
// 1,024 small ones.
const (
	directPiece = 16 << 10
	stageSize   = 1 << 20
)

// writeVectored writes head and the items' pieces to f at off through
// l.fs.Pwritev (pwritev(2) on Linux, a write per piece elsewhere), large
// pieces without a copy. l.writeMu is held.
func (l *Log) writeVectored(f *os.File, off int64, head []byte, items []logItem) error {
	if cap(l.stage) < stageSize {
		l.stage = make([]byte, 0, stageSize)
	}
	stage, staged := l.stage[:0], 0 // stage[:staged] is in vec already
	vec := append(l.vec[:0], head)
	defer func() {
		clear(vec)
		l.vec = vec[:0]
	}()
	flush := func() error {
		if len(stage) > staged {
			vec = append(vec, stage[staged:])
		}
		err := l.fs.Pwritev(f, vec, off)
		for _, p := range vec {
			off += int64(len(p))
		}
		clear(vec)
		vec, stage, staged = vec[:0], stage[:0], 0
		return err
	}
	for _, it := range items {
		for _, p := range it.pieces {
			switch {
			case len(p) >= directPiece:
				if len(stage) > staged {
					vec = append(vec, stage[staged:])
					staged = len(stage)
				}
				vec = append(vec, p)
			case len(stage)+len(p) > cap(stage):
				if err := flush(); err != nil {
					return err
				}
				fallthrough
			default:
				stage = append(stage, p...)
			}
		}
	}
	return flush()
}

// Append adds each value to the end of its key, as one record: after a
// crash, the batch is there whole or not at all.
func (l *Log) Append(data map[string][]byte) error {
	// In key order: keys that a reader asks for together (the parts of a
	// table, a range of partitions) then lie together in every record, and
	// a Get of them reads one span per record. One pass over the map takes
	// its keys and values; the keys' order (keysort.Order) then places both,
	// with no second lookup in the map.
	sc := appendPool.Get().(*appendScratch)
	defer sc.release()
	keys, vals := sc.keys[:0], sc.vals[:0]
	for k, v := range data {
		keys = append(keys, k)
		vals = append(vals, v)
	}
	var order []keysort.Pair
	order, sc.order = keysort.Order(keys, sc.order)
	items := slices.Grow(sc.items[:0], len(keys))[:len(keys)]
	pieces := slices.Grow(sc.pieces[:0], len(keys))[:len(keys)] // every item's one piece
	for i, o := range order {
		pieces[i] = vals[o.I]
		items[i] = logItem{key: keys[o.I], pieces: pieces[i : i+1 : i+1], size: int64(len(pieces[i]))}
	}
	sc.keys, sc.vals, sc.items, sc.pieces = keys, vals, items, pieces
	return l.appendItems(items, false)
}

// appendScratch is the scratch of one Append: the batch's keys and values
// as the map yields them, their order, and the items of its record. It is
// pooled, so that a writer's Appends make little garbage.
type appendScratch struct {
	keys   []string
	vals   [][]byte
	order  []keysort.Pair // keysort.Order's scratch
	items  []logItem
	pieces [][]byte
}

var appendPool = sync.Pool{New: func() any { return new(appendScratch) }}

// release puts sc back in the pool, holding nothing of the caller's, unless
// a batch of very many keys grew it.
func (sc *appendScratch) release() {
	if cap(sc.items) > 1<<17 {
		return
	}
	clear(sc.keys)
	clear(sc.vals)
	clear(sc.items)
	clear(sc.pieces)
	appendPool.Put(sc)
}

// AppendVectors appends, for each i, the concatenation of vecs[i] to
// keys[i], as Append does, writing the pieces without joining them: a
// Buffer spills a Dict's chunks through it.
func (l *Log) AppendVectors(keys []string, vecs [][][]byte) error {
	sizes, err := vectorBatch(keys, vecs)
	if err != nil {
		return err
	}
	items := make([]logItem, len(keys))
	for i, k := range keys {
		items[i] = logItem{key: k, pieces: vecs[i], size: int64(sizes[k])}
	}
	return l.appendItems(items, true)
}

// appendItems writes items (keys with empty values among them, which write
// nothing) as one record. Keys the index holds were checked when they came
// in; the others are checked against the key rules (unless validated says
// the caller did) and the stored keys before anything is written.
func (l *Log) appendItems(items []logItem, validated bool) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.RLock()
	err := l.usableLocked("append")
	var fresh map[string]struct{}
	n := 0
	for _, it := range items {
		if err != nil {
			break
		}
		if it.entry = l.index[it.key]; it.entry == nil {
			if fresh == nil {
				fresh = make(map[string]struct{})
			}
			fresh[it.key] = struct{}{}
			if it.size > 0 {
				if c := l.tree.Conflict(it.key); c != "" {
					err = errConflict("append", it.key, c)
				}
			}
		}
		if it.size > 0 {
			items[n] = it
			n++
		}
	}
	l.mu.RUnlock()
	if err == nil && !validated && fresh != nil {
		err = ValidateBatch(fresh)
	}
	if err != nil || n == 0 {
		return err
	}
	items = items[:n]
	s, off, err := l.writeRecord(recAppend, items)
	if err != nil {
		return err
	}
	l.mu.Lock()
	for _, it := range items {
		l.addExtentLocked(it.key, it.entry, s, off, it.size)
		off += it.size
	}
	l.mu.Unlock()
	return nil
}

// Get returns each key's bytes.
func (l *Log) Get(keys ...string) ([][]byte, error) { return l.GetAppend(nil, keys...) }

// logRead is one run of bytes to read for a Get.
type logRead struct {
	s        *logSegment
	off, n   int64
	dst, pos int // where the bytes go: dst[dst][pos:]
}

// logCopy is one run of bytes for a Get to copy from a segment's mapping.
type logCopy struct {
	src      []byte
	s        *logSegment
	dst, pos int // where the bytes go: dst[dst][pos:]
}

// Runs of a mapped segment shorter than mapCopy are copied from the
// mapping; longer ones are read with pread like the runs of the active
// segment, whose system call is a small part of their cost. So a Get of a
// key appended to in many small batches costs a copy per run, not a system
// call, while the long runs a Buffer spills, read once, do not add their
// pages to the process's resident set through the mapping.
//
// Reads of runs at least readDirect long go straight into the caller's
// slice; shorter runs closer than readGap are read together, up to
// readSpan bytes at a time, and copied out.
const (
	mapCopy    = 16 << 10
	readDirect = 256 << 10
	readGap    = 4 << 10 // about what a pread costs in copying from the page cache
	readSpan   = 4 << 20
)

// readPlan is the scratch of one Get: its runs to copy from mappings, its
// runs to read, and the room to sort those. Plans are pooled, so a reader's
// Gets make little garbage: a key appended to in a thousand batches has a
// thousand runs.
type readPlan struct {
	joins  []logJoin
	pieces [][]byte // of the joins
	copies []logCopy
	reads  []logRead
	pops   []popRun
	sorted []logRead
	keys   []keysort.Pair // each run's place in the file, for sort
	tmp    []keysort.Pair
}

var planPool = sync.Pool{New: func() any { return new(readPlan) }}

// GetAppend appends each key's bytes to dst[i] (see GetAppender). The
// places of all the keys' bytes are read in file order, neighbours
// together, so a Get of many small keys reads its segments sequentially.
func (l *Log) GetAppend(dst [][]byte, keys ...string) ([][]byte, error) {
	dst, err := getAppendDst(dst, keys)
	if err != nil {
		return nil, err
	}
	plan := planPool.Get().(*readPlan)
	defer planPool.Put(plan)
	l.ioMu.RLock()
	defer l.ioMu.RUnlock()
	l.mu.RLock()
	if err := l.usableLocked("get"); err != nil {
		l.mu.RUnlock()
		return nil, err
	}
	reads, copies, joins, pieces, pops := plan.reads[:0], plan.copies[:0], plan.joins[:0], plan.pieces[:0], plan.pops[:0]
	var seg *logSegment // the last segment looked up: runs come in file order
	for i, key := range keys {
		k := l.index[key]
		if k == nil {
			continue
		}
		if cap(dst[i]) == len(dst[i]) && l.mappedLocked(k, &seg) {
			// No room at all in dst[i] (none to keep, as a plain Get's)
			// and every run in a mapping: bytes.Join gathers what dst[i]
			// holds and the runs into one new slice, which it does not
			// zero first.
			j := logJoin{dst: i, from: len(pieces)}
			pieces = append(pieces, dst[i])
			for _, e := range k.ext {
				if seg.id != e.seg {
					seg = l.segs[e.seg]
				}
				pieces = append(pieces, seg.data[e.off:int(e.off)+int(e.n)])
				pops = addPopulate(pops, seg, int(e.off), int(e.off)+int(e.n))
			}
			j.to = len(pieces)
			joins = append(joins, j)
			continue
		}
		start := len(dst[i])
		if spare := cap(dst[i]) - start; int64(spare) < k.size {
			grown := make([]byte, start, int64(start)+k.size+int64(spare))
			copy(grown, dst[i])
			dst[i] = grown
		}
		dst[i] = dst[i][:int64(start)+k.size]
		pos := start
		for _, e := range k.ext {
			if seg == nil || seg.id != e.seg {
				seg = l.segs[e.seg]
			}
			if end := int(e.off) + int(e.n); seg.data != nil && e.n < mapCopy && end <= len(seg.data) {
				copies = append(copies, logCopy{src: seg.data[e.off:end], s: seg, dst: i, pos: pos})
				pops = addPopulate(pops, seg, int(e.off), end)
			} else {
				reads = append(reads, logRead{s: seg, off: int64(e.off), n: int64(e.n), dst: i, pos: pos})
			}
			pos += int(e.n)
		}
	}
	l.mu.RUnlock()
	plan.reads, plan.copies, plan.joins, plan.pieces, plan.pops = reads, copies, joins, pieces, pops
	populate(pops)
	err = gatherMapped(dst, copies, joins, pieces)
	clear(copies) // the pool holds no slices of mappings, nor of the caller's
	clear(pieces)
	clear(pops)
	if err == nil {
		err = plan.read(dst)
	}
	if err != nil {
		return nil, fmt.Errorf("partd: log: get: %w", err)
	}
	return dst, nil
}

// mappedLocked reports whether every run of k is to be copied from a
// mapping (see mapCopy). seg is the last segment looked up, or nil; it is
// left at k's last run's. l.mu is held.
func (l *Log) mappedLocked(k *logKey, seg **logSegment) bool {
	s := *seg
	for _, e := range k.ext {
		if s == nil || s.id != e.seg {
			s = l.segs[e.seg]
		}
		if s.data == nil || e.n >= mapCopy || int(e.off)+int(e.n) > len(s.data) {
			return false
		}
	}
	*seg = s
	return true
}

// logJoin is a key of a Get whose bytes are pieces[from:to] of the plan:
// what dst[dst] held, then its runs in mappings.
type logJoin struct {
	dst, from, to int
}

// gatherMapped gathers each join's pieces into dst[join.dst], and copies
// each run from its segment's mapping into its place in dst. The caller holds
// l.ioMu for reading, so no mapping is unmapped meanwhile. A fault while
// copying (the file was shortened from outside the Log, so a page of the
// mapping is past its end: SIGBUS) fails the copy with ErrCorrupt instead
// of crashing the process (see mapLocked).
func gatherMapped(dst [][]byte, copies []logCopy, joins []logJoin, pieces [][]byte) (err error) {
	if len(copies) == 0 && len(joins) == 0 {
		return nil
	}
	var cur *logCopy
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			repanicUnlessFault(r)
			where := "a segment"
			if cur != nil {
				where = fmt.Sprintf("segment %s at byte %d", cur.s.name(), cap(cur.s.data)-cap(cur.src))
			}
			err = fmt.Errorf("a fault reading the mapping of %s (the file was shortened or damaged outside the log): %w", where, ErrCorrupt)
		}
	}()
	for _, j := range joins {
		dst[j.dst] = bytes.Join(pieces[j.from:j.to], nil)
	}
	for i := range copies {
		cur = &copies[i]
		copy(dst[cur.dst][cur.pos:], cur.src)
	}
	return nil
}

// read reads every run of the plan into its place in dst.
func (p *readPlan) read(dst [][]byte) error {
	reads := p.sort()
	scratch := spanPool.Get().(*[]byte)
	defer spanPool.Put(scratch)
	for i := 0; i < len(reads); {
		r := reads[i]
		if r.n >= readDirect {
			if err := readAt(r.s, dst[r.dst][r.pos:r.pos+int(r.n)], r.off); err != nil {
				return err
			}
			i++
			continue
		}
		end, j := r.off+r.n, i+1
		for ; j < len(reads); j++ {
			q := reads[j]
			if q.s != r.s || q.n >= readDirect || q.off < r.off || q.off-end > readGap || q.off+q.n-r.off > readSpan {
				break
			}
			end = max(end, q.off+q.n)
		}
		if int64(cap(*scratch)) < end-r.off {
			*scratch = make([]byte, end-r.off)
		}
		span := (*scratch)[:end-r.off]
		if err := readAt(r.s, span, r.off); err != nil {
			return err
		}
		for _, q := range reads[i:j] {
			copy(dst[q.dst][q.pos:q.pos+int(q.n)], span[q.off-r.off:])
		}
		i = j
	}
	return nil
}

// spanPool holds the buffers Gets read spans into (up to readSpan bytes),
// so that a reader's Gets make little garbage.
var spanPool = sync.Pool{New: func() any { return new([]byte) }}

// sort returns the plan's runs in file order: segment, then offset. A Get
// of many keys has a run per appended value, tens of thousands for one Get
// of a key appended to in many batches, so it keys each run by its place
// (the segment's id above the lowest read, then the offset, which is below
// 2^32) and radix-sorts those in linear time (keysort.Pairs).
func (p *readPlan) sort() []logRead {
	reads := p.reads
	byFile := func(a, b logRead) int { return cmp.Or(cmp.Compare(a.s.id, b.s.id), cmp.Compare(a.off, b.off)) }
	if slices.IsSortedFunc(reads, byFile) {
		return reads
	}
	if len(reads) < 256 {
		slices.SortStableFunc(reads, byFile)
		return reads
	}
	lo := reads[0].s.id
	for _, r := range reads {
		lo = min(lo, r.s.id)
	}
	keys := slices.Grow(p.keys[:0], len(reads))[:len(reads)]
	for i, r := range reads {
		keys[i] = keysort.Pair{Key: uint64(r.s.id-lo)<<32 | uint64(r.off), I: uint32(i)}
	}
	keys, p.tmp = keysort.Pairs(keys, p.tmp)
	p.keys = keys
	sorted := slices.Grow(p.sorted[:0], len(reads))[:len(reads)]
	for i, k := range keys {
		sorted[i] = reads[k.I]
	}
	p.sorted, p.reads = reads[:0], sorted // swap, so that both stay pooled
	return sorted
}

func readAt(s *logSegment, b []byte, off int64) error {
	if _, err := s.f.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("segment %s ends before byte %d: %w", s.name(), off+int64(len(b)), ErrCorrupt)
		}
		return err
	}
	return nil
}

// Set replaces a key's bytes, as one record.
func (l *Log) Set(key string, value []byte) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if len(value) == 0 {
		return l.Delete(key)
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.RLock()
	err := l.usableLocked("set")
	if c := l.tree.Conflict(key); err == nil && c != "" {
		err = errConflict("set", key, c)
	}
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	s, off, err := l.writeRecord(recSet, []logItem{{key: key, pieces: [][]byte{value}, size: int64(len(value))}})
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.removeKeyLocked(key)
	l.addExtentLocked(key, nil, s, off, int64(len(value)))
	l.mu.Unlock()
	l.maybeCompact()
	return nil
}

// Delete removes keys, as one record.
func (l *Log) Delete(keys ...string) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.RLock()
	err := l.usableLocked("delete")
	items := l.heldLocked(keys)
	l.mu.RUnlock()
	if err != nil || len(items) == 0 {
		return err
	}
	if _, _, err := l.writeRecord(recDelete, items); err != nil {
		return err
	}
	l.mu.Lock()
	for _, it := range items {
		l.removeKeyLocked(it.key)
	}
	l.mu.Unlock()
	l.maybeCompact()
	return nil
}

// heldLocked returns the keys of keys the index holds, each once, as the
// items of a delete record. l.mu is held.
func (l *Log) heldLocked(keys []string) []logItem {
	var items []logItem
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if _, ok := l.index[k]; ok && !seen[k] {
			seen[k] = true
			items = append(items, logItem{key: k})
		}
	}
	return items
}

// Keys returns every key that holds bytes, sorted.
func (l *Log) Keys() ([]string, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usableLocked("keys"); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(l.index))
	for k := range l.index {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// Drop removes everything: it records the drop, removes every segment
// before it, and starts a new one. Its cost is the number of segments.
func (l *Log) Drop() error {
	l.compactMu.Lock()
	defer l.compactMu.Unlock()
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.RLock()
	err := l.usableLocked("drop")
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	if _, _, err := l.writeRecord(recDrop, nil); err != nil {
		return err
	}
	// The drop is recorded: what is before it is dead whatever happens now.
	dropped := l.active
	l.mu.Lock()
	l.clearIndexLocked()
	l.mu.Unlock()
	if err := l.startSegment(); err != nil {
		return err
	}
	l.ioMu.Lock()
	defer l.ioMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, s := range sortedSegments(l.segs) {
		if s == l.active {
			continue
		}
		if s == dropped {
			continue // last: it holds the drop record until the others are gone
		}
		errs = append(errs, l.removeSegmentLocked(s))
	}
	errs = append(errs, l.removeSegmentLocked(dropped))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("partd: log: drop: %w", err)
	}
	return nil
}

// sortedSegments returns the segments in log order.
func sortedSegments(m map[uint32]*logSegment) []*logSegment {
	segs := make([]*logSegment, 0, len(m))
	for _, s := range m {
		segs = append(segs, s)
	}
	slices.SortFunc(segs, cmpSegments)
	return segs
}

// removeSegmentLocked closes and removes s. l.ioMu and l.mu are held for
// writing.
func (l *Log) removeSegmentLocked(s *logSegment) error {
	delete(l.segs, s.id)
	l.stats.Segments--
	l.bytes.Add(-s.size)
	s.unmap()
	s.f.Close()
	if err := os.Remove(filepath.Join(l.dir, s.name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Flush makes everything written so far durable (fsync), whatever
// LogOptions.Sync says. A Log holds nothing back in memory.
func (l *Log) Flush() error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.RLock()
	err := l.usableLocked("flush")
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := l.fs.SyncFile(l.active.f); err != nil {
		return fmt.Errorf("partd: log: %w", err)
	}
	return nil
}

// Stats returns the Log's figures.
func (l *Log) Stats() LogStats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	st := l.stats
	st.Keys = len(l.index)
	st.Bytes = l.bytes.Load()
	return st
}

// Dir returns the Log's directory.
func (l *Log) Dir() string { return l.dir }

// Close waits for a compaction in progress, closes the segment files and
// releases the directory; a temporary Log's directory is removed. Later
// calls return ErrClosed; a second Close returns nil.
func (l *Log) Close() error {
	l.closing.Store(true)
	l.compactWG.Wait()
	l.compactMu.Lock()
	defer l.compactMu.Unlock()
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.ioMu.Lock()
	defer l.ioMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.warm != nil {
		close(l.warm) // no writer sends: this holds l.writeMu
	}
	var err error
	if l.opts.Sync && l.active != nil {
		err = l.active.f.Sync()
	}
	err = errors.Join(err, l.closeFiles())
	if l.temp {
		err = errors.Join(err, os.RemoveAll(l.dir))
	}
	if err != nil {
		return fmt.Errorf("partd: log: close: %w", err)
	}
	return nil
}

// closeFiles closes the segments and the lock file (which releases the
// lock).
func (l *Log) closeFiles() error {
	err := l.closeSegments()
	if l.lock != nil {
		err = errors.Join(err, l.lock.Close())
	}
	return err
}

// closeSegments closes the segment files.
func (l *Log) closeSegments() error {
	var errs []error
	for _, s := range l.segs {
		errs = append(errs, s.unmap(), s.f.Close())
	}
	return errors.Join(errs...)
}
