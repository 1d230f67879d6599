package fleet

import (
	"net"
	"net/http"
	"sync"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/webhook"
)

// Receiver is a real webhook endpoint: each delivery is verified with livekit/protocol's
// webhook.ReceiveWebhookEvent (signature and body hash against the API key and secret)
// and answered 401 if it fails; verified events are recorded in arrival order.
type Receiver struct {
	URL      string
	server   *http.Server
	provider auth.KeyProvider
	mu       sync.Mutex
	events   []*livekit.WebhookEvent
	rejected []string
}

func StartReceiver(apiKey, apiSecret string) (*Receiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Receiver{URL: "http://" + l.Addr().String() + "/webhook", provider: auth.NewSimpleKeyProvider(apiKey, apiSecret)}
	r.server = &http.Server{Handler: r}
	go func() { _ = r.server.Serve(l) }()
	return r, nil
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ev, err := webhook.ReceiveWebhookEvent(req, r.provider)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.rejected = append(r.rejected, err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.events = append(r.events, ev)
	w.WriteHeader(http.StatusOK)
}

func (r *Receiver) Stop() { _ = r.server.Close() }

// Rejected are the deliveries that failed verification.
func (r *Receiver) Rejected() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.rejected...)
}

// Room is the verified events of one room (by name), first arrival of each webhook id,
// in arrival order.
func (r *Receiver) Room(name string) []*livekit.WebhookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []*livekit.WebhookEvent
	for _, ev := range r.events {
		if ev.GetRoom().GetName() == name && !seen[ev.Id] {
			seen[ev.Id] = true
			out = append(out, ev)
		}
	}
	return out
}

// Names is the event names of Room(name).
func (r *Receiver) Names(name string) []string {
	var out []string
	for _, ev := range r.Room(name) {
		out = append(out, ev.Event)
	}
	return out
}
