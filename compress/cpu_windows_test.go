package compress_test

// cpuSeconds returns 0 on Windows: the benchmarks report no CPU time there.
func cpuSeconds() float64 { return 0 }
