// Package telemetryclient is LiveKit's telemetry.TelemetryService backed by a coordinator
// fleet: a livekit-server node constructs it where it would construct its own telemetry
// service, and every call becomes an event of a batch sent to POST /v1/telemetry.
//
// It behaves as the fleet's TypeScript TelemetryClient: calls are batched and applied in
// the order made, one batch in flight per SFU node while the next fills; every event has
// an id, so a batch retried on another coordinator (503, network error, a proxy's 502 /
// 504) is applied once; a refusal (4xx) is logged and counted; heartbeats keep the SFU
// node's lease; Depart releases its connections at once. A call never blocks: it is
// encoded, queued and returns.
package telemetryclient

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/livekit/livekit-server/pkg/telemetry"
)

var _ telemetry.TelemetryService = (*Client)(nil)

// ErrClosed is what Flush and Depart return once Destroy stopped the client.
var ErrClosed = errors.New("telemetryclient: client destroyed")

// Client is a LiveKit TelemetryService for one SFU node. Its methods are safe for
// concurrent use.
type Client struct {
	o       Options
	session string // tells this process's event ids from a restarted one's
	seq     atomic.Uint64
	guards  *guardIDs
	queue   *batchQueue
	http    *transport
	counts  counters

	stop      context.CancelFunc // ends the sender, its retries and the heartbeat
	stopped   chan struct{}      // closed when the sender returned
	closeOnce sync.Once
}

// New starts a client: its sender and, unless HeartbeatInterval < 0, its heartbeat.
func New(o Options) (*Client, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	var raw [6]byte
	_, _ = rand.Read(raw[:])
	session := base64.RawURLEncoding.EncodeToString(raw[:])
	ctx, stop := context.WithCancel(context.Background())
	c := &Client{
		o:       o,
		session: session,
		guards:  newGuardIDs(session),
		queue:   newBatchQueue(o.MaxBuffered),
		stop:    stop,
		stopped: make(chan struct{}),
	}
	c.http = newTransport(&c.o, &c.counts)
	go c.sendLoop(ctx)
	if o.HeartbeatInterval > 0 {
		go c.heartbeat(ctx)
	}
	return c, nil
}

// NodeID is the SFU node this client speaks for.
func (c *Client) NodeID() string { return c.o.NodeID }

// begin starts a call's event; the id is <node>:<session>:<n>, unique per SFU node.
func (c *Client) begin(method string) *eventWriter {
	w := &eventWriter{buf: make([]byte, 0, 384)}
	var id [96]byte
	b := append(id[:0], c.o.NodeID...)
	b = append(b, ':')
	b = append(b, c.session...)
	b = append(b, ':')
	b = strconv.AppendUint(b, c.seq.Add(1), 36)
	w.begin(method, string(b))
	return w
}

// enqueue queues a written event, or refuses it alone if a field failed its check.
func (c *Client) enqueue(w *eventWriter, stat bool) {
	c.counts.calls.Add(1)
	if w.err != nil {
		method, id := eventHead(w.buf)
		p := w.err.(*fieldProblem)
		c.refuse(&RefusedError{Method: method, EventID: id, Status: 400, Code: p.code, Message: p.Error()})
		return
	}
	switch c.queue.add(event{body: w.end(), stat: stat}) {
	case addedOverLimit:
		c.counts.overLimit.Add(1)
	case droppedOne:
		c.counts.dropped.Add(1)
	case refusedClosed:
		c.counts.abandoned.Add(1)
	}
}

// Flush waits until every call made before it has been answered by the fleet (applied,
// or refused and counted), or ctx ends.
func (c *Client) Flush(ctx context.Context) error {
	return c.queue.waitSettled(ctx, c.queue.position(), c.stopped)
}

// Close sends what is pending and stops: new calls are dropped and counted, the heartbeat
// ends, and the SFU node's lease lapses on the fleet's NODE_LEASE. Calls still unsent
// when ctx ends are abandoned and counted.
func (c *Client) Close(ctx context.Context) error {
	c.queue.close()
	err := c.Flush(ctx)
	c.halt()
	return err
}

