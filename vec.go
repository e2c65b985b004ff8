package partd

// advanceVec drops the first n bytes of vec, a vectored write's pieces,
// after a write(v)/pwritev that wrote n of them, and drops pieces left
// empty. It changes vec's elements in place.
func advanceVec(vec [][]byte, n int) [][]byte {
	for n > 0 && len(vec) > 0 {
		if n >= len(vec[0]) {
			n -= len(vec[0])
			vec = vec[1:]
		} else {
			vec[0] = vec[0][n:]
			n = 0
		}
	}
	for len(vec) > 0 && len(vec[0]) == 0 {
		vec = vec[1:]
	}
	return vec
}
