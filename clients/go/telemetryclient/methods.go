package telemetryclient

import (
	"context"
	"strings"

	"github.com/livekit/livekit-server/pkg/telemetry"
	"github.com/livekit/protocol/codecs/mime"
	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/observability/roomobs"
	"github.com/livekit/protocol/webhook"
	"google.golang.org/protobuf/proto"
)

// LiveKit's TelemetryService. Every method writes its call as one event and returns: it
// never waits for the network, so the SFU's media and signalling paths never block on the
// fleet. The context is not kept: a call outlives the request that made it, as with
// livekit-server's own service.

// TrackStats is a stat: past MaxBuffered it is the first thing dropped.
func (c *Client) TrackStats(roomID livekit.RoomID, roomName livekit.RoomName, key telemetry.StatsKey, stat *livekit.AnalyticsStat) {
	w := c.begin("trackStats")
	w.id("roomId", string(roomID))
	w.optStr("roomName", string(roomName))
	k := readStatsKey(&key)
	w.name("key")
	w.buf = append(w.buf, `{"streamType":`...)
	if k.streamType == livekit.StreamType_DOWNSTREAM {
		w.buf = append(w.buf, `"DOWNSTREAM"`...)
	} else {
		w.buf = append(w.buf, `"UPSTREAM"`...)
	}
	if e := checkID(string(k.participantID)); e != "" {
		w.fail(fieldError("key.participantId", e))
	}
	if len(k.trackID) > nameBytes || strings.Contains(string(k.trackID), "\n") {
		w.fail(fieldError("key.trackId", "must be at most 256 bytes, without a newline"))
	}
	w.str("participantId", string(k.participantID))
	w.str("trackId", string(k.trackID))
	if k.track {
		w.int("trackSource", int64(k.trackSource))
		w.int("trackType", int64(k.trackType))
		w.boolean("track", true)
	}
	w.optStr("country", k.country)
	w.buf = append(w.buf, '}')
	w.required("stat", "trackStats", stat)
	c.enqueue(w, true)
}

func (c *Client) RoomStarted(_ context.Context, room *livekit.Room) {
	w := c.begin("roomStarted")
	w.room("roomStarted", room, false)
	c.enqueue(w, false)
}

// RoomEnded: the fleet's roomEnded takes the room only; LiveKit's end reason is not sent.
func (c *Client) RoomEnded(_ context.Context, room *livekit.Room, _ livekit.RoomEndReason) {
	w := c.begin("roomEnded")
	w.room("roomEnded", room, false)
	c.enqueue(w, false)
}

func (c *Client) ParticipantJoined(_ context.Context, room *livekit.Room, participant *livekit.ParticipantInfo, clientInfo *livekit.ClientInfo, clientMeta *livekit.AnalyticsClientMeta, shouldSendEvent bool, guard *telemetry.ReferenceGuard) {
	const m = "participantJoined"
	w := c.begin(m)
	w.room(m, room, true)
	w.participant("participant", m, participant, true)
	w.optional("clientInfo", clientInfo)
	w.optional("clientMeta", clientMeta)
	w.boolean("shouldSendEvent", shouldSendEvent)
	w.optStr("guard", c.guards.id(guard))
	c.enqueue(w, false)
}

func (c *Client) ParticipantActive(_ context.Context, room *livekit.Room, participant *livekit.ParticipantInfo, clientMeta *livekit.AnalyticsClientMeta, isMigration bool, isWarp bool, guard *telemetry.ReferenceGuard) {
	const m = "participantActive"
	w := c.begin(m)
	w.room(m, room, true)
	w.participant("participant", m, participant, true)
	w.optional("clientMeta", clientMeta)
	w.boolean("isMigration", isMigration)
	if isWarp {
		w.boolean("isWarp", true)
	}
	w.optStr("guard", c.guards.id(guard))
	c.enqueue(w, false)
}