// Depart is the SFU node leaving cleanly: Close, then DELETE /v1/nodes/:nodeId, which
// releases its connections now (their participant_left webhooks go out) instead of when
// the lease lapses.
func (c *Client) Depart(ctx context.Context) error {
	if err := c.Close(ctx); err != nil {
		return err
	}
	return c.http.depart(ctx)
}

// Destroy stops at once, as a crashed SFU node would: nothing more is sent, not even
// what is pending (counted as abandoned), and the lease lapses.
func (c *Client) Destroy() {
	c.queue.close()
	c.halt()
}

func (c *Client) halt() {
	c.closeOnce.Do(func() {
		c.stop()
		<-c.stopped
		c.counts.abandoned.Add(uint64(c.queue.discard()))
	})
}

// refuse reports an event that will not be applied.
func (c *Client) refuse(err *RefusedError) {
	c.count(err)
	c.o.Logger.Error("telemetry event not applied", "method", err.Method, "event", err.EventID, "status", err.Status, "code", err.Code, "message", err.Message)
	if c.o.OnRefused != nil {
		c.o.OnRefused(err)
	}
}

// refuseBatch reports the events of a batch refused or given up as a whole: one log line
// for the batch (a wrong API secret must not log 500 lines a batch), each event counted
// and passed to OnRefused.
func (c *Client) refuseBatch(bodies [][]byte, status int, code, message string) {
	c.o.Logger.Error("telemetry batch not applied", "events", len(bodies), "status", status, "code", code, "message", message)
	for _, b := range bodies {
		m, id := eventHead(b)
		err := &RefusedError{Method: m, EventID: id, Status: status, Code: code, Message: message}
		c.count(err)
		if c.o.OnRefused != nil {
			c.o.OnRefused(err)
		}
	}
}

func (c *Client) count(err *RefusedError) {
	if err.Code == "gave_up" {
		c.counts.givenUp.Add(1)
	} else {
		c.counts.refused.Add(1)
	}
}

// eventHead reads the method and id back from an event's first bytes, which begin wrote
// as {"method":"<m>","id":"<id>" (neither needs escaping).
func eventHead(body []byte) (method, id string) {
	const pre = `{"method":"`
	s := string(body)
	if len(s) < len(pre) {
		return "", ""
	}
	s = s[len(pre):]
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			method, s = s[:i], s[i:]
			break
		}
	}
	const mid = `","id":"`
	if len(s) < len(mid) {
		return method, ""
	}
	s = s[len(mid):]
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			return method, s[:i]
		}
	}
	return method, s
}

// Counters are the client's figures since New.
type Counters struct {
	Calls     uint64 // calls made
	Applied   uint64 // events the fleet answered 200 for
	Refused   uint64 // events refused: by the fleet (4xx, 500) or by the client's own checks
	GivenUp   uint64 // events of batches given up after MaxAttempts
	Dropped   uint64 // stats dropped because MaxBuffered calls were waiting
	OverLimit uint64 // lifecycle events queued past MaxBuffered, as no stat was left to drop
	Abandoned uint64 // calls unsent at Close's deadline or Destroy, or made after either
	Requests  uint64 // HTTP requests, heartbeats included
	Retries   uint64 // requests answered 503 / 502 / 504 or lost to a network error
	Buffered  int    // calls waiting to be sent now
}

type counters struct {
	calls, applied, refused, givenUp, dropped, overLimit, abandoned, requests, retries atomic.Uint64
}

// Counters returns the client's figures now.
func (c *Client) Counters() Counters {
	return Counters{
		Calls: c.counts.calls.Load(), Applied: c.counts.applied.Load(), Refused: c.counts.refused.Load(),
		GivenUp: c.counts.givenUp.Load(), Dropped: c.counts.dropped.Load(), OverLimit: c.counts.overLimit.Load(),
		Abandoned: c.counts.abandoned.Load(), Requests: c.counts.requests.Load(), Retries: c.counts.retries.Load(),
		Buffered: c.queue.buffered(),
	}
}
