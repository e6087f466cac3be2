package keyvault

import "time"

// ThrottleSpread returns throttleSpread in Retry-Afters, for the tests of
// package keyvault_test.
func ThrottleSpread() [][2]float64 {
	out := make([][2]float64, len(throttleSpread))
	for i, r := range throttleSpread {
		out[i] = [2]float64{float64(r.lo) / 2, float64(r.hi) / 2}
	}
	return out
}

// SetThrottleSpread replaces throttleSpread (in half Retry-Afters, lo and
// hi pairs) for the experiments of TestHerdSimulation; it returns a func
// that restores it.
func SetThrottleSpread(halves []int) (restore func()) {
	old := throttleSpread
	throttleSpread = nil
	for i := 0; i+1 < len(halves); i += 2 {
		throttleSpread = append(throttleSpread, struct{ lo, hi time.Duration }{time.Duration(halves[i]), time.Duration(halves[i+1])})
	}
	return func() { throttleSpread = old }
}

// RealClock is the clock the package uses when Options.Clock is nil.
var RealClock Clock = realClock{}
