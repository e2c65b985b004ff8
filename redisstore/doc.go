// Package redisstore is a partd write policy over Redis: a single server, a
// master managed by Sentinel, or a Redis Cluster, reached through a
// github.com/redis/go-redis/v9 client. Its Store is a partd.Store, so
// Buffer, the compression and encoding layers and the server compose over
// it as over any store:
//
//	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
//	store, err := redisstore.New(client, "shuffle-42")
//	s := partd.NewBuffer(partd.NewDict(), compress.Zstd(store), 256<<20)
//
// # Namespaces
//
// A store lives in a namespace NS, a prefix of every name it writes, so
// stores with different namespaces share a server or a cluster without
// seeing each other's keys; Keys and Drop touch only their namespace. For a
// key K whose first tuple part is F ("df" for "df/x"), TAG is "{F}" (with
// "%" and "}" in F escaped as %25 and %7D) and the names are:
//
//	NS:d TAG K          K's bytes: a string, or for a key in parts a list of "LEN:ID" entries
//	NS:x TAG K \0 ID    one part of a key held in several parts
//	NS:c TAG P          how many keys are stored under the tuple prefix P ("df" for "df/x")
//	NS:s TAG ID         a chunk staged for an Append not yet committed (expires)
//	NS:o TAG ID         an Append already applied, so a replay is not (expires within seconds)
//
// TAG is a Redis hash tag: everything a key's writes and conflict checks
// touch is in one cluster slot, where one Lua script sees it atomically.
// It also means keys are spread over a cluster by their first part: all
// keys "df/…" are on one node. Spread a large data set over several first
// parts to spread it over the masters.
//
// # Key rules and conflicts
//
// Keys follow partd's rules (partd.ValidateBatch and partd.ValidateKey,
// before anything is sent), and a key and a tuple key under it ("x" and
// "x/y") cannot both hold bytes, as in every store: a Buffer over this
// store never fails to spill for a reason its fast store did not report.
// The script that creates a key checks, atomically with the write, that no
// tuple parent of it exists (one EXISTS per "/" in the key) and that no key
// is stored under it (the count NS:c TAG K): no SCAN, and no race, at the
// cost of one counter per tuple prefix that has keys under it, updated when
// a key is created or deleted.
//
// # What is atomic
//
//   - One key, always: each Append, Set and Delete of a key is one script,
//     however many parts the key takes, and Get reads each key as it was at
//     one moment, never a mix of two writes.
//   - A batch on one server (a *redis.Client: a single node or Sentinel):
//     an Append is one script, all of it or nothing, whatever its size.
//   - A batch in a cluster: atomic per hash tag (the keys of the batch that
//     share a first tuple part), not as a whole; the tags are written by
//     separate scripts, pipelined to each node at once. Before writing
//     any, the store checks every key for conflicts, so an Append that a
//     stored key conflicts with writes nothing. Only if another writer
//     creates a conflicting key between that check and the write is the
//     Append refused part way: its error wraps both partd.ErrInvalidKey
//     and ErrMaybeWritten, and still no key sits beside a tuple key.
//   - Not atomic: a Get of several keys (each key is, the set is not),
//     Delete of several keys, Keys and Drop (a key written while they run
//     may or may not be seen or dropped).
//
// # Large values
//
// A Redis string holds at most proto-max-bulk-len bytes (512 MB by
// default), and APPEND fails past it. New reads that limit (CONFIG GET,
// the smallest over a cluster's masters, 512 MiB if refused) and never
// writes a longer string: a key that outgrows it is held in several parts,
// listed by a manifest at its data name. Values are sent in pieces of at
// most that size and three quarters of client-query-buffer-limit. One
// script call carries at most WithInlineLimit bytes of values (64 MiB by
// default); the rest of a larger batch is first staged in names that
// expire, then moved into place by the script that commits the batch. So a
// value of any size is written whole or not at all: a refused or failed
// Append leaves at most staged chunks, which are deleted or expire. Values
// are bounded by the server's memory only. Lowering proto-max-bulk-len
// below the size the store read is not supported: open the store again.
//
// # Errors, timeouts and retries
//
// Each round trip (a pipeline, a script call, a SCAN step) is bounded by
// the store's timeout (WithTimeout, 5 s by default), and a call gives up at
// the first that fails, so a dead node, a hung node or a cluster failing
// over gives an error within about that time, never a hang (a round trip
// that ends with a WAIT, under WithWaitReplicas, gets the wait timeout
// more). This needs a client that honors context deadlines
// (ContextTimeoutEnabled, which Dial sets); otherwise the client's own
// dial, read and write timeouts bound the wait. A transfer must fit in the
// timeout too: raise it for values of hundreds of megabytes.
//
// An error from Redis not answering wraps ErrUnavailable. After one, Get,
// Keys, Set, Delete and Drop may simply be retried (they are idempotent).
// An Append error that wraps ErrMaybeWritten means the batch may have been
// written in part or whole (the request went out and no answer came back),
// so retrying it may duplicate bytes; every other Append error means
// nothing was written, and it may be retried once the cause is fixed. The
// client's own retries are safe: each Append carries an id that its script
// records for a few seconds, so a call the client sends again is applied
// once. In a cluster, an unavailable error has the client reload the slot
// map, so a retry after a failover reaches the new master.
//
// # Replication and failover
//
// Redis replicates asynchronously: a master answers a write before its
// replicas have it. By default the store returns from a write as soon as
// the master has applied it, so a failover can lose writes that returned
// nil: if a master fails while a replica lags (paused, slow, cut off) and
// that replica is promoted, every write it had not received is gone, with
// no error to anyone. And since the appends that follow go to the new
// master, such a key is left with a gap: the bytes of later appends there,
// those of earlier acknowledged ones missing, which the order of a key's
// bytes (its appends in the order they returned) does not allow. A test
// that pauses a replica for 1.5 s and kills its master while appends run
// loses thousands of acknowledged appends, every key with a gap
// (TestClusterFailoverWait, run with PARTD_FAILOVER_WAIT=0).
//
// WithWaitReplicas(n, timeout) closes that window: each write is followed,
// on the connection that sent it, by Redis's WAIT n, and the call returns
// nil only once n replicas of the master have acknowledged the write. If
// they do not within the timeout, the call returns an error wrapping
// ErrMaybeWritten and ErrUnavailable that says how many did: the master
// has the write, its replicas may not, and after a failover it may or may
// not be there. An acknowledged write then survives the failure of its
// master as long as a replica that acknowledged it is promoted; Redis
// Cluster and Sentinel both promote the replica with the most data first,
// so with n equal to each master's replica count every candidate has it.
// The same test, with n = 1, loses no acknowledged append.
//
// It does not make Redis strongly consistent, as Redis's documentation
// of WAIT says (https://redis.io/docs/latest/commands/wait/, "Consistency
// and WAIT"): promoting the best replica is a best effort, so a write
// acknowledged by fewer replicas than a master has can still be lost; a
// replica acknowledges what it has received, not what it has written to
// disk, so a master and its replicas failing together lose it (durability
// across restarts is the servers' persistence: RDB, AOF, and WAITAOF,
// which the store does not send); and a write that timed out waiting is
// not undone. A read (Get, Keys) may see a write that no replica has yet.
// Every write call costs the round trip of its replicas' acknowledgement
// more: see the README for a measure.
//
// # Server settings
//
// The server must not evict the store's names: keep Redis's default
// maxmemory-policy, noeviction (or a volatile-* policy, under which only
// names that expire anyway can go). Moving a slot to another master
// (resharding) while its keys are written is not supported: the scripts
// touch names they cannot declare in advance (parts, counts), which a slot
// migration does not track; reshard a quiet cluster. The store is tested
// with Redis 7.0.
//
// # Options
//
// New and Dial take validated functional options (Option, a
// func(*options) error), the style of this module's layers, client and
// server (see package partd, "Options"): each knob has a default, a bad
// value is the constructor's error at once (WithPartSize(0) and
// WithInlineLimit(0) are refused, as is a part size over the server's
// proto-max-bulk-len), and no option is clamped silently.
//
// # Capabilities
//
// Beside partd.Store, a Store has AppendVectors (partd.VectorAppender: a
// Buffer spills a Dict's chunks through it, each piece sent as an argument
// of its own, never joined), GetAppend (partd.GetAppender) and Sizes, the
// bytes each key holds, from STRLEN or a key's manifest, without reading it.
//
// # Costs
//
// Append and Set are one script call per hash tag, pipelined per node,
// after one pipelined TYPE per key (and EXISTS per new key) when a cluster
// batch spans several hash tags. An Append of at least 16 KiB to a hash tag
// (or, on one server, in the batch) whose keys stay in one part each sends
// the values as plain APPENDs instead, in a MULTI … EXEC between two short
// script calls that check and account for them: a script given the values
// would have Redis hash every byte of them as Lua strings, which costs it
// more than the appends. The transaction is as atomic as the script, and a
// server that refuses it or finds a key in parts gets the script after all.
// Under WithWaitReplicas, each pipeline of writes to a master ends with a
// WAIT, sent on the master's own client (a cluster client would route a
// WAIT, which names no key, to any node), so a write call also waits for
// the acknowledgement of the slowest master it wrote to.
// Get is one pipelined GET per key (more round trips only for keys in
// parts); Delete is a script per hash tag. Keys and Drop SCAN the whole
// database of every master, whatever share of it the namespace holds.
// The client keeps its own goroutines and connection pools; the store
// starts none that outlive a call.
package redisstore
