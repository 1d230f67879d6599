package telemetryclient

import (
	"context"
	"sync"
	"time"
)

// event is one call, encoded when it was made: the caller may reuse its messages at once,
// and the sender only joins bytes.
type event struct {
	body    []byte
	stat    bool // a periodic sample: dropped first when the buffer is full
	dropped bool
}

type addResult int

const (
	added addResult = iota
	addedOverLimit
	droppedOne
	refusedClosed
)

// batchQueue holds the calls waiting to be sent, in call order. Positions count every
// event ever queued; the sender settles them in order, which is what Flush waits on.
type batchQueue struct {
	mu        sync.Mutex
	items     []event
	live      int // items not dropped
	statScan  int // items[:statScan] hold no live stat: where the next eviction looks
	max       int
	closed    bool
	added     uint64
	taken     uint64
	settled   uint64
	settledCh chan struct{} // closed and replaced whenever settled moves
	wake      chan struct{}
}

func newBatchQueue(max int) *batchQueue {
	return &batchQueue{max: max, settledCh: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// add queues e. With max calls waiting, a stat is dropped; a lifecycle event is never
// dropped: it takes the place of the oldest waiting stat, or goes past the limit if no
// stat is left (memory then grows with the outage, as losing a leave is worse).
func (q *batchQueue) add(e event) addResult {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return refusedClosed
	}
	res := added
	if q.live >= q.max {
		if e.stat {
			q.mu.Unlock()
			return droppedOne
		}
		if q.evictStat() {
			res = droppedOne
		} else {
			res = addedOverLimit
		}
	}
	q.items = append(q.items, e)
	q.live++
	q.added++
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return res
}

func (q *batchQueue) evictStat() bool {
	for ; q.statScan < len(q.items); q.statScan++ {
		it := &q.items[q.statScan]
		if it.stat && !it.dropped {
			it.dropped = true
			it.body = nil
			q.live--
			q.statScan++
			return true
		}
	}
	return false
}

// take removes up to n live events from the head; through is the position the sender
// settles once they are answered (dropped events passed over settle with them).
func (q *batchQueue) take(n int) (bodies [][]byte, through uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := 0
	for ; k < len(q.items) && len(bodies) < n; k++ {
		if !q.items[k].dropped {
			bodies = append(bodies, q.items[k].body)
		}
	}
	clear(q.items[:k]) // the sender holds the bodies now
	q.items = q.items[k:]
	q.statScan = max(0, q.statScan-k)
	q.live -= len(bodies)
	q.taken += uint64(k)
	return bodies, q.taken
}

func (q *batchQueue) settle(through uint64) {
	q.mu.Lock()
	if through > q.settled {
		q.settled = through
		close(q.settledCh)
		q.settledCh = make(chan struct{})
	}
	q.mu.Unlock()
}

func (q *batchQueue) position() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.added
}

func (q *batchQueue) buffered() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.live
}

func (q *batchQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}

// discard empties the queue after the sender stopped; it returns how many calls it held.
func (q *batchQueue) discard() int {
	q.mu.Lock()
	n := q.live
	q.items, q.live, q.statScan = nil, 0, 0
	q.taken = q.added
	q.mu.Unlock()
	q.settle(q.added)
	return n
}

// waitSettled waits until every position up to pos is settled, ctx ends or the sender
// stopped.
func (q *batchQueue) waitSettled(ctx context.Context, pos uint64, stopped <-chan struct{}) error {
	for {
		q.mu.Lock()
		done, ch := q.settled >= pos, q.settledCh
		q.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-stopped:
			// the sender is gone: Destroy, or Close's deadline
			q.mu.Lock()
			done = q.settled >= pos
			q.mu.Unlock()
			if done {
				return nil
			}
			return ErrClosed
		}
	}
}

// sendLoop is the one sender of this SFU node: a batch is in flight while the next fills,
// so batches grow with the load and are applied in call order.
func (c *Client) sendLoop(ctx context.Context) {
	defer close(c.stopped)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.queue.wake:
		}
		if c.o.Linger > 0 && c.queue.buffered() < c.o.MaxBatch {
			// calls made within Linger share a batch
			t := time.NewTimer(c.o.Linger)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		for {
			bodies, through := c.queue.take(c.o.MaxBatch)
			if len(bodies) > 0 {
				if unsent := c.sendBatch(ctx, bodies); unsent > 0 {
					c.counts.abandoned.Add(uint64(unsent))
					return
				}
			}
			c.queue.settle(through)
			if len(bodies) == 0 {
				break
			}
		}
	}
}

// sendBatch sends one batch until the fleet answers it: retried on 503 / 502 / 504 and
// network errors with backoff, each attempt to the next URL. The events' ids make a retry
// of a batch that was applied (its answer lost) a no-op. A 400 names the first bad event;
// nothing of the batch was applied, so that event is refused alone and the rest sent
// again. It returns how many events were left unsent because ctx ended.
func (c *Client) sendBatch(ctx context.Context, bodies [][]byte) int {
	for len(bodies) > 0 {
		body := c.batchBody(bodies)
		for attempt := 1; ; attempt++ {
			res := c.http.send(ctx, "POST", "/v1/telemetry", body, len(bodies))
			if res.status == 200 {
				c.counts.applied.Add(uint64(len(bodies)))
				c.http.sent()
				return 0
			}
			if ctx.Err() != nil {
				return len(bodies)
			}
			if res.retryable() {
				c.counts.retries.Add(1)
				if c.o.MaxAttempts > 0 && attempt >= c.o.MaxAttempts {
					c.refuseBatch(bodies, 0, "gave_up", "gave up after "+itoa(attempt)+" attempts: "+res.describe())
					return 0
				}
				if !sleep(ctx, backoff(c.o.BaseBackoff, c.o.MaxBackoff, attempt)) {
					return len(bodies)
				}
				continue
			}
			if res.status == 400 && res.index >= 0 && res.index < len(bodies) {
				m, id := eventHead(bodies[res.index])
				c.refuse(&RefusedError{Method: m, EventID: id, Status: res.status, Code: res.code, Message: res.message})
				bodies = append(bodies[:res.index:res.index], bodies[res.index+1:]...)
				break
			}
			c.refuseBatch(bodies, res.status, res.code, res.message)
			return 0
		}
	}
	return 0
}

func (c *Client) batchBody(bodies [][]byte) []byte {
	n := len(`{"nodeId":,"events":[]}`) + len(c.o.NodeID) + 8
	for _, b := range bodies {
		n += len(b) + 1
	}
	buf := make([]byte, 0, n)
	buf = append(buf, `{"nodeId":`...)
	buf = appendString(buf, c.o.NodeID)
	buf = append(buf, `,"events":[`...)
	for i, b := range bodies {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, b...)
	}
	return append(buf, ']', '}')
}
