package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeStateSurvivesSIGKILLMidWrite kills `serve --state` with SIGKILL
// while eight writers are in the middle of writes, restarts it on the same
// state file, and checks that every write it acknowledged is there, version
// for version, and that the file is whole.
func TestServeStateSurvivesSIGKILLMidWrite(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "vault.json")
	caOut := filepath.Join(dir, "ca.pem")

	for round := range 3 {
		p := startServe(t, bin, "--state", state, "--ca-out", caOut)
		c, closeIdle := clientFor(t, p.url, p.ca)

		type ack struct{ name, version, value string }
		var (
			mu    sync.Mutex
			acked []ack
			n     atomic.Int64
			wg    sync.WaitGroup
		)
		flowing := make(chan struct{}) // closed at the 40th acknowledged write
		ctx, stop := context.WithCancel(context.Background())
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					name := fmt.Sprintf("r%d-w%d-%d", round, w, i%5)
					value := fmt.Sprintf("value-%d-%d-%d", round, w, i)
					resp, err := c.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: to.Ptr(value)}, nil)
					if err != nil {
						return // the server is gone
					}
					mu.Lock()
					acked = append(acked, ack{name, resp.ID.Version(), value})
					mu.Unlock()
					if n.Add(1) == 40 {
						close(flowing)
					}
				}
			})
		}
		// Kill once writes are flowing, with requests in flight.
		select {
		case <-flowing:
		case <-time.After(10 * time.Second): // kill anyway; the checks below say what was acknowledged
		}
		require.NoError(t, p.cmd.Process.Kill())
		<-p.waitDone
		p.exited = true
		stop()
		wg.Wait()
		closeIdle()
		require.NotEmpty(t, acked, "round %d: no write was acknowledged before the kill", round)

		// The state file is a log of JSON lines; a kill may cut the last one short.
		raw, err := os.ReadFile(state)
		require.NoError(t, err)
		lines := strings.Split(string(raw), "\n")
		for i, line := range lines[:len(lines)-1] {
			require.True(t, json.Valid([]byte(line)), "round %d: line %d of the state file is whole JSON after SIGKILL", round, i+1)
		}

		// A kill during a compaction leaves a temporary file like this one.
		require.NoError(t, os.WriteFile(filepath.Join(dir, ".vault.json.tmp-123"), []byte("{}"), 0o600))
		p2 := startServe(t, bin, "--state", state, "--ca-out", caOut)
		temps, err := filepath.Glob(filepath.Join(dir, ".vault.json.tmp-*"))
		require.NoError(t, err)
		assert.Empty(t, temps, "round %d: temporary files left after SIGKILL are removed at start", round)
		c2, closeIdle2 := clientFor(t, p2.url, p2.ca)
		for _, a := range acked {
			got, err := c2.GetSecret(context.Background(), a.name, a.version, nil)
			require.NoError(t, err, "round %d: acknowledged write %s/%s lost", round, a.name, a.version)
			assert.Equal(t, a.value, *got.Value)
		}
		closeIdle2()
		p2.stop(t, syscall.SIGTERM)
		t.Logf("round %d: %d acknowledged writes, all present after SIGKILL and restart", round, len(acked))
	}
}
