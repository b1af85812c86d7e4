package platform

import "fmt"

// kindError is an error with a message for people and a sentinel kind for
// code (errors.Is), without the kind's own text appended to the message.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Errorf formats a message for people and marks it as of kind, so that
// errors.Is(err, kind) holds.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: kind}
}
