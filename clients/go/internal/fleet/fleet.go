package fleet

import (
	"fmt"
	"strings"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/encoding/protojson"
)

const (
	APIKey    = "test-key"
	APISecret = "test-secret-that-is-long-enough-for-hs256"
)

// Fleet is a redis-server, coordinator nodes on it, and the receiver of their webhooks.
type Fleet struct {
	Redis    *Redis
	Nodes    []*Node
	Receiver *Receiver
}

// Start starts n nodes with the given extra environment (NODE_LEASE, FLUSH_INTERVAL, ...).
func Start(n int, env map[string]string) (*Fleet, error) {
	f := &Fleet{}
	var err error
	if f.Redis, err = StartRedis(); err != nil {
		return nil, err
	}
	if f.Receiver, err = StartReceiver(APIKey, APISecret); err != nil {
		f.Stop()
		return nil, err
	}
	set := map[string]string{"REDIS_URL": f.Redis.URL(), "API_KEY": APIKey, "API_SECRET": APISecret, "WEBHOOK_URLS": f.Receiver.URL}
	for k, v := range env {
		set[k] = v
	}
	type started struct {
		node *Node
		err  error
	}
	ch := make(chan started, n)
	for range n {
		go func() { node, err := StartNode(set); ch <- started{node, err} }()
	}
	var errs []string
	for range n {
		s := <-ch
		if s.err != nil {
			errs = append(errs, s.err.Error())
		} else {
			f.Nodes = append(f.Nodes, s.node)
		}
	}
	if len(errs) > 0 {
		f.Stop()
		return nil, fmt.Errorf("starting nodes: %s", strings.Join(errs, "; "))
	}
	return f, nil
}

// URLs are the nodes' base URLs.
func (f *Fleet) URLs() []string {
	var out []string
	for _, n := range f.Nodes {
		out = append(out, n.URL())
	}
	return out
}

func (f *Fleet) Stop() {
	for _, n := range f.Nodes {
		n.Stop()
	}
	if f.Receiver != nil {
		f.Receiver.Stop()
	}
	if f.Redis != nil {
		f.Redis.Stop()
	}
}

// Analytics is the analytics events the fleet wrote (the tc:analytics:events stream) for
// one room sid, in stream order.
func (f *Fleet) Analytics(roomSid string) ([]*livekit.AnalyticsEvent, error) {
	v, err := f.Redis.Do("XRANGE", "tc:analytics:events", "-", "+")
	if err != nil {
		return nil, err
	}
	entries, _ := v.([]any)
	var out []*livekit.AnalyticsEvent
	for _, e := range entries {
		pair, _ := e.([]any)
		if len(pair) != 2 {
			continue
		}
		fields, _ := pair[1].([]any)
		if len(fields) < 2 {
			continue
		}
		raw, _ := fields[1].(string)
		ev := &livekit.AnalyticsEvent{}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(raw), ev); err != nil {
			return nil, fmt.Errorf("analytics entry %q: %w", raw, err)
		}
		if ev.RoomId == roomSid || ev.GetRoom().GetSid() == roomSid {
			out = append(out, ev)
		}
	}
	return out, nil
}
