package telemetryclient

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/auth"
)

// transport makes the client's requests: round-robin over the URLs, a bearer token
// minted from the API key, and the fleet's answer read into a result.
type transport struct {
	o        *Options
	counts   *counters
	turn     atomic.Uint64
	lastSent atomic.Int64 // unix nanos of the last batch answered 200: it renewed the lease

	mu      sync.Mutex
	jwt     string
	renewAt time.Time
}

func newTransport(o *Options, counts *counters) *transport {
	return &transport{o: o, counts: counts}
}

// result is one answer: a status (0 for a network error) and, for an error, what the
// fleet said ({"error": {"code", "message", "index"}}).
type result struct {
	status  int
	code    string
	message string
	index   int
	err     error
}

// retryable: 503 is the fleet's "try again"; 502 and 504 are a proxy's word for a
// coordinator it could not reach. A 4xx or a 500 would fail the same way again.
func (r result) retryable() bool {
	return r.status == 0 || r.status == 503 || r.status == 502 || r.status == 504
}

func (r result) describe() string {
	if r.status == 0 {
		if r.err != nil {
			return r.err.Error()
		}
		return "network error"
	}
	return strconv.Itoa(r.status) + " " + r.message
}

const tokenTTL = 10 * time.Minute

func (t *transport) bearer() (string, error) {
	if t.o.Token != nil {
		return t.o.Token()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := time.Now(); t.jwt == "" || now.After(t.renewAt) {
		jwt, err := auth.NewAccessToken(t.o.APIKey, t.o.APISecret).SetIdentity(t.o.NodeID).SetValidFor(tokenTTL).
			// the grant the coordinator asks of every call: a participant's join token lacks it
			SetObservabilityGrant(&auth.ObservabilityGrant{Write: true}).ToJWT()
		if err != nil {
			return "", err
		}
		t.jwt, t.renewAt = jwt, now.Add(tokenTTL/2)
	}
	return t.jwt, nil
}

// send makes one request to the next coordinator in turn.
func (t *transport) send(ctx context.Context, method, path string, body []byte, events int) result {
	base := t.o.URLs[(t.turn.Add(1)-1)%uint64(len(t.o.URLs))]
	started := time.Now()
	res := t.do(ctx, method, base+path, body)
	t.counts.requests.Add(1)
	if t.o.OnRequest != nil {
		t.o.OnRequest(RequestReport{URL: base, Events: events, Status: res.status, Took: time.Since(started)})
	}
	return res
}

func (t *transport) do(ctx context.Context, method, target string, body []byte) result {
	res := result{index: -1}
	token, err := t.bearer()
	if err != nil {
		res.status, res.code, res.message = 401, "token", err.Error()
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, t.o.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		res.err = err
		return res
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.o.HTTPClient.Do(req)
	if err != nil {
		res.err = err
		return res
	}
	defer resp.Body.Close()
	// read to the end, so the connection is kept for the next batch
	text, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		// the answer was cut: the batch may have been applied, which its ids make safe
		res.err = err
		return res
	}
	res.status = resp.StatusCode
	if res.status >= 400 {
		var answer struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
				Index   *int   `json:"index"`
			} `json:"error"`
		}
		_ = json.Unmarshal(text, &answer)
		res.code, res.message = answer.Error.Code, answer.Error.Message
		if res.code == "" {
			res.code = "http_error"
		}
		if res.message == "" {
			res.message = method + " answered " + strconv.Itoa(res.status)
		}
		if answer.Error.Index != nil {
			res.index = *answer.Error.Index
		}
	}
	return res
}

func (t *transport) sent() { t.lastSent.Store(time.Now().UnixNano()) }

// depart is DELETE /v1/nodes/:nodeId, retried as a batch is until ctx ends.
func (t *transport) depart(ctx context.Context) error {
	path := "/v1/nodes/" + url.PathEscape(t.o.NodeID)
	for attempt := 1; ; attempt++ {
		res := t.send(ctx, "DELETE", path, nil, 0)
		if res.status == 204 || res.status == 200 {
			return nil
		}
		if !res.retryable() {
			return &RefusedError{Method: "depart", Status: res.status, Code: res.code, Message: res.message}
		}
		t.counts.retries.Add(1)
		if !sleep(ctx, backoff(t.o.BaseBackoff, t.o.MaxBackoff, attempt)) {
			return ctx.Err()
		}
	}
}

// backoff doubles from base up to max, jittered down to half so that SFU nodes cut off
// together do not come back in step.
func backoff(base, max time.Duration, attempt int) time.Duration {
	d := base << min(attempt-1, 30)
	if d > max || d <= 0 {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
