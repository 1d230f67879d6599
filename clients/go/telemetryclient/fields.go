package telemetryclient

import (
	"fmt"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"
)

// The typed fields of the methods, each checked as the fleet checks it (ids, sizes,
// required messages) before it is written.

func (w *eventWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *eventWriter) id(field, v string) {
	if e := checkID(v); e != "" {
		w.fail(fieldError(field, e))
	}
	w.str(field, v)
}

func (w *eventWriter) text(field, v string) {
	if len(v) > nameBytes {
		w.fail(fieldError(field, fmt.Sprintf("must be at most %d bytes", nameBytes)))
	}
	w.str(field, v)
}

func (w *eventWriter) names(field string, pairs ...string) {
	for i := 0; i < len(pairs); i += 2 {
		if len(pairs[i+1]) > nameBytes {
			w.fail(fieldError(field+"."+pairs[i], fmt.Sprintf("must be at most %d bytes", nameBytes)))
		}
	}
}

// required writes a message the method cannot go without.
func (w *eventWriter) required(field, method string, m proto.Message) bool {
	if m == nil || !m.ProtoReflect().IsValid() {
		w.fail(missingField(field, method))
		return false
	}
	w.message(field, m)
	return true
}

// optional writes a message if there is one.
func (w *eventWriter) optional(field string, m proto.Message) {
	if m != nil && m.ProtoReflect().IsValid() {
		w.message(field, m)
	}
}

// room writes the call's room; worker says the participant methods key a worker by its
// sid, which must then be an id.
func (w *eventWriter) room(method string, room *livekit.Room, worker bool) {
	if !w.required("room", method, room) {
		return
	}
	if worker {
		if e := checkID(room.Sid); e != "" {
			w.fail(fieldError("room.sid", e))
		}
	}
	if len(room.Metadata) > metadataBytes {
		w.fail(fieldError("room.metadata", fmt.Sprintf("must be at most %d bytes", metadataBytes)))
	}
	w.names("room", "sid", room.Sid, "name", room.Name)
}

func (w *eventWriter) participant(field, method string, p *livekit.ParticipantInfo, worker bool) {
	if !w.required(field, method, p) {
		return
	}
	if worker {
		if e := checkID(p.Sid); e != "" {
			w.fail(fieldError(field+".sid", e))
		}
	}
	if len(p.Metadata) > metadataBytes {
		w.fail(fieldError(field+".metadata", fmt.Sprintf("must be at most %d bytes", metadataBytes)))
	}
	w.names(field, "sid", p.Sid, "identity", p.Identity, "name", p.Name)
}

func (w *eventWriter) track(method string, t *livekit.TrackInfo) {
	if w.required("track", method, t) {
		w.names("track", "sid", t.Sid, "name", t.Name)
	}
}

// trackCall writes the fields every track method shares.
func (w *eventWriter) trackCall(method string, room *livekit.Room, participantID livekit.ParticipantID) {
	w.room(method, room, false)
	w.id("participantId", string(participantID))
}
