package keyvault

// ThrottleSpread returns throttleSpread in Retry-Afters, for the tests of
// package keyvault_test.
func ThrottleSpread() [][2]float64 {
	out := make([][2]float64, len(throttleSpread))
	for i, r := range throttleSpread {
		out[i] = [2]float64{float64(r.lo) / 2, float64(r.hi) / 2}
	}
	return out
}
