package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/livekit/livekit-server/pkg/telemetry"
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// args reads a call's arguments as the TypeScript client writes them.
type args struct {
	raw map[string]json.RawMessage
	err error
}

func (a *args) msg(name string, m proto.Message) {
	if v, ok := a.raw[name]; ok && a.err == nil {
		if err := protojson.Unmarshal(v, m); err != nil {
			a.err = fmt.Errorf("%s: %w", name, err)
		}
	}
}

func (a *args) str(name string) string {
	var s string
	if v, ok := a.raw[name]; ok && a.err == nil {
		if err := json.Unmarshal(v, &s); err != nil {
			a.err = fmt.Errorf("%s: %w", name, err)
		}
	}
	return s
}

func (a *args) boolean(name string) bool {
	var b bool
	if v, ok := a.raw[name]; ok && a.err == nil {
		if err := json.Unmarshal(v, &b); err != nil {
			a.err = fmt.Errorf("%s: %w", name, err)
		}
	}
	return b
}

func (a *args) room() *livekit.Room {
	r := &livekit.Room{}
	a.msg("room", r)
	return r
}

func (a *args) participant(name string) *livekit.ParticipantInfo {
	p := &livekit.ParticipantInfo{}
	a.msg(name, p)
	return p
}

func (a *args) track() *livekit.TrackInfo {
	t := &livekit.TrackInfo{}
	a.msg("track", t)
	return t
}

// guard is the SFU's ReferenceGuard for a connection id: the same string, the same
// pointer, as a LiveKit connection keeps its guard.
func (s *sfu) guard(id string) *telemetry.ReferenceGuard {
	if id == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.guards[id]
	if !ok {
		g = &telemetry.ReferenceGuard{}
		s.guards[id] = g
	}
	return g
}

func (s *sfu) forget(id string) {
	s.mu.Lock()
	delete(s.guards, id)
	s.mu.Unlock()
}

// call makes one TelemetryService call on the SFU's Go client: the methods the
// simulator's SFU nodes make.
func (s *sfu) call(method string, raw map[string]json.RawMessage) error {
	a := &args{raw: raw}
	c, ctx := s.client, context.Background()
	var do func()
	switch method {
	case "roomStarted":
		room := a.room()
		do = func() { c.RoomStarted(ctx, room) }
	case "roomEnded":
		room := a.room()
		do = func() { c.RoomEnded(ctx, room, livekit.RoomEndReason_ROOM_END_UNKNOWN) }
	case "participantJoined":
		room, p, send, g := a.room(), a.participant("participant"), a.boolean("shouldSendEvent"), a.str("guard")
		do = func() { c.ParticipantJoined(ctx, room, p, nil, nil, send, s.guard(g)) }
	case "participantActive":
		room, p, migration, g := a.room(), a.participant("participant"), a.boolean("isMigration"), a.str("guard")
		do = func() { c.ParticipantActive(ctx, room, p, nil, migration, false, s.guard(g)) }
	case "participantResumed":
		room, p, node := a.room(), a.participant("participant"), a.str("nodeId")
		do = func() { c.ParticipantResumed(ctx, room, p, livekit.NodeID(node), livekit.ReconnectReason_RR_UNKNOWN) }
	case "participantLeft":
		room, p, send, g := a.room(), a.participant("participant"), a.boolean("shouldSendEvent"), a.str("guard")
		do = func() { c.ParticipantLeft(ctx, room, p, send, s.guard(g)); s.forget(g) }
	case "trackPublished", "trackUnpublished":
		room, pid, identity, t, send := a.room(), a.str("participantId"), a.str("identity"), a.track(), a.boolean("shouldSendEvent")
		if method == "trackPublished" {
			do = func() {
				c.TrackPublished(ctx, room, livekit.ParticipantID(pid), livekit.ParticipantIdentity(identity), t, send)
			}
		} else {
			do = func() {
				c.TrackUnpublished(ctx, room, livekit.ParticipantID(pid), livekit.ParticipantIdentity(identity), t, true, send)
			}
		}
	case "trackSubscribed":
		room, pid, t, send := a.room(), a.str("participantId"), a.track(), a.boolean("shouldSendEvent")
		do = func() { c.TrackSubscribed(ctx, room, livekit.ParticipantID(pid), t, nil, send) }
	case "trackMuted", "trackUnmuted":
		room, pid, t := a.room(), a.str("participantId"), a.track()
		if method == "trackMuted" {
			do = func() { c.TrackMuted(ctx, room, livekit.ParticipantID(pid), t) }
		} else {
			do = func() { c.TrackUnmuted(ctx, room, livekit.ParticipantID(pid), t) }
		}
	case "trackStats":
		var key struct {
			StreamType    string `json:"streamType"`
			ParticipantID string `json:"participantId"`
			TrackID       string `json:"trackId"`
		}
		if err := json.Unmarshal(raw["key"], &key); err != nil {
			return fmt.Errorf("key: %w", err)
		}
		stat := &livekit.AnalyticsStat{}
		a.msg("stat", stat)
		roomID, roomName := a.str("roomId"), a.str("roomName")
		dir := livekit.StreamType_UPSTREAM
		if key.StreamType == "DOWNSTREAM" {
			dir = livekit.StreamType_DOWNSTREAM
		}
		k := telemetry.StatsKeyForData("", dir, livekit.ParticipantID(key.ParticipantID), livekit.TrackID(key.TrackID))
		do = func() { c.TrackStats(livekit.RoomID(roomID), livekit.RoomName(roomName), k, stat) }
	default:
		return fmt.Errorf("sfu-bridge: %s is not a call the simulator makes", method)
	}
	if a.err != nil {
		return a.err
	}
	do()
	return nil
}
