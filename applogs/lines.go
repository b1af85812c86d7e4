package applogs

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// maxLineBytes is how much of one log line is kept; the rest of a longer
// line is cut, so one line cannot take unbounded memory.
const maxLineBytes = 16 << 10

// LineReader reads the lines of a container's log stream (the engine's
// StreamLogs: "TIMESTAMP text" lines), each cut at 16 KiB: logs' merge
// and oneoff's run:logs read them the same way.
type LineReader struct {
	br  *bufio.Reader
	buf []byte
}

// NewLineReader reads the lines of r.
func NewLineReader(r io.Reader) *LineReader {
	return &LineReader{br: bufio.NewReaderSize(r, 4<<10)}
}

// Next returns the next line without its newline. At the stream's end
// (io.EOF) or another error it returns what it read of a last line with
// the error, as bufio.Reader.ReadString does. The slice is valid until
// the following call.
func (lr *LineReader) Next() ([]byte, error) {
	lr.buf = lr.buf[:0]
	for {
		chunk, err := lr.br.ReadSlice('\n')
		if room := maxLineBytes - len(lr.buf); room > 0 {
			lr.buf = append(lr.buf, chunk[:min(len(chunk), room)]...)
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(lr.buf, []byte("\n")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return lr.buf, err
		}
	}
}
