// Package busy records what is running on which thing (an app, a
// service), so that a second change of the same thing is refused at once,
// naming the first, instead of interleaving with it.
package busy

import "sync"

// Set holds the things that are busy and what each is busy with. The
// zero Set is ready to use.
type Set struct {
	mu      sync.Mutex
	holders map[string]string
}

// Take marks key busy with what and returns the function that frees it.
// When key is busy already, release is nil and holder says with what.
func (s *Set) Take(key, what string) (release func(), holder string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.holders[key]; ok {
		return nil, h
	}
	if s.holders == nil {
		s.holders = map[string]string{}
	}
	s.holders[key] = what
	return func() {
		s.mu.Lock()
		delete(s.holders, key)
		s.mu.Unlock()
	}, ""
}
