package telemetryclient

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/livekit/livekit-server/pkg/telemetry"
)

// Options configure a Client. Only URLs, NodeID and the credentials are required; every
// other field has its default in Defaults, the one place defaults live.
type Options struct {
	// URLs of coordinator nodes ("http://coord-1:7890"). Batches go round-robin; a retry
	// goes to the next URL, so a node that is down is skipped.
	URLs []string
	// NodeID is the SFU node this client speaks for (livekit-server's node id): it owns
	// the guards it sends and holds the lease the fleet expires when it goes silent.
	NodeID string
	// APIKey and APISecret mint the bearer tokens (HS256, iss = APIKey), as LiveKit's own
	// access tokens, with the observability grant the coordinator asks of every call.
	// Token, if set, is used instead; its tokens need that grant too (else 403).
	APIKey    string
	APISecret string
	Token     func() (string, error)

	// MaxBatch is the number of events per request, 1 to 1000 (the API's limit).
	MaxBatch int
	// Linger is how long the sender waits for more calls before sending a batch that is
	// not full; 0 sends as soon as the previous batch was answered.
	Linger time.Duration
	// MaxBuffered is how many calls may wait to be sent. Past it a stat (TrackStats,
	// RTP stats, room state) is dropped and counted, oldest buffered first; lifecycle
	// events are never dropped.
	MaxBuffered int
	// MaxAttempts per batch on 503 / 502 / 504 / network errors; 0 retries until Close's
	// deadline. LiveKit's interface returns nothing, so a batch given up is lost for good.
	MaxAttempts    int
	BaseBackoff    time.Duration
	MaxBackoff     time.Duration
	RequestTimeout time.Duration
	// HeartbeatInterval renews the lease when no batch did (negative = off); keep it well under
	// the fleet's NODE_LEASE.
	HeartbeatInterval time.Duration

	// Analytics receives the AnalyticsService half of LiveKit's interface (SendStats,
	// SendEvent, SendNodeRoomStates, RoomProjectReporter), which the fleet has no
	// method for: by default telemetry.NullAnalyticService.
	Analytics telemetry.AnalyticsService
	// HTTPClient sends the requests (default: a client of its own with keep-alive).
	HTTPClient *http.Client
	// Logger gets refused events and batches given up (default slog.Default()).
	Logger *slog.Logger
	// OnRefused is called for every event the fleet refused or the client gave up on, with
	// a *RefusedError naming the method, event and field: on the sender goroutine, or the
	// caller's for a call refused before it was queued. It must not block.
	OnRefused func(err error)
	// OnRequest is called after every request, for the caller's own figures.
	OnRequest func(RequestReport)
}

// RequestReport describes one HTTP request the client made.
type RequestReport struct {
	URL    string
	Events int // 0 for a heartbeat or a depart
	Status int // 0 for a network error
	Took   time.Duration
}

// Defaults are the values of every Options field left zero.
var Defaults = Options{
	MaxBatch:          500,
	Linger:            0,
	MaxBuffered:       20_000,
	MaxAttempts:       0,
	BaseBackoff:       100 * time.Millisecond,
	MaxBackoff:        5 * time.Second,
	RequestTimeout:    10 * time.Second,
	HeartbeatInterval: 5 * time.Second,
}

func (o Options) withDefaults() (Options, error) {
	if len(o.URLs) == 0 {
		return o, errors.New("telemetryclient: URLs must name at least one coordinator")
	}
	if o.NodeID == "" {
		return o, errors.New("telemetryclient: NodeID is required (the SFU node this client speaks for)")
	}
	if o.Token == nil && (o.APIKey == "" || o.APISecret == "") {
		return o, errors.New("telemetryclient: give APIKey and APISecret, or Token")
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = Defaults.MaxBatch
	}
	if o.MaxBatch < 1 || o.MaxBatch > 1000 {
		return o, errors.New("telemetryclient: MaxBatch must be 1 to 1000 (the API takes at most 1000 events)")
	}
	if o.MaxBuffered == 0 {
		o.MaxBuffered = Defaults.MaxBuffered
	}
	if o.BaseBackoff == 0 {
		o.BaseBackoff = Defaults.BaseBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = Defaults.MaxBackoff
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = Defaults.RequestTimeout
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = Defaults.HeartbeatInterval
	}
	if o.HeartbeatInterval < 0 {
		o.HeartbeatInterval = 0
	}
	if o.Analytics == nil {
		o.Analytics = telemetry.NullAnalyticService{}
	}
	if o.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 4
		o.HTTPClient = &http.Client{Transport: t}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
