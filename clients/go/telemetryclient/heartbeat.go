package telemetryclient

import (
	"context"
	"net/url"
	"time"
)

// heartbeat renews the SFU node's lease when no batch did for half an interval: the
// fleet releases the connections of a node whose lease lapses, as for a crashed SFU.
func (c *Client) heartbeat(ctx context.Context) {
	every := c.o.HeartbeatInterval
	tick := time.NewTicker(every)
	defer tick.Stop()
	path := "/v1/nodes/" + url.PathEscape(c.o.NodeID) + "/heartbeat"
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if time.Since(time.Unix(0, c.http.lastSent.Load())) < every/2 {
			continue
		}
		// a failed heartbeat is not retried: the next tick comes well within the lease
		if res := c.http.send(ctx, "POST", path, nil, 0); res.status == 204 {
			c.http.sent()
		}
	}
}
