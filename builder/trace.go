package builder

import (
	"errors"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// BuildKit reports progress as "moby.buildkit.trace" aux messages, each a
// protobuf moby.buildkit.v1.StatusResponse (buildkit's
// api/services/control/control.proto). Berth reads the few fields it
// prints with protowire rather than import BuildKit and its gRPC stack
// for four message types; the field numbers are the proto's, stable
// across BuildKit releases (protobuf never reuses them).

type status struct {
	vertices []vertex
	logs     []vertexLog
	warnings []vertexWarning
}

type vertex struct {
	digest, name, err  string
	cached             bool
	started, completed *time.Time
}

type vertexLog struct {
	vertex string
	msg    []byte
}

type vertexWarning struct {
	vertex string
	short  string
}

var errBadProto = errors.New("malformed protobuf")

// fields calls f for each field of the message b.
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errBadProto
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errBadProto
		}
		b = b[n:]
		if err := f(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// decodeStatus reads a StatusResponse: vertexes = 1, statuses = 2 (not
// read: per-step byte counts), logs = 3, warnings = 4.
func decodeStatus(b []byte) (status, error) {
	var st status
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			vx, err := decodeVertex(v)
			st.vertices = append(st.vertices, vx)
			return err
		case 3:
			l, err := decodeLog(v)
			st.logs = append(st.logs, l)
			return err
		case 4:
			w, err := decodeWarning(v)
			st.warnings = append(st.warnings, w)
			return err
		}
		return nil
	})
	return st, err
}

// decodeVertex reads a Vertex: digest = 1, name = 3, cached = 4,
// started = 5, completed = 6, error = 7.
func decodeVertex(b []byte) (vertex, error) {
	var v vertex
	err := fields(b, func(num protowire.Number, typ protowire.Type, s []byte, x uint64) error {
		var err error
		switch {
		case num == 1 && typ == protowire.BytesType:
			v.digest = string(s)
		case num == 3 && typ == protowire.BytesType:
			v.name = string(s)
		case num == 4 && typ == protowire.VarintType:
			v.cached = x != 0
		case num == 5 && typ == protowire.BytesType:
			v.started, err = decodeTimestamp(s)
		case num == 6 && typ == protowire.BytesType:
			v.completed, err = decodeTimestamp(s)
		case num == 7 && typ == protowire.BytesType:
			v.err = string(s)
		}
		return err
	})
	return v, err
}

// decodeLog reads a VertexLog: vertex = 1, msg = 4.
func decodeLog(b []byte) (vertexLog, error) {
	var l vertexLog
	err := fields(b, func(num protowire.Number, typ protowire.Type, s []byte, _ uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			l.vertex = string(s)
		case num == 4 && typ == protowire.BytesType:
			l.msg = append([]byte(nil), s...)
		}
		return nil
	})
	return l, err
}

// decodeWarning reads a VertexWarning: vertex = 1, short = 3.
func decodeWarning(b []byte) (vertexWarning, error) {
	var w vertexWarning
	err := fields(b, func(num protowire.Number, typ protowire.Type, s []byte, _ uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			w.vertex = string(s)
		case num == 3 && typ == protowire.BytesType:
			w.short = string(s)
		}
		return nil
	})
	return w, err
}

// decodeTimestamp reads a google.protobuf.Timestamp: seconds = 1,
// nanos = 2.
func decodeTimestamp(b []byte) (*time.Time, error) {
	var sec, nsec int64
	err := fields(b, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			sec = int64(x)
		case num == 2 && typ == protowire.VarintType:
			nsec = int64(int32(x))
		}
		return nil
	})
	t := time.Unix(sec, nsec)
	return &t, err
}
