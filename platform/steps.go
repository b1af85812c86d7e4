package platform

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrPusherGone is the cause of a deploy cancelled because the person
// pushing went away (a killed git push, a dropped connection): git on the
// server dies with the session, so the push is not recorded, and the
// deploy must not go on behind the branch's back.
var ErrPusherGone = errors.New("the pusher disconnected")

// ErrBuildCanceled is the cause of a deploy cancelled with builds:cancel.
var ErrBuildCanceled = errors.New("cancelled with builds:cancel")

// deployStep names the step a deploy is at ("the build", "the port
// wait", ...), for the record of a deploy cancelled during it. The
// rollout's checks run in parallel, so it is locked.
type deployStep struct {
	mu   sync.Mutex
	name string
}

type stepKey struct{}

// withStep gives ctx a step tracker, set to first.
func withStep(ctx context.Context, first string) (context.Context, *deployStep) {
	s := &deployStep{name: first}
	return context.WithValue(ctx, stepKey{}, s), s
}

// setStep says the deploy of ctx (if it is one) is now at step.
func SetStep(ctx context.Context, step string) {
	if s, ok := ctx.Value(stepKey{}).(*deployStep); ok {
		s.mu.Lock()
		s.name = step
		s.mu.Unlock()
	}
}

func (s *deployStep) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.name
}

// cancelledError says why a cancelled deploy ended: which step the
// pusher's disconnect cut, and what that means; any other cause as it
// is.
func cancelledError(cause error, step string) error {
	if errors.Is(cause, ErrPusherGone) {
		return fmt.Errorf("cancelled: %w during %s; the push was not recorded, nothing of the cancelled deploy is left, and the previous release keeps serving: push again", cause, step)
	}
	if errors.Is(cause, ErrBuildCanceled) {
		return fmt.Errorf("%w during %s; nothing of the cancelled deploy is left, and the previous release keeps serving", cause, step)
	}
	return fmt.Errorf("cancelled during %s: %w", step, cause)
}
