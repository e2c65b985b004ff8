package server

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/gopartd/partd"
)

// The attempts extension runs partd.Attempts in the server's process, so
// that clients append under a task and an attempt and commit exactly once:
// the server's store must be (or wrap) a *partd.Attempts (partd serve makes
// it one where the store commits a batch whole); else the commands answer
// errors.ErrUnsupported.

// attemptOf parses the task and attempt frames and returns the attempt.
func attemptOf(s *Server, cmd string, payload [][]byte) (*partd.Attempt, error) {
	if len(payload) < 2 {
		return nil, badRequest("%s needs a task and an attempt; got %d frames", cmd, len(payload))
	}
	a, ok := partd.Find[*partd.Attempts](s.store)
	if !ok {
		return nil, fmt.Errorf("server: %s: the store keeps no attempts: %w", cmd, errors.ErrUnsupported)
	}
	if len(payload[0]) > partd.MaxKeyLen {
		return nil, badRequest("%s: a task of %d bytes is longer than %d bytes", cmd, len(payload[0]), partd.MaxKeyLen)
	}
	n, err := strconv.Atoi(string(payload[1]))
	if err != nil || n < 0 {
		return nil, badRequest("%s: attempt %s is not a number", cmd, quote(payload[1]))
	}
	return a.Attempt(string(payload[0]), n)
}

// cmdAttemptAppend stages key, value pairs under an attempt:
// [task, attempt, seq, key, value, ...].
func cmdAttemptAppend(s *Server, p parsed) ([][]byte, bool, error) {
	t, err := attemptOf(s, "attempt-append", p.payload)
	if err != nil {
		return nil, false, err
	}
	if len(p.payload) < 3 || (len(p.payload)-3)%2 != 0 {
		return nil, false, badRequest("attempt-append needs a task, an attempt, a sequence number and key, value pairs; got %d frames", len(p.payload))
	}
	seq, err := strconv.ParseUint(string(p.payload[2]), 10, 64)
	if err != nil {
		return nil, false, badRequest("attempt-append: sequence number %s is not a number", quote(p.payload[2]))
	}
	data := make(map[string][]byte, (len(p.payload)-3)/2)
	for i := 3; i < len(p.payload); i += 2 {
		k, err := key(p.payload[i], false)
		if err != nil {
			return nil, false, err
		}
		if _, dup := data[k]; dup {
			return nil, false, badRequest("attempt-append: key %s twice", quote(p.payload[i]))
		}
		data[k] = p.payload[i+1]
	}
	return nil, false, t.Append(seq, data)
}

// cmdAttemptCommit commits an attempt: [task, attempt].
var cmdAttemptCommit = attemptEnding("attempt-commit", (*partd.Attempt).Commit)

// cmdAttemptAbort discards an attempt: [task, attempt].
var cmdAttemptAbort = attemptEnding("attempt-abort", (*partd.Attempt).Abort)

// attemptEnding returns the command cmd that ends an attempt, [task,
// attempt], with end.
func attemptEnding(cmd string, end func(*partd.Attempt) error) command {
	return func(s *Server, p parsed) ([][]byte, bool, error) {
		if len(p.payload) != 2 {
			return nil, false, badRequest("%s needs a task and an attempt; got %d frames", cmd, len(p.payload))
		}
		t, err := attemptOf(s, cmd, p.payload)
		if err != nil {
			return nil, false, err
		}
		return nil, false, end(t)
	}
}
