package telemetryclient_test

import (
	"errors"
	"testing"
	"time"

	"github.com/livekit/livekit-server/pkg/telemetry"
	"github.com/livekit/protocol/codecs/mime"
	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/webhook"
	"google.golang.org/protobuf/types/known/timestamppb"

	"telemetry-coordinator/clients/go/telemetryclient"
)

// Every method of the interface, with the fields livekit-server fills in, is taken by the
// fleet's strict validator: nothing refused, everything applied.
func TestEveryMethodIsAcceptedByTheFleet(t *testing.T) {
	var refused []error
	sfu := newClient(t, "sfu-methods", func(o *telemetryclient.Options) {
		o.OnRefused = func(err error) { refused = append(refused, err) }
	})
	room := &livekit.Room{Sid: "RM_all", Name: "room-all", CreationTime: time.Now().Unix(), Metadata: `{"a":1}`, NumParticipants: 1}
	p := &livekit.ParticipantInfo{Sid: "PA_all", Identity: "alice", Name: "Alice", State: livekit.ParticipantInfo_ACTIVE, JoinedAt: time.Now().Unix(), Kind: livekit.ParticipantInfo_STANDARD}
	track := &livekit.TrackInfo{Sid: "TR_all", Type: livekit.TrackType_VIDEO, Source: livekit.TrackSource_CAMERA, Name: "camera", Width: 1280, Height: 720, MimeType: "video/VP8", Simulcast: true}
	client := &livekit.ClientInfo{Sdk: livekit.ClientInfo_GO, Version: "2.19.0", Os: "linux"}
	meta := &livekit.AnalyticsClientMeta{Region: "eu", Node: "sfu-methods", ClientAddr: "10.0.0.1"}
	guard := &telemetry.ReferenceGuard{}
	egress := &livekit.EgressInfo{EgressId: "EG_all", RoomId: room.Sid, RoomName: room.Name, Status: livekit.EgressStatus_EGRESS_ACTIVE, StartedAt: time.Now().UnixNano()}
	ingress := &livekit.IngressInfo{IngressId: "IN_all", Name: "in", RoomName: room.Name, InputType: livekit.IngressInput_RTMP_INPUT, State: &livekit.IngressState{Status: livekit.IngressState_ENDPOINT_PUBLISHING, RoomId: room.Sid}}
	stat := &livekit.AnalyticsStat{
		RoomId: room.Sid, RoomName: room.Name, ParticipantId: p.Sid, TrackId: track.Sid, Kind: livekit.StreamType_UPSTREAM, Score: 4.2, Mime: "video/VP8",
		TimeStamp: timestamppb.Now(),
		Streams: []*livekit.AnalyticsStream{{Ssrc: 42, PrimaryPackets: 100, PrimaryBytes: 120_000, Nacks: 2, Plis: 1, Jitter: 3, Rtt: 20,
			VideoLayers: []*livekit.AnalyticsVideoLayer{{Layer: 2, Packets: 100, Bytes: 120_000, Frames: 30}}}},
	}
	rtp := &livekit.RTPStats{StartTime: timestamppb.Now(), EndTime: timestamppb.Now(), Duration: 1, Packets: 100, Bytes: 120_000, PacketRate: 100, Bitrate: 960_000}

	sfu.RoomStarted(bg, room)
	sfu.ParticipantJoined(bg, room, p, client, meta, true, guard)
	sfu.ParticipantActive(bg, room, p, meta, false, true, guard)
	sfu.ParticipantResumed(bg, room, p, "sfu-methods", livekit.ReconnectReason_RR_SUBSCRIBER_FAILED)
	sfu.TrackPublishRequested(bg, room, livekit.ParticipantID(p.Sid), livekit.ParticipantIdentity(p.Identity), track, true)
	sfu.TrackPublished(bg, room, livekit.ParticipantID(p.Sid), livekit.ParticipantIdentity(p.Identity), track, true)
	sfu.TrackSubscribeRequested(bg, room, "PA_other", track)
	sfu.TrackSubscribed(bg, room, "PA_other", track, p, true)
	sfu.TrackSubscribeFailed(bg, room, "PA_other", livekit.TrackID(track.Sid), errors.New("no permission"), true)
	sfu.TrackMuted(bg, room, livekit.ParticipantID(p.Sid), track)
	sfu.TrackUnmuted(bg, room, livekit.ParticipantID(p.Sid), track)
	sfu.TrackPublishedUpdate(bg, room, livekit.ParticipantID(p.Sid), track)
	sfu.TrackMaxSubscribedVideoQuality(bg, room, livekit.ParticipantID(p.Sid), track, mime.MimeTypeVP8, livekit.VideoQuality_HIGH)
	sfu.TrackPublishRTPStats(bg, room, livekit.ParticipantID(p.Sid), livekit.TrackID(track.Sid), mime.MimeTypeVP8, 2, rtp)
	sfu.TrackSubscribeRTPStats(bg, room, "PA_other", livekit.TrackID(track.Sid), mime.MimeTypeVP8, rtp)
	sfu.TrackStats(livekit.RoomID(room.Sid), livekit.RoomName(room.Name),
		telemetry.StatsKeyForTrack("NL", livekit.StreamType_UPSTREAM, livekit.ParticipantID(p.Sid), livekit.TrackID(track.Sid), livekit.TrackSource_CAMERA, livekit.TrackType_VIDEO), stat)
	sfu.TrackStats(livekit.RoomID(room.Sid), livekit.RoomName(room.Name),
		telemetry.StatsKeyForData("", livekit.StreamType_DOWNSTREAM, "PA_other", ""), &livekit.AnalyticsStat{RoomId: room.Sid, ParticipantId: "PA_other"})
	sfu.TrackUnsubscribed(bg, room, "PA_other", track, true)
	sfu.TrackUnpublished(bg, room, livekit.ParticipantID(p.Sid), livekit.ParticipantIdentity(p.Identity), track, true, true)
	sfu.EgressStarted(bg, egress)
	sfu.EgressUpdated(bg, egress)
	sfu.NotifyEgressEvent(bg, webhook.EventEgressEnded, egress)
	sfu.IngressCreated(bg, ingress)
	sfu.IngressStarted(bg, ingress)
	sfu.IngressUpdated(bg, ingress)
	sfu.IngressEnded(bg, ingress)
	sfu.IngressDeleted(bg, ingress)
	sfu.LocalRoomState(bg, &livekit.AnalyticsNodeRooms{NodeId: "sfu-methods", SequenceNumber: 1, Timestamp: timestamppb.Now(), Rooms: []*livekit.AnalyticsRoom{{Id: room.Sid, Name: room.Name}}})
	sfu.Report(bg, &livekit.ReportInfo{})
	sfu.APICall(bg, &livekit.APICallInfo{ProjectId: "p", Service: "RoomService", Method: "CreateRoom", RoomName: room.Name, StartedAt: timestamppb.Now(), DurationNs: 1000})
	sfu.Webhook(bg, &livekit.WebhookInfo{EventId: "EV_1", Event: "room_started", RoomName: room.Name, RoomId: room.Sid, CreatedAt: timestamppb.Now()})
	sfu.ParticipantLeft(bg, room, p, true, guard)
	sfu.RoomEnded(bg, room, livekit.RoomEndReason_ROOM_END_API_DELETE)
	sfu.FlushStats()
	flush(t, sfu)
	for _, err := range refused {
		t.Error(err)
	}
	if c := sfu.Counters(); c.Applied != c.Calls || c.Calls != 33 {
		t.Fatalf("counters %+v: want all 33 calls applied", c)
	}
	waitForWebhook(t, room.Name, "room_finished", 30*time.Second)
	want := map[string]bool{"room_started": true, "participant_joined": true, "track_published": true, "track_unpublished": true,
		"egress_started": true, "egress_updated": true, "egress_ended": true, "ingress_started": true, "ingress_ended": true, "participant_left": true}
	for _, name := range coord.Receiver.Names(room.Name) {
		delete(want, name)
	}
	if len(want) > 0 {
		t.Fatalf("webhooks missing: %v (got %v)", want, coord.Receiver.Names(room.Name))
	}
}
