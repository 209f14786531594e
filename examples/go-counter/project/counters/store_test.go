package counters

import (
	"errors"
	"testing"
)

func TestIncrementAddsItsStep(t *testing.T) {
	s := NewStore()
	s.Increment("visits", 1)
	got, err := s.Increment("visits", 5)
	if err != nil || got.Value != 6 {
		t.Fatalf("got %+v, %v; want visits at 6", got, err)
	}
}

func TestIncrementRefusesStepsAboveTheMaximum(t *testing.T) {
	if _, err := NewStore().Increment("visits", MaxStep+1); !errors.Is(err, ErrBadStep) {
		t.Fatalf("got %v, want ErrBadStep", err)
	}
}

func TestIncrementRefusesAmountsBelowOne(t *testing.T) {
	for _, by := range []int{0, -1, -50} {
		s := NewStore()
		if _, err := s.Increment("visits", by); !errors.Is(err, ErrBadStep) {
			t.Errorf("by %d: got %v, want ErrBadStep", by, err)
		}
		if _, err := s.Get("visits"); !errors.Is(err, ErrNotFound) {
			t.Errorf("by %d: a refused increment created the counter", by)
		}
	}
}

func TestNamesIgnoreCase(t *testing.T) {
	s := NewStore()
	s.Increment("Visits", 2)
	s.Increment("visits", 3)
	got, err := s.Get("VISITS")
	if err != nil || got.Value != 5 || got.Name != "visits" {
		t.Fatalf("got %+v, %v; want visits at 5", got, err)
	}
	if list := s.List(); len(list) != 1 {
		t.Fatalf("got %d counters, want 1: %+v", len(list), list)
	}
}

func TestListIsByName(t *testing.T) {
	s := NewStore()
	for _, name := range []string{"b", "c", "a"} {
		s.Increment(name, 1)
	}
	list := s.List()
	if len(list) != 3 || list[0].Name != "a" || list[2].Name != "c" {
		t.Fatalf("got %+v, want a, b, c", list)
	}
}
