//go:build tools

// This file pins the project's dependencies in go.mod while the packages that
// use them are being written; it is never built.
package partd

import (
	_ "github.com/gofrs/flock"
	_ "github.com/klauspost/compress/snappy"
	_ "github.com/klauspost/compress/zlib"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/pebbe/zmq4"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/spf13/cobra"
	_ "github.com/vmihailenco/msgpack/v5"
)