func (c *Client) ParticipantResumed(_ context.Context, room *livekit.Room, participant *livekit.ParticipantInfo, nodeID livekit.NodeID, reason livekit.ReconnectReason) {
	const m = "participantResumed"
	w := c.begin(m)
	w.room(m, room, true)
	w.participant("participant", m, participant, true)
	if nodeID != "" {
		w.text("nodeId", string(nodeID))
	}
	w.int("reason", int64(reason))
	c.enqueue(w, false)
}

func (c *Client) ParticipantLeft(_ context.Context, room *livekit.Room, participant *livekit.ParticipantInfo, shouldSendEvent bool, guard *telemetry.ReferenceGuard) {
	const m = "participantLeft"
	w := c.begin(m)
	w.room(m, room, true)
	w.participant("participant", m, participant, true)
	w.boolean("shouldSendEvent", shouldSendEvent)
	w.optStr("guard", c.guards.release(guard))
	c.enqueue(w, false)
}

func (c *Client) trackPublication(m string, room *livekit.Room, participantID livekit.ParticipantID, identity livekit.ParticipantIdentity, track *livekit.TrackInfo) *eventWriter {
	w := c.begin(m)
	w.trackCall(m, room, participantID)
	w.text("identity", string(identity))
	w.track(m, track)
	return w
}

func (c *Client) TrackPublishRequested(_ context.Context, room *livekit.Room, participantID livekit.ParticipantID, identity livekit.ParticipantIdentity, track *livekit.TrackInfo, shouldSendEvent bool) {
	w := c.trackPublication("trackPublishRequested", room, participantID, identity, track)
	w.boolean("shouldSendEvent", shouldSendEvent)
	c.enqueue(w, false)
}

func (c *Client) TrackPublished(_ context.Context, room *livekit.Room, participantID livekit.ParticipantID, identity livekit.ParticipantIdentity, track *livekit.TrackInfo, shouldSendEvent bool) {
	w := c.trackPublication("trackPublished", room, participantID, identity, track)
	w.boolean("shouldSendEvent", shouldSendEvent)
	c.enqueue(w, false)
}

func (c *Client) TrackUnpublished(_ context.Context, room *livekit.Room, participantID livekit.ParticipantID, identity livekit.ParticipantIdentity, track *livekit.TrackInfo, wasPublishedLocally bool, shouldSendEvent bool) {
	w := c.trackPublication("trackUnpublished", room, participantID, identity, track)
	w.boolean("wasPublishedLocally", wasPublishedLocally)
	w.boolean("shouldSendEvent", shouldSendEvent)
	c.enqueue(w, false)
}

// trackEvent writes the (room, participant, track) methods.
func (c *Client) trackEvent(m string, room *livekit.Room, participantID livekit.ParticipantID, track *livekit.TrackInfo) *eventWriter {
	w := c.begin(m)
	w.trackCall(m, room, participantID)
	w.track(m, track)
	return w
}

func (c *Client) TrackSubscribeRequested(_ context.Context, room *livekit.Room, participantID livekit.ParticipantID, track *livekit.TrackInfo) {
	c.enqueue(c.trackEvent("trackSubscribeRequested", room, participantID, track), false)
}

func (c *Client) TrackSubscribed(_ context.Context, room *livekit.Room, participantID livekit.ParticipantID, track *livekit.TrackInfo, publisher *livekit.ParticipantInfo, shouldSendEvent bool) {
	w := c.trackEvent("trackSubscribed", room, participantID, track)
	if publisher != nil {
		w.participant("publisher", "trackSubscribed", publisher, false)
	}
	w.boolean("shouldSendEvent", shouldSendEvent)
	c.enqueue(w, false)
}

func (c *Client) TrackUnsubscribed(_ context.Context, room *livekit.Room, participantID livekit.ParticipantID, track *livekit.TrackInfo, shouldSendEvent bool) {
	w := c.trackEvent("trackUnsubscribed", room, participantID, track)
	w.boolean("shouldSendEvent", shouldSendEvent)
	c.enqueue(w, false)
}

