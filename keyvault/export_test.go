package keyvault

// ThrottleSpread returns throttleSpread in Retry-Afters, for the tests of
// package keyvault_test.
func ThrottleSpread() []int {
	out := make([]int, len(throttleSpread))
	for i, n := range throttleSpread {
		out[i] = int(n)
	}
	return out
}
