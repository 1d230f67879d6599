package telemetryclient

import (
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// protojson with its defaults writes what @livekit/protocol's toJson writes: lowerCamelCase
// names, enums by name, 64-bit integers as strings, zero values left out. The fleet parses
// messages strictly, so nothing else may be added.
var messageJSON = protojson.MarshalOptions{}

// eventWriter appends one event of a batch, a JSON object, to a buffer: fields in the
// order written, the names of lib/telemetry/methods.ts.
type eventWriter struct {
	buf []byte
	err error // the first field that could not be written; the call is refused alone
}

func (w *eventWriter) begin(method, id string) {
	w.buf = append(w.buf, `{"method":"`...)
	w.buf = append(w.buf, method...)
	w.buf = append(w.buf, `","id":`...)
	w.buf = appendString(w.buf, id)
}

func (w *eventWriter) end() []byte {
	return append(w.buf, '}')
}

func (w *eventWriter) name(field string) {
	w.buf = append(w.buf, ',', '"')
	w.buf = append(w.buf, field...)
	w.buf = append(w.buf, '"', ':')
}

func (w *eventWriter) str(field, v string) {
	w.name(field)
	w.buf = appendString(w.buf, v)
}

// optStr leaves an empty string out (an optional field).
func (w *eventWriter) optStr(field, v string) {
	if v != "" {
		w.str(field, v)
	}
}

func (w *eventWriter) boolean(field string, v bool) {
	w.name(field)
	w.buf = strconv.AppendBool(w.buf, v)
}

func (w *eventWriter) int(field string, v int64) {
	w.name(field)
	w.buf = strconv.AppendInt(w.buf, v, 10)
}

// message writes a protobuf message; a nil one is left out, which the checks before
// refuse for a required field.
func (w *eventWriter) message(field string, m proto.Message) {
	w.name(field)
	var err error
	w.buf, err = messageJSON.MarshalAppend(w.buf, m)
	if err != nil && w.err == nil {
		w.err = fieldError(field, err.Error())
	}
}

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD, as encoding/json
// does: the fleet's JSON parser would refuse the whole batch otherwise.
func appendString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch b {
			case '"', '\\':
				buf = append(buf, '\\', b)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
