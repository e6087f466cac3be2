package kvemulator

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// connTracker caps the server's open connections. When a new connection
// would pass the cap it sheds the longest-idle keep-alive connection (or,
// failing that, the oldest connection that has not sent a request yet), so a
// client that is working gets in while thousands of idle ones are held open.
// Only when every connection is busy is the new one closed instead.
type connTracker struct {
	max int // <= 0: no cap

	mu    sync.Mutex
	conns map[net.Conn]*connInfo
	drain chan struct{} // closed when conns next becomes empty
}

type connInfo struct {
	state http.ConnState
	since time.Time
}

func newConnTracker(maxConns int) *connTracker {
	return &connTracker{max: maxConns, conns: map[net.Conn]*connInfo{}}
}

// track is the http.Server's ConnState hook.
func (c *connTracker) track(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch state {
	case http.StateClosed, http.StateHijacked:
		c.removeLocked(conn)
		return
	case http.StateNew:
		c.conns[conn] = &connInfo{state: state, since: time.Now()}
		if c.max > 0 && len(c.conns) > c.max {
			victim := c.victimLocked(conn)
			_ = victim.Close()
			c.removeLocked(victim)
		}
		return
	}
	if ci := c.conns[conn]; ci != nil {
		ci.state, ci.since = state, time.Now()
	}
}

// victimLocked picks the connection to shed: the longest idle, else the
// oldest that has sent no request, else the new one itself.
func (c *connTracker) victimLocked(newConn net.Conn) net.Conn {
	var idle, fresh net.Conn
	var idleSince, freshSince time.Time
	for conn, ci := range c.conns {
		switch {
		case conn == newConn:
		case ci.state == http.StateIdle && (idle == nil || ci.since.Before(idleSince)):
			idle, idleSince = conn, ci.since
		case ci.state == http.StateNew && (fresh == nil || ci.since.Before(freshSince)):
			fresh, freshSince = conn, ci.since
		}
	}
	switch {
	case idle != nil:
		return idle
	case fresh != nil:
		return fresh
	}
	return newConn
}

func (c *connTracker) removeLocked(conn net.Conn) {
	delete(c.conns, conn)
	if len(c.conns) == 0 && c.drain != nil {
		close(c.drain)
		c.drain = nil
	}
}

// drained is closed once no connection is open.
func (c *connTracker) drained() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.conns) == 0 {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	if c.drain == nil {
		c.drain = make(chan struct{})
	}
	return c.drain
}

// open is the number of open connections.
func (c *connTracker) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}
