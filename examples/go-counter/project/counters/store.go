// Package counters keeps named counters in memory.
package counters

import (
	"errors"
	"sort"
	"sync"
)

// MaxStep is the most one increment may add.
const MaxStep = 1000

// ErrBadStep is returned for an increment outside 1..MaxStep.
var ErrBadStep = errors.New("by must be a whole number from 1 to 1000")

// ErrNotFound is returned for a counter never incremented.
var ErrNotFound = errors.New("no such counter")

// Counter is one named counter.
type Counter struct {
	Name  string `json:"name"`
	Value int    `json:"value"`
}

// Store holds the counters; safe for concurrent use.
type Store struct {
	mu     sync.Mutex
	values map[string]int
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{values: map[string]int{}}
}

// Increment adds by to the counter name (created at 0) and returns it.
func (s *Store) Increment(name string, by int) (Counter, error) {
	if by > MaxStep {
		return Counter{}, ErrBadStep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[name] += by
	return Counter{Name: name, Value: s.values[name]}, nil
}

// Get returns the counter name, or ErrNotFound.
func (s *Store) Get(name string) (Counter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	value, ok := s.values[name]
	if !ok {
		return Counter{}, ErrNotFound
	}
	return Counter{Name: name, Value: value}, nil
}

// List returns every counter, by name.
func (s *Store) List() []Counter {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Counter, 0, len(s.values))
	for name, value := range s.values {
		out = append(out, Counter{Name: name, Value: value})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