// TrackSubscribeFailed sends err's text, cut to the fleet's 4 KiB.
func (c *Client) TrackSubscribeFailed(_ context.Context, room *livekit.Room, participantID livekit.ParticipantID, trackID livekit.TrackID, err error, isUserError bool) {
	const m = "trackSubscribeFailed"
	w := c.begin(m)
	w.trackCall(m, room, participantID)
	w.text("trackId", string(trackID))
	text := "unknown error"
	if err != nil {
		text = err.Error()
	}
	w.str("error", truncate(text, errorBytes))
	w.boolean("isUserError", isUserError)
	c.enqueue(w, false)
}

func (c *Client) TrackMuted(_ context.Context, room *livekit.Room, participantID livekit.ParticipantID, track *livekit.TrackInfo) {
	c.enqueue(c.trackEvent("trackMuted", room, participantID, track), false)
}

func (c *Client) TrackUnmuted(_ context.Context, room *livekit.Room, participantID livekit.ParticipantID, track *livekit.TrackInfo) {
	c.enqueue(c.trackEvent("trackUnmuted", room, participantID, track), false)
}

func (c *Client) TrackPublishedUpdate(_ context.Context, room *livekit.Room, participantID livekit.ParticipantID, track *livekit.TrackInfo) {
	c.enqueue(c.trackEvent("trackPublishedUpdate", room, participantID, track), false)
}

func (c *Client) TrackMaxSubscribedVideoQuality(_ context.Context, room *livekit.Room, participantID livekit.ParticipantID, track *livekit.TrackInfo, mimeType mime.MimeType, maxQuality livekit.VideoQuality) {
	w := c.trackEvent("trackMaxSubscribedVideoQuality", room, participantID, track)
	w.text("mime", mimeType.String())
	w.int("maxQuality", int64(maxQuality))
	c.enqueue(w, false)
}

// TrackPublishRTPStats is a stat.
func (c *Client) TrackPublishRTPStats(_ context.Context, room *livekit.Room, participantID livekit.ParticipantID, trackID livekit.TrackID, mimeType mime.MimeType, layer int, stats *livekit.RTPStats) {
	const m = "trackPublishRTPStats"
	w := c.begin(m)
	w.trackCall(m, room, participantID)
	w.text("trackId", string(trackID))
	w.text("mimeType", mimeType.String())
	w.int("layer", int64(int32(layer)))
	w.required("stats", m, stats)
	c.enqueue(w, true)
}

// TrackSubscribeRTPStats is a stat.
func (c *Client) TrackSubscribeRTPStats(_ context.Context, room *livekit.Room, participantID livekit.ParticipantID, trackID livekit.TrackID, mimeType mime.MimeType, stats *livekit.RTPStats) {
	const m = "trackSubscribeRTPStats"
	w := c.begin(m)
	w.trackCall(m, room, participantID)
	w.text("trackId", string(trackID))
	w.text("mimeType", mimeType.String())
	w.required("stats", m, stats)
	c.enqueue(w, true)
}

// The methods whose only argument is one message, required: the fleet's method, the
// message's field, and whether the call is a stat (the first thing dropped past
// MaxBuffered). Each is written by sendMessage.
type messageMethod struct {
	name, field string
	stat        bool
}

var (
	egressStarted  = messageMethod{name: "egressStarted", field: "info"}
	egressUpdated  = messageMethod{name: "egressUpdated", field: "info"}
	egressEnded    = messageMethod{name: "egressEnded", field: "info"}
	ingressCreated = messageMethod{name: "ingressCreated", field: "info"}
	ingressDeleted = messageMethod{name: "ingressDeleted", field: "info"}
	ingressStarted = messageMethod{name: "ingressStarted", field: "info"}
	ingressUpdated = messageMethod{name: "ingressUpdated", field: "info"}
	ingressEnded   = messageMethod{name: "ingressEnded", field: "info"}
	// a periodic sample of the node's rooms
	localRoomState = messageMethod{name: "localRoomState", field: "info", stat: true}
	report         = messageMethod{name: "report", field: "reportInfo"}
	apiCall        = messageMethod{name: "apiCall", field: "apiCallInfo"}
	webhookCall    = messageMethod{name: "webhook", field: "webhookInfo"}
)

func (c *Client) sendMessage(m messageMethod, msg proto.Message) {
	w := c.begin(m.name)
	w.required(m.field, m.name, msg)
	c.enqueue(w, m.stat)
}

