package client

import (
	"context"
	"maps"
	"slices"
	"strconv"

	"github.com/gopartd/partd/server/wire"
)

// AttemptAppend appends data under attempt attempt of task in the server's
// store, as partd.Attempt.Append does (the attempts extension): the bytes
// are not visible until AttemptCommit, and an append whose seq is not above
// the last one applied for the attempt is a retry, skipped. It returns an
// error wrapping errors.ErrUnsupported where the server or its store keeps
// no attempts.
func (c *Client) AttemptAppend(task string, attempt int, seq uint64, data map[string][]byte) error {
	payload := [][]byte{[]byte(task), strconv.AppendInt(nil, int64(attempt), 10), strconv.AppendUint(nil, seq, 10)}
	for _, k := range slices.Sorted(maps.Keys(data)) {
		payload = append(payload, []byte(k), data[k])
	}
	_, err := c.extension(context.Background(), wire.CmdAttemptAppend, payload...)
	return err
}

// AttemptCommit makes what attempt attempt of task appended visible, all at
// once, unless another attempt of the task committed first: then it
// returns an error wrapping partd.ErrAttemptLost and the attempt is
// discarded. Committing an attempt again returns nil.
func (c *Client) AttemptCommit(task string, attempt int) error {
	_, err := c.extension(context.Background(), wire.CmdAttemptCommit, []byte(task), strconv.AppendInt(nil, int64(attempt), 10))
	return err
}

// AttemptAbort discards what attempt attempt of task appended.
func (c *Client) AttemptAbort(task string, attempt int) error {
	_, err := c.extension(context.Background(), wire.CmdAttemptAbort, []byte(task), strconv.AppendInt(nil, int64(attempt), 10))
	return err
}
