package syncbuf_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/go-azureml/secrets/internal/syncbuf"
)

// Concurrent writes and reads are safe (go test -race) and lose nothing.
func TestConcurrentWritesAndReads(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&b, "w%d-%d\n", i, j)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
}