func (c *Client) EgressStarted(_ context.Context, info *livekit.EgressInfo) {
	c.sendMessage(egressStarted, info)
}
func (c *Client) EgressUpdated(_ context.Context, info *livekit.EgressInfo) {
	c.sendMessage(egressUpdated, info)
}
func (c *Client) EgressEnded(_ context.Context, info *livekit.EgressInfo) {
	c.sendMessage(egressEnded, info)
}

func (c *Client) IngressCreated(_ context.Context, info *livekit.IngressInfo) {
	c.sendMessage(ingressCreated, info)
}
func (c *Client) IngressDeleted(_ context.Context, info *livekit.IngressInfo) {
	c.sendMessage(ingressDeleted, info)
}
func (c *Client) IngressStarted(_ context.Context, info *livekit.IngressInfo) {
	c.sendMessage(ingressStarted, info)
}
func (c *Client) IngressUpdated(_ context.Context, info *livekit.IngressInfo) {
	c.sendMessage(ingressUpdated, info)
}
func (c *Client) IngressEnded(_ context.Context, info *livekit.IngressInfo) {
	c.sendMessage(ingressEnded, info)
}

// LocalRoomState is a periodic sample of the node's rooms: a stat.
func (c *Client) LocalRoomState(_ context.Context, info *livekit.AnalyticsNodeRooms) {
	c.sendMessage(localRoomState, info)
}

func (c *Client) Report(_ context.Context, reportInfo *livekit.ReportInfo) {
	c.sendMessage(report, reportInfo)
}

func (c *Client) APICall(_ context.Context, apiCallInfo *livekit.APICallInfo) {
	c.sendMessage(apiCall, apiCallInfo)
}

func (c *Client) Webhook(_ context.Context, webhookInfo *livekit.WebhookInfo) {
	c.sendMessage(webhookCall, webhookInfo)
}

// NotifyEgressEvent is LiveKit's webhook-only egress notice (an egress that failed to
// start). The fleet raises egress webhooks from its egress methods, so the notice becomes
// the method of the same name: the webhook goes out, with an analytics event beside it
// that livekit-server's own service would not write.
func (c *Client) NotifyEgressEvent(_ context.Context, event string, info *livekit.EgressInfo) {
	m, ok := egressByEvent[event]
	if !ok {
		c.refuse(&RefusedError{Method: "notifyEgressEvent", Code: "invalid_field", Message: "event: " + event + " is not an egress event"})
		return
	}
	c.sendMessage(m, info)
}

// The egress method of each egress webhook event.
var egressByEvent = map[string]messageMethod{
	webhook.EventEgressStarted: egressStarted,
	webhook.EventEgressUpdated: egressUpdated,
	webhook.EventEgressEnded:   egressEnded,
}

// FlushStats sends every call made so far and waits, up to RequestTimeout, until the
// fleet has answered them. The fleet's own flush of buffered stats runs on its
// FLUSH_INTERVAL schedule, as livekit-server's does on its own ticker.
func (c *Client) FlushStats() {
	ctx, cancel := context.WithTimeout(context.Background(), c.o.RequestTimeout)
	defer cancel()
	_ = c.Flush(ctx)
}

// The AnalyticsService half of the interface is LiveKit's analytics sink, which the fleet
// writes to itself: these go to Options.Analytics.

func (c *Client) SendStats(ctx context.Context, stats []*livekit.AnalyticsStat) {
	c.o.Analytics.SendStats(ctx, stats)
}

func (c *Client) SendEvent(ctx context.Context, event *livekit.AnalyticsEvent) {
	c.o.Analytics.SendEvent(ctx, event)
}

func (c *Client) SendNodeRoomStates(ctx context.Context, nodeRooms *livekit.AnalyticsNodeRooms) {
	c.o.Analytics.SendNodeRoomStates(ctx, nodeRooms)
}

func (c *Client) RoomProjectReporter(ctx context.Context) roomobs.ProjectReporter {
	return c.o.Analytics.RoomProjectReporter(ctx)
}
